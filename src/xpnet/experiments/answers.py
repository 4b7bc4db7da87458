"""The answer sheets of a study: the learners' six questions, each answered from the runs.

Questions 1 (training and test samples), 2 (epochs) and 6 (learning rates) are answered from
the study's tables (:func:`~xpnet.experiments.analysis.analyze`); 3 (Adam), 4 (softmax) and
5 (a dense layer, L1 and L2) from real runs recorded in explain mode
(:mod:`~xpnet.experiments.inside`), with the regularizers study's paired L1/L2 arms added to
5. Each verdict is decided here, by the numbers: where the data change, the verdicts change
with them. :func:`write_answers` writes ``answers.md``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, cast

from ..files import atomic_write_bytes
from .document import Document
from .frame import Base, Table
from .inside import QUESTIONS as INSIDE_QUESTIONS
from .inside import inside_sheets
from .plan import GRIDS, refined_around
from .sections import (
    NEGLIGIBLE_BIAS,
    POINTWISE,
    bias_room,
    bias_ruled_out,
    biased_sizes,
    both_hold,
    curve_name,
    epochs_span,
    judged_on,
    origin_note,
    powered_difference,
    rise_p,
    set_aside_note,
    two_measurements,
)
from .sheets import Claim, Sheet, Verdict, render
from .stats import Paired, binomial_interval, fmt, fmt_p, samples_for_margin
from .why import FALL, LEARNED

__all__ = ["EXPLORER", "QUESTIONS", "answer_sheets", "dropout_claim", "protection_claim",
           "provisional", "study_sheets", "switched_off", "write_answers"]

#: A rise of the data loss (nats) small enough to call no rise, where an interval lies inside it.
NEGLIGIBLE_RISE = 0.01

#: The learners' questions, in the order the sheets answer them (3 to 5: the inside sheets').
QUESTIONS = {
    1: "1. What do the numbers of training and test samples do to accuracy and loss?",
    2: "2. What does the number of epochs do?",
    **dict(zip((3, 4, 5), INSIDE_QUESTIONS, strict=True)),
    6: "6. What do different learning rates do?",
}


def _claim(quote: str, verdict: str, because: str) -> Claim:
    """A claim whose sentence starts with its verdict, as the inside sheets' do (the verdict
    is checked by :class:`~xpnet.experiments.sheets.Claim`)."""
    return Claim(quote, cast(Verdict, verdict), f"{verdict}: {because}")


def _sig(r: Paired, q: float | None = None) -> bool:
    """A paired difference that survives (Holm-adjusted ``q`` when given) the 5% level."""
    p = r.p if q is None else q
    return r.diff.n >= 2 and math.isfinite(p) and p < 0.05


def _pair(r: Paired, q: float | None = None) -> str:
    """``"+0.021 [0.010, 0.032] per seed, p = 0.004"`` (Holm-adjusted when ``q``)."""
    word = "Holm p" if q is not None else "p"
    sign = "+" if r.diff.mean > 0 else ""
    if r.diff.n < 2:  # one seed (or one pair left): a difference, but nothing to judge it by
        return f"{sign}{r.diff.mean:.4f} (one pair of runs: no interval or test)"
    return f"{sign}{fmt(r.diff, 4)} per seed, {word} {fmt_p(r.p if q is None else q)}"


# -- 1. samples ------------------------------------------------------------------------------
def _steps(scan: Table, metric: str) -> tuple[list[Table], list[Table]]:
    """The neighbouring steps of a scan where ``metric`` rose / fell after Holm's
    correction."""
    rows = scan["rows"] if scan else []
    sig = [r for r in rows if _sig(r[metric], r[f"{metric}_holm"])]
    return ([r for r in sig if r[metric].diff.mean > 0],
            [r for r in sig if r[metric].diff.mean < 0])


def _step(r: Table, metric: str) -> str:
    return f"{r['a']} to {r['b']}/class ({_pair(r[metric], r[f'{metric}_holm'])})"


#: The claims of question 1's halves, as the sheet quotes them.
TRAINING_CLAIMS = ("More training data raises accuracy", "More training data slightly lowers loss")
TEST_CLAIMS = ("Fewer test samples raise accuracy",
               "The book's 100 test samples per class tell two models apart")


class _Part(NamedTuple):
    """One half of question 1's sheet (the training-set size, the test-set size): its
    sentence of the answer, its claims and its evidence."""

    answer: str
    claims: list[Claim]
    evidence: list[str]


def _samples_sheet(t: Table, base: Base) -> Sheet | None:
    """Question 1 from the samples study's tables (None without that study): the
    training-set size's half and the test-set size's, each answered where its runs compare
    two or more sizes, else saying what was run, why nothing can be judged and what to run
    instead."""
    if "samples" not in t:
        return None
    train, test = _training_sizes(t, base), _test_sizes(t, base)
    against = t.get("samples_against") or {}
    compared = len(against.get("settings", ())) >= 2 and bool(against["rows"])
    tested = len((t.get("test_size") or {"rows": []})["rows"]) >= 2
    source = (f"Paired by seed on {against['test_samples']}/class fresh test sets; steps "
              "between neighbouring sizes Holm-corrected." if compared else
              "No two training-set sizes to compare; each test-set size against the largest "
              "on the same models." if tested else
              "No two training-set sizes and no two test-set sizes to compare.")
    return Sheet(QUESTIONS[1], f"{train.answer} {test.answer}", train.claims + test.claims,
                 train.evidence + test.evidence,
                 [("samples.png", "Accuracy, loss and gap against training samples (the fresh "
                   "test sets' values are the ones quoted here)."),
                  ("test_size.png", "Bias and spread against test-set size, on the book's spiral "
                   "and on independent points (the bias with unadjusted 95% intervals: a "
                   "shift counts where its Holm p < 0.05).")],
                 source)


def _training_sizes(t: Table, base: Base) -> _Part:
    """The training-set size's half of question 1: every size against the largest and
    against its neighbour, paired by seed (:func:`_no_training_sizes` with fewer than two
    sizes to compare)."""
    against, scan = t.get("samples_against"), t.get("samples_scan")
    if not against or len(against["settings"]) < 2 or not against["rows"] or not scan:
        return _no_training_sizes(t)
    ref = against["reference"]
    by_setting = {s["setting"]: s for s in against["settings"]}
    lo_n = min(by_setting)
    ends = next(r for r in against["rows"] if r["a"] == lo_n)
    top = max(by_setting, key=lambda n: by_setting[n]["acc"].mean)

    def acc(n: int) -> str:
        return f"{fmt(by_setting[n]['acc'])} at {n}/class"

    ups, downs = _steps(scan, "acc")
    claims = []
    path = (f"test accuracy {acc(lo_n)}, "
            + (f"highest {acc(top)}, " if top not in (lo_n, ref) else "")
            + f"{acc(ref)}; {lo_n} against {ref}/class {_pair(ends['acc'])} (one planned "
            "comparison)")
    if ups and not downs and _sig(ends["acc"]) and len(ups) == len(scan["rows"]):
        verdict, because = "true", path + "; every step up rose beyond Holm's correction."
    elif ups:
        verdict = "partly"
        because = (path + "; it rose from " + ", ".join(_step(r, "acc") for r in ups)
                   + (", fell from " + ", ".join(_step(r, "acc") for r in downs)
                      if downs else "")
                   + "; no other step changed it detectably after Holm's correction.")
    elif downs:
        verdict, because = "false", path + "; it fell from " + ", ".join(
            _step(r, "acc") for r in downs) + "."
    elif _sig(ends["acc"]):  # the ends differ though no single step does: the planned test
        verdict = "partly" if ends["acc"].diff.mean > 0 else "false"
        because = (path + "; the ends differ, though no single step changed it detectably "
                   "after Holm's correction.")
    else:
        verdict = "open"
        because = (path + f"; no step changed it detectably (with {ends['acc'].diff.n} seeds "
                   f"the design detects {ends['acc'].mde:.3f} or more between the ends).")
    fitted = {r["train_samples"]: r["train_acc"] for r in t.get("samples", {"rows": []})["rows"]}
    if lo_n in fitted and ref in fitted and fitted[ref].ci_high < fitted[lo_n].ci_low:
        # every size trains for the same epochs: the larger sets end less fitted
        because += (f" A confound: every size trained for the same {base.epochs} "
                    f"full-batch epochs with dropout, and training accuracy (dropout off) fell "
                    f"from {fmt(fitted[lo_n])} at {lo_n}/class to {fmt(fitted[ref])} at "
                    f"{ref}/class: the model underfits the larger sets, so these runs compare "
                    "data sizes at one training budget, not at convergence.")
    claims.append(_claim("More training data raises accuracy", verdict, because))
    lups, ldowns = _steps(scan, "loss")
    lo_loss, hi_loss = by_setting[lo_n]["loss"].mean, by_setting[ref]["loss"].mean
    rel = (hi_loss - lo_loss) / lo_loss if lo_loss else math.nan
    loss_path = (f"test loss {fmt(by_setting[lo_n]['loss'])} at {lo_n}/class, "
                 f"{fmt(by_setting[ref]['loss'])} at {ref}/class ({rel:+.0%}; "
                 f"{_pair(ends['loss'])})")
    if ldowns and not lups:
        slight = abs(rel) < 0.2
        claims.append(_claim(
            "More training data slightly lowers loss", "true" if slight else "partly",
            loss_path + ("." if slight else ": it lowers loss, and not slightly.")))
    elif ldowns:
        claims.append(_claim(
            "More training data slightly lowers loss", "partly",
            loss_path + ": it fell from " + ", ".join(_step(r, "loss") for r in ldowns)
            + ", then rose from " + ", ".join(_step(r, "loss") for r in lups) + "."))
    elif lups:
        claims.append(_claim("More training data slightly lowers loss", "false",
                             loss_path + ": it rose from " + ", ".join(
                                 _step(r, "loss") for r in lups) + "."))
    elif _sig(ends["loss"]):  # the planned comparison of the ends decides
        lower = ends["loss"].diff.mean < 0
        slight = abs(rel) < 0.2
        claims.append(_claim(
            "More training data slightly lowers loss",
            ("true" if slight else "partly") if lower else "false",
            loss_path + ": the ends differ, though no single step changed it detectably after "
            "Holm's correction" + ("" if not lower else "." if slight else
                                   "; it lowers loss, and not slightly.")
            + ("" if lower else "; it is higher with more data.")))
    else:
        claims.append(_claim("More training data slightly lowers loss", "open",
                             loss_path + ": no step changed it detectably."))
    evidence = []
    finals = {r["train_samples"]: r for r in t.get("samples", {"rows": []})["rows"]}
    if lo_n in finals and ref in finals:
        a, b = finals[lo_n], finals[ref]
        evidence.append(
            f"Why the gap closes: training accuracy (dropout off) went from "
            f"{fmt(a['train_acc'])} at {lo_n}/class to {fmt(b['train_acc'])} at {ref}/class, "
            f"training loss from {fmt(a['train_loss'])} to {fmt(b['train_loss'])}, and the gap "
            f"(training minus test accuracy, per run) from {fmt(by_setting[lo_n]['gap'].diff)} "
            f"to {fmt(by_setting[ref]['gap'].diff)}: a small set is fitted closely and "
            f"generalizes less, while in the same number of epochs a large set is fitted less "
            f"closely (its own training loss is higher; whether more epochs would fit it "
            f"better was not measured at {ref}/class).")
    if ups:
        head = ("More training data raised test accuracy from " + ", ".join(
            _step(r, "acc") for r in ups) + (", and lowered it from " + ", ".join(
                _step(r, "acc") for r in downs) if downs else "")
            + f"; it was highest at {acc(top)}"
            + (f" (the largest of {len(by_setting)} means, so a little optimistic), and "
               f"{fmt(by_setting[ref]['acc'])} at {ref}/class" if top != ref else ""))
    else:
        low = min(by_setting, key=lambda n: by_setting[n]["acc"].mean)
        head = (f"More training data changed test accuracy by no step detectably; its means "
                f"ranged from {acc(low)} to {acc(top)}")
    return _Part(head + ".", claims, evidence)


def _no_training_sizes(t: Table) -> _Part:
    """Question 1's training-set half where fewer than two sizes have finished runs measured
    on fresh test sets: what was run, why nothing can be judged, and how to fix it."""
    run = sorted(r["train_samples"] for r in t.get("samples", {"rows": []})["rows"])
    against = t.get("samples_against") or {"settings": []}
    measured = {s["setting"]: s for s in against["settings"]}
    listed = ", ".join(f"{n}/class" for n in run)
    what = ("no training-set size has a finished run" if not run else
            f"only one training-set size was run, {listed}" if len(run) == 1 else
            f"of the {len(run)} training-set sizes run ({listed}), "
            f"{len(measured) or 'none'} {'has' if len(measured) < 2 else 'have'} finished runs "
            "measured on fresh test sets")
    fix = ("give two or more sizes, e.g. xpnet study samples --train-samples 30,100,1000 "
           "(--resume keeps the runs already stored)")
    at = "".join(f" (test accuracy {fmt(s['acc'])} at {n}/class)" for n, s in measured.items())
    because = (f"{what}: a size's effect is a difference between sizes, so nothing can "
               f"be judged; {fix}.")
    return _Part(f"The training-set size was not judged: {what}{at}, and what the size does "
                 f"shows only against another size; to compare, {fix}.",
                 [_claim(quote, "open", because) for quote in TRAINING_CLAIMS], [])


def _test_sizes(t: Table, base: Base) -> _Part:
    """The test-set size's half of question 1: the base setting's models measured on test
    sets of each size against the largest (:func:`_no_test_sizes` with fewer than two)."""
    sizes, iid = t.get("test_size") or {"rows": []}, t.get("test_size_iid")
    evidence = _margin(sizes)
    if len(sizes["rows"]) < 2:
        why = _no_test_sizes(t, base)
        return _Part(f"The test-set size was not judged: {why}.",
                     [_claim(TEST_CLAIMS[0], "open", f"{why}."),
                      _apart_claim(sizes, iid, why)], evidence)
    small, big = sizes["rows"][0], sizes["rows"][-1]
    biased = biased_sizes(sizes)  # Holm over the sizes, on both kinds of test set
    m = len(sizes["rows"]) - 1
    smaller = f"the {m} smaller size{'s' if m != 1 else ''}"
    compared = (f"unadjusted 95% intervals, p Holm-corrected over {smaller}: a shift counts "
                "only where Holm p < 0.05")

    def bias_at(r: Table, metric: str = "acc") -> str:
        return (f"{r['test_samples']}/class: {fmt(r[f'{metric}_bias'], 4)}, Holm p "
                f"{fmt_p(r[f'{metric}_bias_holm'])}")

    bias_line = (f"the same models measured on smaller test sets against "
                 f"{big['test_samples']}/class ({compared}): " + "; ".join(
                     bias_at(r) for r in sizes["rows"][:-1]))
    room = bias_room(sizes["rows"])
    none = bias_ruled_out(room)
    # the claim is one-sided: a raise is ruled out where no interval reaches above the margin
    reach_up = room.up
    loss_up = [r for r in biased_sizes(sizes, "loss") if r["loss_bias"].mean > 0]
    raised = [r for r in biased if r["acc_bias"].mean > 0]
    lowered = [r for r in biased if r["acc_bias"].mean < 0]
    if raised:
        verdict = "partly"
        why_so = ("; higher beyond the noise at " + ", ".join(
            f"{r['test_samples']}/class" for r in raised)
            + (", lower at " + ", ".join(f"{r['test_samples']}/class" for r in lowered)
               if lowered else ""))
    elif math.isfinite(reach_up) and reach_up <= NEGLIGIBLE_BIAS:
        verdict = "false"
        why_so = (f"; no interval reaches a raise above {NEGLIGIBLE_BIAS:g} (the highest upper "
                  f"end is {reach_up:+.4f}, of unadjusted 95% intervals: simultaneous ones "
                  "over the sizes would reach a little further)"
                  + (": lower beyond the noise at " + ", ".join(
                      f"{r['test_samples']}/class" for r in lowered) if lowered else ""))
    else:
        verdict = "open"
        why_so = (f", and the intervals leave room for a raise of up to {reach_up:.3f} "
                  "(unadjusted 95% intervals)")
    claims = [_claim(
        TEST_CLAIMS[0], verdict,
        bias_line + why_so + ". A small test set is noisier: sd "
        f"{small['acc_sd']:.4f} across test sets at {small['test_samples']}/class, "
        f"{big['acc_sd']:.4f} at {big['test_samples']}/class"
        + (". " + origin_note(sizes, small) if lowered or loss_up else "."))]
    claims.append(_apart_claim(sizes, iid))
    evidence.append(f"The spread of the measured accuracy fell from sd {small['acc_sd']:.4f} "
                    f"at {small['test_samples']}/class to {big['acc_sd']:.4f} at "
                    f"{big['test_samples']}/class; fitted slope of log sd on log n "
                    f"{sizes['slope']:.2f} (the binomial 1/sqrt(n) law: -0.50).")
    noise = (f"the noise of the measured accuracy (sd {small['acc_sd']:.4f} at "
             f"{small['test_samples']}/class against {big['acc_sd']:.4f} at "
             f"{big['test_samples']}/class)")
    kinds = [("the book's spiral", sizes)] + ([("independent points", iid)]
                                              if iid and len(iid["rows"]) >= 2 else [])
    moved = "; ".join(f"on {name} at {bias_at(k['rows'][0])}" for name, k in kinds)
    shifted = [name for name, k in kinds if biased_sizes(k)]
    test_size = (f"changes {noise}; "
                 + ("what it measures on average moved beyond the noise on "
                    f"{' and '.join(shifted)} " if shifted else
                    f"no shift of the measured accuracy survives Holm's correction over "
                    f"{smaller} ")
                 + f"({moved})" + ("" if shifted or none else
                                   f", though these runs could miss a bias of up to "
                                   f"{room}"))
    if loss_up:
        test_size += (f". The book's spiral does read a higher loss on small sets (at "
                      f"{bias_at(loss_up[0], 'loss')}), which its point (0, 0) can carry: every "
                      "set holds it once per class with a different label each time")
    return _Part(f"The test-set size {test_size}.", claims, evidence)


def _no_test_sizes(t: Table, base: Base) -> str:
    """Why question 1's test-set half cannot be judged: what was measured and how to
    measure two or more sizes."""
    sizes = [r["test_samples"] for r in (t.get("test_size") or {"rows": []})["rows"]]
    run = {r["train_samples"] for r in t.get("samples", {"rows": []})["rows"]}
    if len(sizes) == 1:
        return (f"only one test-set size was measured, {sizes[0]}/class, and a bias or a "
                "narrower spread of the measured accuracy shows only against another size; "
                "start a study with two or more, e.g. --test-samples 10,100,1000 (in a new "
                "--out folder: --resume cannot change the test sets of stored runs)")
    if base.train_samples not in run:
        return (f"the test-set sizes are measured on the models of the base setting, "
                f"{base.train_samples}/class, and this run trained none; add it, e.g. "
                f"--train-samples {','.join(map(str, sorted(run | {base.train_samples})))} "
                "(--resume keeps the runs already stored)")
    return (f"no finished run of the base setting ({base.train_samples}/class) was measured "
            "on fresh test sets")


def _margin(sizes: Table) -> list[str]:
    """How many test samples a ±1-point estimate of the measured accuracy needs (nothing
    without a finite accuracy)."""
    p = sizes.get("p", math.nan)
    if not (isinstance(p, float) and 0 < p < 1):
        return []
    n = samples_for_margin(p)
    return [f"A ±1-point 95% estimate of an accuracy near {p:.3f} needs {n} independent test "
            f"samples ({math.ceil(n / sizes['classes'])} per class); the worst case, p = 0.5, "
            f"{samples_for_margin(0.5)}."]


def _apart_claim(sizes: Table, iid: Table | None, why: str = "") -> Claim:
    """"The book's 100 test samples per class tell two models apart", from the spread of
    one measurement on 100/class test sets (:func:`two_measurements`); open, saying why,
    where no test sets of 100/class were measured (``why``: why no size was)."""
    apart = two_measurements(sizes, iid)
    if apart is None:
        measured = ", ".join(f"{r['test_samples']}/class" for r in sizes["rows"])
        return _claim(TEST_CLAIMS[1], "open", (
            f"no test sets of 100/class were measured (only {measured}), so the spread of one "
            "measurement there is not known; include 100 in --test-samples (in a new --out "
            "folder)" if measured else why) + ".")
    spread, sd_book, sd_iid = apart
    return _claim(
        TEST_CLAIMS[1], "partly" if spread < 0.2 else "false",
        f"only differences larger than about {spread:.3f}: one measurement on 100/class "
        f"has sd {sd_book:.4f} from the test set alone on the book's spiral"
        + (f" and {sd_iid:.4f} on independent points, the spread new data would have"
           if sd_iid is not None else "")
        + f", so two measurements of the same model on two independent test sets differ "
        f"by up to {spread:.3f} (95%: 1.96 x sqrt(2) x "
        + ("the larger sd" if sd_iid is not None else "that sd")
        + "); smaller real differences drown in it, and a true difference of "
        f"{spread:.3f} itself is detected only about half the time (80% of the time from "
        f"about {powered_difference(spread):.3f}). That is the test set's noise alone; "
        "two models trained with different seeds differ by the seed spread on top. It is "
        "the figure for measurements on two independent test sets; two models compared on "
        "the same test set are a paired comparison, whose noise comes only from the "
        "samples they disagree on, and is smaller.")


# -- 2. epochs -------------------------------------------------------------------------------
def _epochs_sheet(t: Table) -> Sheet | None:
    epochs, crossed = t.get("epochs"), t.get("crossed", {"rows": []})
    if not epochs or not epochs["rows"]:
        return None
    sizes = [r for r in crossed["rows"] if r["rows"]] or [epochs]
    last = epochs["rows"][-1]["epoch"]
    claims = []
    falls = [r for r in sizes if r["acc_change"] is not None and r["acc_change"].n >= 2
             and r["acc_change"].ci_high < 0]
    where = curve_name(epochs)

    # a rise counts where it survives Holm's correction over the sizes
    rises = [r for r in sizes if r["loss_rise"] is not None and r["loss_rise"].n >= 2
             and r["loss_rise"].mean > 0 and rise_p(r) < 0.05]
    holm_word = "Holm p" if "loss_rise_holm" in sizes[0] else "p"

    def at(r: Table) -> str:
        return f"{r['train_samples']}/class"

    def ends(r: Table) -> bool:
        return r["best_loss_epoch"] == r["rows"][-1]["epoch"]

    def rise(r: Table) -> str:
        return f"{fmt(r['loss_rise'])}, {holm_word} {fmt_p(rise_p(r))}"

    detail = "; ".join(
        f"at {at(r)} validation loss "
        + (f"lowest at the last epoch, {r['best_loss_epoch']}" if ends(r) else
           f"lowest at epoch {r['best_loss_epoch']}")
        + f", {where} loss from the picked epochs to the end {rise(r)}"
        + ("" if r not in rises else
           ", above the picked epochs' beyond the noise at the last epoch only"
           if r["rise_epoch"] == r["rows"][-1]["epoch"] else
           f", above them beyond the noise at every logged epoch from {r['rise_epoch']} on"
           if r["rise_epoch"] is not None else "")
        + (", validation accuracy highest at the last epoch" if r["best_acc_epoch"] ==
           r["rows"][-1]["epoch"] else f", {where} accuracy from the picked best epochs "
           f"to the end {fmt(r['acc_change'])}") for r in sizes)
    how = (" (one run: its epochs picked on its own validation curve, which flatters a change "
           "measured from there, and no interval or test can be computed)"
           if epochs["n"] < 2 else
           " (each run's epochs picked on the other runs' mean validation curve, so its own "
           "epoch-to-epoch wobble, which its validation and test curves share, takes no part "
           f"in its pick; changes measured on the {where} curve, the rises Holm-corrected over "
           f"the {len(sizes)} sizes)"
           if epochs.get("split") == "test_curve" else
           " (picked on the other runs' validation and measured on validation: the run's "
           "own wobble is out of the pick; the rises Holm-corrected over the sizes)")
    if falls:
        verdict = "partly" if len(falls) < len(sizes) else "true"
        because = ("accuracy fell beyond the noise " + ("only " if verdict == "partly" else "")
                   + "at " + ", ".join(at(r) for r in falls) + ": " + detail + how + ".")
    elif rises:
        verdict, because = "partly", (
            "the loss rises (the model grows overconfident) but accuracy did not fall "
            "beyond the noise: " + detail + how + ".")
    else:
        # no rise and no fall detected: "false" only where the intervals rule out more than
        # a negligible one, else what went undetected may still be there
        # a size whose runs all pick their last epoch never went past its lowest loss: its
        # zero rise says nothing about what more epochs do
        unpassed = [r for r in sizes if r.get("loss_epochs")
                    and min(r["loss_epochs"]) == r["rows"][-1]["epoch"]]
        small = not unpassed and all(r["loss_rise"] is not None and r["loss_rise"].n >= 2
                                     and r["loss_rise"].ci_high <= NEGLIGIBLE_RISE
                                     and r["acc_change"].ci_low >= -NEGLIGIBLE_BIAS
                                     for r in sizes)
        verdict = "false" if small else "open"
        because = (f"no overfitting was detected within {last} epochs: " + detail + how
                   + (f"; every interval rules out a loss rise above {NEGLIGIBLE_RISE:g} and "
                      f"an accuracy fall above {NEGLIGIBLE_BIAS:g}" if small else
                      "" if len(unpassed) == len(sizes) else
                      "; the intervals leave room for a rise these runs could not detect"
                      if epochs["n"] >= 2 else "; one run cannot show a rise beyond the noise")
                   + (f"; at {', '.join(at(r) for r in unpassed)} every run's picked epoch "
                      f"was its last, {last}: those runs never went past their lowest "
                      "validation loss, so what more epochs do after it was not measured "
                      "there (longer runs, --epochs, measure it)" if unpassed else "")
                   + ".")
    claims.append(_claim("Too many epochs overfit and lower accuracy", verdict, because))
    claims.append(_more_epochs_claim(epochs, where, last))
    stops = [(r, r["early_stopping"]) for r in sizes if r.get("early_stopping")]
    if stops:
        parts, better, worse = [], 0, 0
        for r, s in stops:
            acc, loss = s["acc_gain"], s["loss_gain"]
            up = (acc.n >= 2 and acc.ci_low > 0) or (loss.n >= 2 and loss.ci_high < 0)
            down = (acc.n >= 2 and acc.ci_high < 0) or (loss.n >= 2 and loss.ci_low > 0)
            better, worse = better + up, worse + down
            end = r["rows"][-1]["epoch"]
            parts.append(f"at {at(r)} every run stopped at its last epoch, {end}, so stopping "
                         "changed nothing" if min(s["epochs"]) == end else
                         f"at {at(r)} (stopped at epochs {min(s['epochs'])}-"
                         f"{max(s['epochs'])}) test accuracy {fmt(acc, 4)}, test loss "
                         f"{fmt(loss, 4)}")
        verdict = ("true" if better == len(stops) and not worse else
                   "false" if worse == len(stops) and not better else
                   "partly" if better or worse else "open")
        lost = [at(r) for r, s in stops if s["acc_gain"].n >= 2 and s["acc_gain"].ci_high < 0]
        won = [at(r) for r, s in stops if s["loss_gain"].n >= 2 and s["loss_gain"].ci_high < 0]
        summary = ((" By test loss it helped at " + ", ".join(won) if won else "")
                   + ("; by test accuracy it cost at " + ", ".join(lost) if lost else "")
                   + ("." if won or lost else ""))
        claims.append(_claim(
            "Stopping at the lowest validation loss gives a better model", verdict,
            "on a fresh test set, stopped minus the same run's last epoch: "
            + "; ".join(parts) + ("." if all(min(s["epochs"]) == r["rows"][-1]["epoch"]
                                             for r, s in stops) else
                                  " (a CI that excludes zero is a change beyond the noise)."
                                  if any(s["acc_gain"].n >= 2 for _, s in stops) else
                                  " (one run per size: no interval, nothing judged).")
            + summary + (f' Read beside "Too many epochs overfit": {link}' if (
                link := both_hold(sizes)) else "")))
    claims += _regularizers_claims(t)
    answer = (f"Over {last} epochs at {epochs['train_samples']}/class, validation accuracy "
              f"was highest at epoch {epochs['best_acc_epoch']} and validation loss lowest at "
              f"epoch {epochs['best_loss_epoch']} (mean curves); " + (
                  f"from the epoch the other runs' validation picks to the end, {where} loss "
                  "rose beyond the noise (Holm over the sizes) at "
                  + ", ".join(f"{at(r)} ({rise(r)}"
                              + ("; above the picked epochs' at the last epoch only"
                                 if r["rise_epoch"] == r["rows"][-1]["epoch"] else
                                 f"; above them from epoch {r['rise_epoch']} on"
                                 if r["rise_epoch"] is not None else "") + ")"
                              for r in rises)
                  + (", not detectably at " + ", ".join(at(r) for r in sizes if r not in rises)
                     if len(rises) < len(sizes) else "")
                  if rises else f"no training size showed a rise of {where} loss beyond "
                  "the noise after Holm's correction") + ".")
    why = t.get("why", {"rows": []})
    evidence = [
        f"At {int(w['value'])}/class, {w['overconfident']} of {w['measured']} long runs became "
        f"overconfident on {judged_on(w)} (loss {why['loss_rise']:.0%} above its lowest "
        f"while accuracy held within {why['acc_hold'] * 100:g} point), from epoch "
        f"{', '.join(map(str, w['overconfident_at']))}; final validation accuracy "
        f"{fmt(w['val_acc'])}." for w in why["rows"]
        if w["study"] == "epochs" and w["overconfident"]]
    return Sheet(QUESTIONS[2], answer, claims, evidence,
                 [("epochs.png", "Accuracy and loss over epochs, one row per training size. "
                   + POINTWISE)],
                 f"{epochs['n']} long run{'s' if epochs['n'] != 1 else ''} per training size, "
                 "paired within each run.")


def _regularizers_claims(t: Table) -> list[Claim]:
    """Question 2's claims on the regularizers (:func:`protection_claim`,
    :func:`dropout_claim`), from the regularizers study's arms where it ran."""
    reg, why = t.get("regularizers"), t.get("why")
    return [c for c in (protection_claim(reg, why), dropout_claim(reg, why)) if c is not None]


def _more_epochs_claim(epochs: Table, where: str, last: int) -> Claim:
    """"More epochs always help", at the base size: from the epoch the other runs'
    validation accuracy is highest at to the end, on ``where`` (the fresh test curve):
    false where accuracy fell beyond the noise, partly where it still rose (they helped in
    this run, "always" is not shown), open where the interval holds 0 (no evidence either
    way)."""
    change = epochs["acc_change"]
    head = f"at {epochs['train_samples']}/class "
    if epochs["best_acc_epoch"] == last:
        return _claim("More epochs always help", "partly",
                      head + f"validation accuracy was highest at the last epoch, {last}: "
                      "within this run length, more epochs did help.")
    whose = "the other runs'" if epochs["n"] >= 2 else "its own"
    said = (head + f"from the epochs {whose} validation accuracy picks as best, "
            f"{epochs_span(epochs['acc_epochs'])}, to epoch {last}, {where} accuracy "
            f"changed by {fmt(change, 4)} per run")
    if change.n >= 2 and change.ci_high < 0:
        return _claim("More epochs always help", "false", said + ": the later epochs cost "
                      "accuracy.")
    if change.n >= 2 and change.ci_low > 0:
        return _claim("More epochs always help", "partly", said + ": still rising at the end "
                      "of this run; whether that lasts was not measured.")
    if change.n < 2:
        return _claim("More epochs always help", "open", said + ": one run has no interval, "
                      "so no change can be judged.")
    return _claim("More epochs always help", "open", said + ": no change detected either way, "
                  f"and with {change.n} runs that is absence of evidence, not evidence that "
                  "the later epochs neither help nor harm.")


def switched_off(reg: Table | None, arm: str, why: Table | None = None) -> list[Table]:
    """The regularizers study's ``arm`` against the book's at each training size, seed by
    seed: ``{"n", "arm", "book", "acc", "holm", "gap", "lowers", "raises", "widens",
    "failed"}`` per size, where ``lowers``/``raises`` say that switching the regularizer off
    lowered/raised test accuracy beyond the noise after Holm's correction over the arms of
    that size (so the regularizer helps/costs accuracy), ``widens`` that it widened the
    train-test gap, ``dead_book``/``dead_arm`` the fraction of hidden units dead at the end
    in each arm (from ``why``; None without), and ``failed`` how many of the two arms' runs
    failed (from ``why``, :func:`~xpnet.experiments.why.why_table`): they are in the
    intervals, and widen them."""
    mine = [w for w in (why or {"rows": []})["rows"] if w["study"] == "regularizers"]
    failed = {w["value"]: w.get("failed", 0) for w in mine}
    dead = {w["value"]: w["dead"] for w in mine if "dead" in w}
    out = []
    for n in sorted({r["train_samples"] for r in (reg or {"rows": []})["rows"]}):
        at = {r["arm"]: r for r in reg["rows"] if r["train_samples"] == n}  # type: ignore[index]
        off = at.get(arm)
        if off is None or "acc_vs_book" not in off:
            continue
        d, gap = off["acc_vs_book"], off["gap_vs_book"]
        sig = _sig(d, off["acc_holm"])
        out.append({"n": n, "arm": off, "book": at.get("book"), "acc": d,
                    "holm": off["acc_holm"], "gap": gap,
                    "lowers": sig and d.diff.mean < 0, "raises": sig and d.diff.mean > 0,
                    "widens": _sig(gap) and gap.diff.mean > 0,
                    "failed": failed.get(f"{arm}|{n}", 0) + failed.get(f"book|{n}", 0),
                    "dead_book": dead.get(f"book|{n}"), "dead_arm": dead.get(f"{arm}|{n}")})
    return out


def _failed_note(e: Table) -> str:
    """Where failed runs (fallen back, one class, over half dead) are in a comparison."""
    k = e.get("failed", 0)
    if not k:
        return ""
    return (f" ({k} failed run{'s' if k != 1 else ''} of the two arms included, which "
            f"widen{'s' if k == 1 else ''} the interval)")


def _smaller_weights(effects: list[Table], name: str) -> str:
    """How a regularizer changes the first layer's weights, where the intervals part:
    ``"; with L2 the first layer's weights stay smaller (mean |W| ... against ...)"``."""
    parts = [f"{fmt(b['mean_abs'], 3)} against {fmt(o['mean_abs'], 3)} without at {e['n']}/class"
             for e in effects if (b := e["book"]) is not None and "mean_abs" in b
             and (o := e["arm"]).get("mean_abs") is not None and b["mean_abs"].n >= 2
             and o["mean_abs"].n >= 2 and b["mean_abs"].ci_high < o["mean_abs"].ci_low]
    return (f"; with {name} the first layer's weights stay smaller (mean |W| "
            + "; ".join(parts) + ")") if parts else ""


def _off_effects(effects: list[Table], name: str) -> str:
    """``"switching dropout off alone changed test accuracy by ... at 100/class ..."``."""
    return f"switching {name} off alone changed test accuracy by " + "; ".join(
        f"{_pair(e['acc'], e['holm'])} and the gap by {_pair(e['gap'])} (unadjusted) at "
        f"{e['n']}/class"
        + _failed_note(e) for e in effects)


def _sizes(effects: list[Table], key: str) -> list[str]:
    return [f"{e['n']}/class" for e in effects if e[key]]


def _fit_without(effects: list[Table], name: str) -> str:
    """Training accuracy (dropout off) with and without a regularizer, and the hidden units
    dead at the end, where the arms' rows (and the why table) are there: training accuracy
    = test accuracy + gap, per run."""
    parts = []
    for e in effects:
        b, o = e["book"], e["arm"]
        if b is None or not b.get("gap") or not b["gap"].n or not o.get("gap") \
                or not o["gap"].n:
            continue
        text = (f"at {e['n']}/class training accuracy {b['acc'].mean + b['gap'].mean:.3f} "
                f"with {name} and {o['acc'].mean + o['gap'].mean:.3f} without")
        if e.get("dead_book") is not None and e.get("dead_arm") is not None:
            text += (f", units dead at the end {e['dead_book'].mean:.3f} and "
                     f"{e['dead_arm'].mean:.3f}")
        parts.append(text)
    return f" ({'; '.join(parts)})" if parts else ""


def protection_claim(reg: Table | None, why: Table | None = None) -> Claim | None:
    """"Dropout and L2 protect against overfitting", each judged on its own arm of the
    regularizers study ("no dropout", "no L2" against the book's setting). A regularizer
    protects against overfitting where switching it off lowers test accuracy *and* widens
    the train-test gap; one that raises test accuracy while the gap stays as it was helps
    the model fit (training accuracy falls without it too), not against overfitting; one
    that only narrows the gap while test accuracy rises without it does so by fitting the
    training set less. The "none" arm switches both (and decay) off at once and so cannot
    tell them apart."""
    arms = (("dropout", "no dropout"), ("L2", "no L2"))
    tried = [(name, arm, switched_off(reg, arm, why)) for name, arm in arms]
    judged = [(name, effects) for name, _, effects in tried if effects]
    if not judged:
        return None
    # an arm not run leaves its regularizer unjudged: the claim names both
    missing = [(name, arm) for name, arm, effects in tried if not effects]
    said, protects, fits, costs, unclear, narrowing = [], [], [], [], [], []
    for name, effects in judged:
        helps, hurts = _sizes(effects, "lowers"), _sizes(effects, "raises")
        narrows = _sizes(effects, "widens")
        narrowing += narrows
        text = _off_effects(effects, name)
        if helps and not hurts and narrows:
            protects.append(name)
            text += (f": {name} protects, since without it the model generalizes worse (at "
                     f"{', '.join(helps)}) and the train-test gap widens (at "
                     f"{', '.join(narrows)})" + _smaller_weights(effects, name))
        elif helps and not hurts:
            fits.append(name)
            text += (f": {name} raises test accuracy (at {', '.join(helps)}), but not by "
                     "reducing overfitting: without it training accuracy falls as well and the "
                     "train-test gap does not change detectably" + _fit_without(effects, name)
                     + "; it helps the model fit" + (
                         ", keeping hidden units alive" if any(
                             e.get("dead_arm") is not None and e.get("dead_book") is not None
                             and e["dead_arm"].n >= 2 and e["dead_book"].n >= 2
                             and e["dead_arm"].ci_low > e["dead_book"].ci_high
                             for e in effects) else "")
                     + _smaller_weights(effects, name))
        elif hurts and not helps:
            costs.append(name)
            text += (f": {name} costs test accuracy here (at {', '.join(hurts)})"
                     + (f"; it narrows the gap (at {', '.join(narrows)}) only by fitting the "
                        "training set less" if narrows else ""))
        else:
            unclear.append(name)
            text += f": no consistent change of test accuracy detected with {name} off"
        said.append(text)
    verdict = ("true" if len(protects) == len(judged) and not missing else
               "partly" if protects or narrowing else
               "false" if (costs or fits) and not unclear and not missing else "open")
    return _claim("Dropout and L2 protect against overfitting", verdict,
                  "each judged on its own, against the book's setting seed by seed: "
                  + "; ".join(said) + "".join(
                      f"; {name} was not judged: no run of the '{arm}' arm is stored beside "
                      "the book's" for name, arm in missing)
                  + ". (Switching all the regularizers off at once mixes "
                  "their effects, so it cannot judge either one.)")


def dropout_claim(reg: Table | None, why: Table | None = None) -> Claim | None:
    """"Dropout makes the model generalize better", from the regularizers study's "no
    dropout" arm against the book's at each size: true where test accuracy is higher with
    dropout everywhere; partly where it is higher somewhere, or the train-test gap narrower
    (generalizing better in that sense); false where it costs accuracy and the gap is shown
    not to narrow (within :data:`NEGLIGIBLE_BIAS`); else open."""
    effects = switched_off(reg, "no dropout", why)
    if not effects:
        return None
    costs = sum(e["raises"] for e in effects)
    helps = sum(e["lowers"] for e in effects)
    narrows = _sizes(effects, "widens")
    because = [f"at {e['n']}/class training accuracy (dropout off in the measurement) "
               f"{b['acc'].mean + b['gap'].mean:.3f} with dropout and "
               f"{o['acc'].mean + o['gap'].mean:.3f} without, test accuracy "
               f"{b['acc'].mean:.3f} and {o['acc'].mean:.3f}, gap "
               f"{b['gap'].mean:.3f} and {o['gap'].mean:.3f}"
               # training accuracy = test accuracy + gap, per run: where the gap goes
               for e in effects if (b := e["book"]) is not None and b["gap"].n
               and (o := e["arm"])["gap"].n]
    # "false" needs the gap shown not to narrow (every interval below the margin), else a
    # narrowing these runs could not detect may be there
    flat_gap = all(e["gap"].diff.n >= 2 and e["gap"].diff.ci_high <= NEGLIGIBLE_BIAS
                   for e in effects)
    verdict = ("true" if helps == len(effects) else "partly" if helps or narrows else
               "false" if costs and flat_gap else "open")
    said = "; ".join(f"at {e['n']}/class switching dropout off changed test accuracy by "
                     f"{_pair(e['acc'], e['holm'])} and the gap by {_pair(e['gap'])} "
                     "(unadjusted)"
                     + _failed_note(e) for e in effects)
    if narrows and costs:
        said += (f": dropout narrows the train-test gap (at {', '.join(narrows)}) but lowers "
                 "test accuracy, so it generalizes better only in the sense of the gap")
    elif costs and not helps:
        said += (": where it changed test accuracy detectably it lowered it"
                 + (f", and no interval leaves room for dropout narrowing the gap by more than "
                    f"{NEGLIGIBLE_BIAS:g}" if flat_gap else ", though the gap's intervals leave "
                    "room for a narrowing these runs could not detect"))
    if because and costs:
        said += (". Why: dropout's noise keeps the hidden units from fitting the training set as "
                 "closely, which narrows the gap from the training side and costs test "
                 "accuracy with it (" + "; ".join(because) + ")")
    return _claim("Dropout makes the model generalize better", verdict, said + ".")


# -- 6. learning rates -----------------------------------------------------------------------
def _lr_sheet(t: Table, base: Base) -> Sheet | None:
    lr, against = t.get("lr"), t.get("lr_against")
    if not lr or not lr["rows"] or not against or against["reference"] is None:
        return None
    best = against["reference"]
    rows = {r["lr"]: r for r in lr["rows"]}
    settings = {s["setting"]: s for s in against["settings"]}
    claims = []
    why_rows = {float(w["value"]): w for w in t.get("why", {"rows": []})["rows"]
                if w["study"] == "lr"}
    chance = 1 / base.classes

    def failed(r: Table) -> bool:
        """Diverged, collapsed to one class, no better than guessing (a mean within
        :data:`~xpnet.experiments.why.LEARNED` of chance, its interval holding chance), or
        half or more of its finished runs failed (ended fallen back, predicting one class
        or over half dead: :func:`~xpnet.experiments.why.trial_status`)."""
        w = why_rows.get(r["lr"])
        acc = r["val_acc"]
        return bool(r["diverged"] or (w and w["collapsed_end"]) or (
            w and w["measured"] and 2 * w.get("failed", 0) >= w["measured"]) or (
            # not shown better than guessing, and not clearly above it: with two seeds
            # the interval of a mean well above chance can reach it too
            acc.n >= 2 and acc.ci_low <= chance <= acc.ci_high
            and acc.mean < chance + LEARNED))

    bad = [r for r in lr["rows"] if failed(r)]
    if bad:
        parts = []
        for r in bad:
            w = why_rows.get(r["lr"])
            parts.append(f"lr {r['lr']:g}: {r['diverged']} of {r['n'] + r['diverged']} "
                         f"diverged, final validation accuracy {fmt(r['val_acc'])} (chance "
                         f"{chance:.3f})"
                         + (f", {w['half_dead']} of {w['measured']} finished runs ended with "
                            f"over half their units dead, {w['collapsed']} collapsed to one "
                            f"class after they had learned, {w['collapsed_end']} predict one "
                            "class at the end, "
                            f"{w.get('fell', 0)} ended fallen back: {w.get('failed', 0)} of "
                            f"{w['measured']} failed in one of these ways, all of them in the "
                            "mean above" if w else ""))
        top = max(rows)
        high = all(r["lr"] > best for r in bad)
        # one run per failed rate shows that such a rate can fail, not that it makes
        # training fail: how often it does was not measured
        once = all(r["n"] + r["diverged"] < 2 for r in bad)
        claims.append(_claim("Too high a learning rate makes training fail",
                             "true" if high and not once else "partly",
                             "; ".join(parts) + (
                                 "." if high else
                                 f"; rates below the best ({best:g}) failed too.")
                             + _how_often(bad, why_rows)
                             + ("" if any(r["lr"] == top for r in bad) else
                                f" The highest rate tried, {top:g}, did not fail.")))
    else:
        top_row = rows[max(rows)]
        claims.append(_claim(
            "Too high a learning rate makes training fail", "open",
            f"no rate tried failed: the highest, lr {top_row['lr']:g}, ended at validation "
            f"accuracy {fmt(top_row['val_acc'])} (chance {chance:.3f}) in "
            f"{top_row['n'] + top_row['diverged']} run"
            f"{'s' if top_row['n'] + top_row['diverged'] != 1 else ''}; whether a higher rate "
            "fails was not measured (--lr with higher rates, e.g. 0.2,1, tries them)."))
    smallest = min(rows)
    still = [r for r in lr["rows"] if r["n"] >= 2 and r["late_from"] is not None
             and (r["late_loss"].ci_high < 0 or r["late_acc"].ci_low > 0)]
    low_row = next((row for row in against["rows"] if row["a"] == smallest), None)
    if low_row is not None:
        # a lowest rate still improving when training stopped has not reached "the end"
        # a lowest rate still improving when training stopped has not reached "the end":
        # open (it may catch up in a longer run), though lower at this run length
        unfinished = any(math.isclose(r["lr"], smallest) for r in still)
        verdict = ("open" if unfinished else
                   "false" if _sig(low_row["acc"], low_row["acc_holm"]) else "open")
        claims.append(_claim(
            "A lower learning rate is more accurate in the end", verdict,
            f"after {base.epochs} epochs, lr {smallest:g} ended at test accuracy "
            f"{fmt(settings[smallest]['acc'])}, the "
            f"best lr {best:g} at {fmt(settings[best]['acc'])} (best minus it: "
            f"{_pair(low_row['acc'], low_row['acc_holm'])})"
            + ("; " + ", ".join(f"lr {r['lr']:g}" for r in still) + " were still improving "
               f"when training stopped (each rate's own 95% interval, not corrected for the "
               f"{len(lr['rows'])} rates; loss over the second half: " + ", ".join(
                   fmt(r["late_loss"], 4) for r in still) + ")" + _longer(t, base, still,
                                                                     settings[best], best)
               if still else "") + "."))
    else:
        claims.append(_lowest_is_best(against, base))
    if not math.isclose(best, base.lr):
        base_row = next((row for row in against["rows"] if math.isclose(row["a"], base.lr)),
                        None)
        if base_row is not None:
            sig = _sig(base_row["acc"], base_row["acc_holm"])
            claims.append(_claim(
                f"The book's lr {base.lr:g} is the best rate", "false" if sig else "open",
                f"lr {best:g} had the highest mean test accuracy "
                f"({fmt(settings[best]['acc'])}), {base.lr:g} "
                f"{fmt(settings[base.lr]['acc'])}; best minus the book's: "
                f"{_pair(base_row['acc'], base_row['acc_holm'])}"
                + ("" if sig else "; one pair of runs cannot test a difference, so these "
                   "runs cannot tell whether the book's rate is the best"
                   if base_row["acc"].diff.n < 2 else "; the best was picked on these same "
                   "test sets, so its lead is optimistic, and no difference survives: these "
                   "runs cannot tell whether the book's rate is the best") + "."))
        else:
            claims.append(_claim(
                f"The book's lr {base.lr:g} is the best rate", "open",
                f"the book's lr {base.lr:g} was not among the rates tried ("
                + ", ".join(f"{x:g}" for x in sorted(settings)) + "), so it was compared with "
                f"none of them; add it, e.g. --lr {','.join(f'{x:g}' for x in sorted(settings))}"
                f",{base.lr:g} (--resume keeps the runs already stored)."))
    elif not against["rows"]:
        claims.append(_claim(
            f"The book's lr {base.lr:g} is the best rate", "open",
            f"only lr {best:g} was tried, at test accuracy {fmt(settings[best]['acc'])}: "
            "there is no other rate to compare it with (xpnet study lr --lr 0.01,0.05,0.2 "
            "compares three)."))
    else:
        close = [row for row in against["rows"] if not _sig(row["acc"], row["acc_holm"])]
        claims.append(_claim(
            f"The book's lr {base.lr:g} is the best rate", "partly" if close else "true",
            f"it had the highest mean test accuracy, {fmt(settings[best]['acc'])}, of the "
            "rates tried" + (
                "; within the noise of it (Holm): " + ", ".join(
                    f"lr {row['a']:g} ({_pair(row['acc'], row['acc_holm'])})" for row in close)
                if close else ", every other rate lower after Holm's correction") + "."))
    claims.append(_speed_claim(t.get("lr_speed"), lr["rows"]))
    some = []  # rates that failed in some runs, fewer than failed() needs
    for r in lr["rows"]:
        w = why_rows.get(r["lr"])
        if r not in bad and w and w["measured"] and w.get("failed", 0):
            some.append(f"lr {r['lr']:g} failed in {w['failed']} of {w['measured']} runs"
                        + (f", included in its mean test accuracy "
                           f"{fmt(settings[r['lr']]['acc'])}" if r["lr"] in settings else ""))
    head = (f"The highest mean test accuracy was at lr {best:g}: {fmt(settings[best]['acc'])}"
            + _refined_note(best, list(settings), base.refined)
            + "; it was picked on the same test sets that measure it, so its lead is a "
              "little optimistic. " if len(settings) > 1 else
            f"Only lr {best:g} was tried: test accuracy {fmt(settings[best]['acc'])}. ")
    per_rate = (f"each by its own interval, not corrected for the {len(lr['rows'])} rates"
                if len(lr["rows"]) > 1 else "by its 95% interval")
    answer = (head + (f"Training failed at {_failed_rates(bad, why_rows)}" if bad else "")
              + (("; " if bad else "") + ", ".join(some)
                 + " (a failed run ended fallen back, predicting one class, or with over "
                   "half its hidden units dead)" if some else "")
              + (". " if bad or some else "")
              + (f"{_rates_word(still)} {_rates(still)} "
                 f"{'were' if len(still) > 1 else 'was'} still improving at the end of the "
                 f"{base.epochs} epochs ({per_rate})." if still else ""))
    aside = set_aside_note(lr, base.refined)
    return Sheet(QUESTIONS[6], answer.strip(), claims, [aside] if aside else [],
                 [("lr.png", "Accuracy and loss against the learning rate, and over epochs "
                   "per rate. " + POINTWISE)],
                 f"Each rate against the best, paired by seed on {against['test_samples']}"
                 "/class fresh test sets, Holm-corrected.")


def _longer(t: Table, base: Base, still: list[Table], best_at: Table, best: float) -> str:
    """How the rates still improving at the end fare in a longer run: measured for the base
    rate where the epochs study's long runs continue its runs, not for the others."""
    long = t.get("epochs")
    base_still = any(math.isclose(r["lr"], base.lr) for r in still)
    if not (base_still and long and long.get("continues_base") and long["rows"]
            and "test_acc" in long["rows"][-1]):
        return ": how they end in a longer run was not measured"
    end = long["rows"][-1]
    others = [r for r in still if not math.isclose(r["lr"], base.lr)]
    return (f"; lr {base.lr:g}'s runs go on in the epochs study ({long['n']} runs of "
            f"{end['epoch']} epochs whose first {base.epochs} are these runs: same seeds, same "
            f"validation loss at every epoch both logged{_both_logged(long['continues_base'])})"
            f", where its fresh-test accuracy "
            f"reached {fmt(end['test_acc'])} at epoch {end['epoch']}, against lr {best:g}'s "
            f"{fmt(best_at['acc'])} at {base.epochs}"
            + (": how the others end in a longer run was not measured" if others else ""))


def _both_logged(epochs: Any) -> str:
    """``", epochs 1, 2, 3, 5 and 11"``: the epochs the continuation was checked at."""
    if not isinstance(epochs, list) or not epochs:
        return ""
    listed = ", ".join(map(str, epochs[:-1])) + (" and " if len(epochs) > 1 else "") \
        + str(epochs[-1])
    return f", epoch{'s' if len(epochs) > 1 else ''} {listed}"


def _how_often(bad: list[Table], why_rows: dict[float, Table]) -> str:
    """How often the failed rates fail, by their number of runs: one run shows that a rate
    can fail, not how often it does; more runs give the failure rate with its 95% interval
    (:func:`~xpnet.experiments.stats.binomial_interval`)."""
    counts = []
    for r in bad:
        w = why_rows.get(r["lr"])
        runs = r["n"] + r["diverged"]
        failed = r["diverged"] + (w.get("failed", 0) if w and w["measured"] else 0)
        counts.append((r["lr"], failed, runs))
    if all(runs < 2 for _, _, runs in counts):
        lo, hi = binomial_interval(1, 1)
        return (f" One run per rate: a failure shows that a rate this high can make training "
                f"fail, but how often it does was not measured (one failure in one run leaves "
                f"its rate anywhere from {lo:.3f} to {hi:g}, 95%); --seeds 3 or more "
                "measures it.")
    return " How often, with the failure rate's 95% interval (Clopper-Pearson): " + ", ".join(
        f"lr {lr:g} {failed} of {runs} runs ({_share(failed, runs)})"
        for lr, failed, runs in counts) + "."


def _share(k: int, n: int) -> str:
    """``"0.29 to 1"``: the 95% interval of a rate seen ``k`` times in ``n``."""
    lo, hi = binomial_interval(k, n)
    return f"{lo:.2g} to {hi:.2g}"


def _rates(rows: list[Table]) -> str:
    return ", ".join(f"{r['lr']:g}" for r in rows)


def _failed_rates(rows: list[Table], why_rows: dict[float, Table]) -> str:
    """``"lr 0.126 (5 of 10 runs), lr 0.2 (10 of 10 runs)"``: the failed rates with how many
    of their runs failed (fallen back, one class or over half dead), where measured."""
    def runs(r: Table) -> str:
        w = why_rows.get(r["lr"])
        return (f" ({w.get('failed', 0)} of {w['measured']} runs)" if w and w["measured"]
                else "")
    return ", ".join(f"lr {r['lr']:g}{runs(r)}" for r in rows)


def _rates_word(rows: list[Table]) -> str:
    return "Rates" if len(rows) > 1 else "Rate"


def _lowest_is_best(against: Table, base: Base) -> Claim:
    """"A lower learning rate is more accurate in the end" where the lowest rate tried has
    the highest mean test accuracy (or is the only one): true where every other rate is
    less accurate after Holm's correction, partly where some are, open where none is (or
    there is no other rate)."""
    best = against["reference"]
    acc = fmt(next(s["acc"] for s in against["settings"] if s["setting"] == best))
    if not against["rows"]:
        return _claim("A lower learning rate is more accurate in the end", "open",
                      f"only lr {best:g} was tried (test accuracy {acc}): there is no lower or "
                      "higher rate to compare it with (--lr 0.01,0.05,0.2 compares three).")
    lower = [r for r in against["rows"] if _sig(r["acc"], r["acc_holm"])]
    verdict = ("true" if len(lower) == len(against["rows"]) else "partly" if lower else "open")
    return _claim(
        "A lower learning rate is more accurate in the end", verdict,
        f"after {base.epochs} epochs the lowest rate tried, lr {best:g}, had the highest mean "
        f"test accuracy, {acc} (picked on these test sets, so its lead is a little "
        "optimistic); it minus each other rate, Holm-corrected: " + ", ".join(
            f"lr {r['a']:g} {_pair(r['acc'], r['acc_holm'])}" for r in against["rows"])
        + ("" if lower else ": no other rate was less accurate beyond the noise") + ".")


def _speed_claim(speed: Table | None, rows: list[Table]) -> Claim:
    """"A higher learning rate trains faster", judged at the epoch nearest a tenth of the
    run (:func:`~xpnet.experiments.neighbours.speed_table`): every rate against the fastest,
    paired by seed and Holm-corrected; true only where the highest rate is the fastest and
    lower rates are slower beyond the noise, partly where speed grows only up to a point,
    false where only higher rates are slower, open where no rate is detectably slower, and
    open, saying why, without a speed table (one rate in ``rows``, the lr table's, or too
    few runs to pair)."""
    if speed is None:
        tried = ", ".join(f"{r['lr']:g}" for r in rows)
        return _claim(
            "A higher learning rate trains faster", "open",
            (f"only lr {tried} was tried: there is no other rate to compare its speed with "
             "(--lr 0.01,0.05,0.2 compares three)" if len(rows) < 2 else
             f"fewer than two of the rates tried ({tried}) have two or more finished runs "
             "logged at a common early epoch, so no rate's speed can be compared seed by "
             "seed (--seeds 3 or more)") + ".")
    epoch, fastest = speed["epoch"], speed["fastest"]
    where = (f"mean fresh-test accuracy ({speed['test_samples']}/class)"
             if speed["split"] == "test_curve" else "mean validation accuracy")
    slower = [r for r in speed["rows"] if _sig(r["acc"], r["acc_holm"])]
    below = [f"lr {r['a']:g}" for r in slower if r["a"] < fastest]
    above = [f"lr {r['a']:g}" for r in slower if r["a"] > fastest]
    top = max(s["lr"] for s in speed["settings"])
    # lower rates slower beyond the noise: true where the fastest is the highest rate, else
    # partly (up to a point); only higher rates slower: false
    verdict = ("open" if not slower else "false" if not below else
               "true" if fastest == top else "partly")
    lowest = min(s["lr"] for s in speed["settings"])
    parts = []
    if below:
        parts.append(f"{', '.join(below)}, below it, slower beyond the noise")
    elif fastest != lowest:
        parts.append("no rate below it detectably slower")
    if above:
        parts.append(f"{', '.join(above)}, above it, slower"
                     + (" too: speed grows with the rate only up to a point" if below else
                        " beyond the noise: a higher rate was not faster"))
    elif fastest != top:
        parts.append("no rate above it detectably slower")
    end = ("; ".join(parts) if slower else
           f"no rate was slower than lr {fastest:g} beyond the noise, so these runs cannot "
           "tell the rates' speeds apart")
    n = len(speed["rows"])
    return _claim(
        "A higher learning rate trains faster", verdict,
        f"{where} at epoch {epoch}, a tenth of the run: " + ", ".join(
            f"lr {s['lr']:g} {fmt(s['acc'])}" for s in speed["settings"])
        + f"; highest at lr {fastest:g} (picked on these runs, so its lead is a little "
          f"optimistic); it minus each other rate, seed by seed, Holm-corrected over the "
          f"{n} other rate{'s' if n > 1 else ''}: " + ", ".join(
              f"lr {r['a']:g} {_pair(r['acc'], r['acc_holm'])}" for r in speed["rows"])
        + f": {end}.")


# -- 5. L1 and L2, from the regularizers study ------------------------------------------------
def regularizer_claims(t: Table) -> list[Claim]:
    """The L1/L2 claims of question 5 from the regularizers study's arms, over its seeds:
    the first layer's mean ``|W|`` and its fractions of small and of zero weights at the end,
    with the book's L2, without it, and with L1 instead. They replace the inside sheet's
    one-seed claims of the same words."""
    reg = t.get("regularizers")
    if not reg or not reg["rows"]:
        return []
    claims = []
    n = max(r["train_samples"] for r in reg["rows"])
    arm = {r["arm"]: r for r in reg["rows"] if r["train_samples"] == n}
    book, no_l2 = arm.get("book"), arm.get("no L2")
    if book and no_l2 and book["mean_abs"].n:
        shrinks = book["mean_abs"].ci_high < no_l2["mean_abs"].ci_low
        claims.append(_claim(
            "L2 shrinks the weights", "true" if shrinks else "open",
            f"{n}/class, first layer, end of training: mean |W| {fmt(book['mean_abs'], 4)} "
            f"with L2 5e-4, {fmt(no_l2['mean_abs'], 4)} without (seeds {book['mean_abs'].n})."))
    # L1 against L2 at every size the study ran (not only the largest)
    by = {(r["train_samples"], r["arm"]): r for r in reg["rows"]}
    pairs = [(m, by[(m, "book")], by[(m, "L1 for L2")])
             for m in sorted({r["train_samples"] for r in reg["rows"]})
             if (m, "book") in by and (m, "L1 for L2") in by and by[(m, "L1 for L2")]["zero"].n]
    if pairs:
        exact = max(l1["zero"].mean for _, _, l1 in pairs)
        verdict = "true" if exact > 0.5 else "false" if exact == 0 else "partly"
        claims.append(_claim(
            "L1 drives weights to exactly zero", verdict,
            "with L1 5e-4 instead of L2, " + "; ".join(
                f"at {m}/class {l1['zero'].mean:.1%} of the first layer's weights were "
                f"exactly 0 and {l1['small'].mean:.1%} below 0.001 in size (with L2: "
                f"{b['small'].mean:.1%})" for m, b, l1 in pairs)
            + ". Under Adam the L1 term 5e-4 x sign(W) joins the gradient, which Adam "
            "divides by sqrt(v_hat): a weight near zero still moves by about the learning "
            "rate each step, whatever the 5e-4, and the book's sign(0) = +1 pushes even a "
            "weight at 0 off it, so weights cross zero rather than land on it."))
    return claims


#: The study that answers each of questions 1, 2 and 6 (and the table it leaves in
#: :func:`~xpnet.experiments.analysis.analyze`'s tables).
_ANSWERED_BY = {1: "samples", 2: "epochs", 6: "lr"}


def study_sheets(tables: dict[str, Any], base: Base) -> dict[int, Sheet]:
    """The sheets of questions 1, 2 and 6, by question number: answered from ``tables``,
    or saying why not (:func:`_unanswered`)."""
    builders: dict[int, Callable[[], Sheet | None]] = {
        1: lambda: _samples_sheet(tables, base), 2: lambda: _epochs_sheet(tables),
        6: lambda: _lr_sheet(tables, base)}
    return {q: build() or _unanswered(q, tables) for q, build in builders.items()}


def _unanswered(q: int, tables: dict[str, Any]) -> Sheet:
    """Question ``q``'s sheet where its study did not run, or ran without a finished run
    to answer from; question 2 still judges the regularizers from their own study."""
    study = _ANSWERED_BY[q]
    if study in tables:
        answer = (f"Not answered: the {study} study ran, but none of its runs finished with "
                  "the measurements the answer needs (the report's section on it lists them, "
                  "diverged runs included).")
    else:
        answer = (f"Not studied in this run: xpnet study {study} answers it (on this folder "
                  "with --resume and the same options, it adds its runs to those stored).")
    claims = _regularizers_claims(tables) if q == 2 else []
    if claims:
        answer += (" The claims below come from the regularizers study, which compares the "
                   "chapter's regularizers at one run length.")
    return Sheet(QUESTIONS[q], answer, claims)


def answer_sheets(tables: dict[str, Any], base: Base, *, inside: bool = True,
                  seed: int = 0) -> list[Sheet]:
    """All six sheets, in question order: questions 1, 2 and 6 from ``tables`` (those the
    studies run can answer), 3 to 5 from real runs of ``base.preset`` recorded in explain
    mode (with ``inside``), question 5 with the regularizers study's L1/L2 claims."""
    sheets = study_sheets(tables, base)
    if inside:
        for q, sheet in zip((3, 4, 5), inside_sheets(preset=base.preset, seed=seed),
                            strict=True):
            sheets[q] = sheet
    extra = regularizer_claims(tables)
    if extra and 5 in sheets:
        # the regularizers study's seeds decide what the inside sheet's one seed illustrates
        quotes = {c.quote for c in extra}
        sheets[5].claims = [c for c in sheets[5].claims if c.quote not in quotes] + extra
    return [sheets[q] for q in sorted(sheets)]


def provisional(base: Base, seeds: int) -> str | None:
    """The caution a study smaller than the default one needs, read first: fewer seeds
    (``GRIDS["default"]``: 10) or shorter runs than the book's; None for a full study."""
    full = GRIDS["default"]
    if seeds >= full["seeds"] and base.epochs >= full["epochs"]:
        return None
    if seeds < 2:
        return (f"How far to trust this: one seed per setting and {base.epochs}-epoch runs. "
                "With one seed no interval, test or correction can be computed: the "
                "differences below can be read but not judged, so every comparison between "
                "settings stays open. Run with --seeds 3 or more (--resume with more --seeds "
                "keeps these runs and adds the new ones).")
    return (f"How far to trust this: {seeds} seed{'s' if seeds != 1 else ''} per setting and "
            f"{base.epochs}-epoch runs"
            + (f" ({base.long_epochs} in the epochs study)" if base.long_epochs else "")
            + f", against the full study's {full['seeds']} seeds and the book's "
            f"{full['epochs']} epochs (xpnet study ... without --quick). With so few seeds only "
            "large differences can be detected, and a verdict can turn with more of them; read "
            "these answers as provisional.")


def _refined_note(best: float, rates: list[float], refined: tuple[float, ...]) -> str:
    """How the refined grid stands to the best rate: around it, or the best is one of the
    rates it added (then the rates beyond it were not refined)."""
    if not refined:
        return ""
    added = ", ".join(f"{x:g}" for x in refined)
    center = refined_around(rates, refined)
    if center is None and any(math.isclose(best, x) for x in refined):
        # a grid refined on one side only (the first pass's best at its end): no centre
        # between the added rates, and the best is one of them
        return f" (a rate the refined grid, {added}, added beside the first pass's best)"
    if center is None or math.isclose(center, best):
        return f" (the grid was refined around it with {added})"
    ordered = sorted(rates)
    i = ordered.index(best)
    beyond = ordered[i + 1] if best > center and i + 1 < len(ordered) else \
        ordered[i - 1] if best < center and i > 0 else None
    note = f" (a rate the refined grid added around the first pass's best, lr {center:g}"
    if beyond is None:
        return note + "; it is at the end of the grid)"
    if beyond not in refined:  # the refined grid's outer rate: the coarse grid's gap beyond
        return note + (f"; nothing was tried between it and lr {beyond:g}, so the best may "
                       "lie there)")
    return note + ")"


#: Where a study's pages point to its explorer (written beside them).
EXPLORER = ("Every stored run can be browsed, curves and decision regions, in "
            "[the explorer](explorer.html).")

#: How to read the sheets' numbers and words, for a learner meeting them first.
READING = (
    "How to read the numbers. *Validation* is the book's test data (for ch15, 100 samples "
    "per class), measured every logged epoch. *Fresh test sets* are drawn anew after "
    "training, far larger (each sheet says their size), and used for nothing else; "
    "accuracies and losses quoted as *test* are theirs. *Loss* is the data loss, the mean "
    "cross-entropy (a model that guesses uniformly among k classes scores ln k, 1.099 for "
    "the spiral's 3, and accuracy 1/k). A number "
    "written 0.714 [0.697, 0.732] is a mean over the seeds with its 95% confidence "
    "interval; a change *per seed* compares runs that share a seed. Runs of one seed always "
    "share their validation and fresh test sets; where only the learning rate, the "
    "regularizers or the run length differ (questions 2, 5 and 6) they also share their "
    "training data and initial weights, which cancels most of the seed-to-seed spread; "
    "across training sizes (question 1) the seed draws other training data and weights, so "
    "only the test sets are shared and less of the spread cancels. *Beyond the noise* means its "
    "interval leaves out 0, for a comparison made on its own; where several are made together "
    "(*Holm p*: the paired t-test's *p* corrected for their number) it means Holm p < 0.05, "
    "and the intervals printed beside it are each one's own, unadjusted, so one of them may "
    "leave out 0 while its Holm p does not pass. The *gap* is training accuracy (dropout off) "
    "minus test accuracy. A hidden unit is *dead* when ReLU outputs 0 for every training "
    "sample: it gets no gradient from the data, though an L1/L2 penalty can bring it back; "
    "a run *collapsed* when, after it had learned something (two or more classes predicted "
    f"at a validation accuracy {LEARNED:g} above chance), it predicts one class for every "
    f"sample; it *ended fallen back* when its validation accuracy at the end was {FALL:g} or "
    "more below its best so far.")


def write_answers(sheets: list[Sheet], out_dir: str | os.PathLike[str],
                  title: str, caution: str | None = None) -> Path:
    """Write ``out_dir/answers.md`` (atomically): ``title``, the ``caution`` of a small
    study (:func:`provisional`), and the sheets."""
    doc = Document()
    doc.heading(1, title)
    if caution:
        doc.paragraph(f"**{caution}**")
    doc.paragraph("Each answer comes first, then the claims learners often bring, each judged "
                  "true, false, partly or open by the numbers beside it. The report "
                  "(report.md) has every table behind them. " + EXPLORER)
    doc.paragraph(READING)
    render(doc, sheets)
    path = Path(out_dir) / "answers.md"
    atomic_write_bytes(path, doc.markdown().encode())
    return path
