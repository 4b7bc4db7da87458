"""The report's sections: per question, the sentences, tables and figures of one study's
tables, each sentence's wording chosen by a test on the numbers it quotes.

Settings are compared seed by seed on the largest fresh test sets
(:mod:`~xpnet.experiments.neighbours`, :func:`~xpnet.experiments.stats.paired`), scans
Holm-corrected, and where no difference is found a sentence gives the smallest one the
design could have detected; two spreads are compared by the F-test
(:func:`~xpnet.experiments.stats.spread_ratio`). :mod:`~xpnet.experiments.report` puts the
sections together.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, NamedTuple

from .document import Document
from .frame import Base, Table
from .plan import refined_around
from .stats import (
    Paired,
    Summary,
    detectable,
    fmt,
    fmt_p,
    samples_for_margin,
    spread_ratio,
)

__all__ = ["POINTWISE", "both_hold", "crossed_section", "epochs_section", "epochs_span",
           "judged_on", "lr_late_section", "lr_section", "origin_note", "powered_difference",
           "regularizers_section", "samples_section", "set_aside_note", "why_section"]


#: How to read the curves' bands (figure captions): the claims about curves are decided by
#: paired tests at chosen epochs, or by a rise at every later epoch (an intersection-union
#: test), which need no band that holds at all epochs at once.
POINTWISE = ("The bands are pointwise 95% intervals, each epoch's own: over dozens of "
             "epochs a few miss the true mean by chance, so a band parting from a line at a "
             "few epochs is no finding; the answers judge changes run by run instead.")

#: What the runs of one seed share in each study, which pairing by seed relies on.
_SHARED = {
    "samples": "a seed measures every size on the same test sets, so their noise largely "
               "cancels in the per-seed difference; the training data and initial weights "
               "differ with the size, as the book draws the data first, from the generator "
               "that then draws the weights",
    "lr": "the same seed gives every learning rate the same training data, initial weights "
          "and test sets"}


def _sd(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.4f}"


def _beyond_zero(s: Summary) -> bool:
    return s.n >= 2 and (s.ci_low > 0 or s.ci_high < 0)


#: A test-set-size bias of accuracy smaller than this (one point) is negligible: where every
#: size's interval lies inside +-NEGLIGIBLE_BIAS, "no bias" is a finding, not just a failure
#: to detect one.
NEGLIGIBLE_BIAS = 0.01


def at_last(best: str = "lowest") -> str:
    """What a change from a curve's best epoch to its last reads where the best is the last
    (an interval of zero width says nothing)."""
    return f"n/a ({best} at the last epoch)"


def curve_name(t: Table) -> str:
    """Where an epochs table (:func:`~xpnet.experiments.analysis.epochs_table`) measured
    the changes after its best epochs: ``"fresh-test"`` or ``"validation"``."""
    return "fresh-test" if t.get("split") == "test_curve" else "validation"


def rise_p(t: Table) -> float:
    """The p of an epochs table's loss rise: Holm-adjusted over the training sizes where
    :func:`~xpnet.experiments.analysis.crossed_table` adjusted it, else its own."""
    p: float = t["loss_rise_holm"] if "loss_rise_holm" in t else t["loss_rise_p"]
    return p


def both_hold(rows: list[Table]) -> str:
    """Where the epochs study saw no loss rise beyond the noise at a size whose early
    stopping still lowered the test loss beyond it, the sentence that reads the two
    together: what each measures and why both can hold ("" elsewhere). ``rows``: the
    epochs tables of every size (:func:`~xpnet.experiments.analysis.crossed_table`)."""
    both = [r for r in rows if (stop := r.get("early_stopping")) and stop["loss_gain"].n >= 2
            and stop["loss_gain"].ci_high < 0 and not (
                r["loss_rise"] is not None and r["loss_rise"].mean > 0 and rise_p(r) < 0.05)]
    if not both:
        return ""
    m, runs = len(rows), both[0]["loss_rise"].n
    word = "Holm p" if "loss_rise_holm" in both[0] and m > 1 else "p"
    return (
        "at " + ", ".join(
            f"{r['train_samples']}/class the loss showed no rise beyond the noise "
            f"({fmt(r['loss_rise'])}, {word} {fmt_p(rise_p(r))}), yet early stopping lowered "
            f"the test loss beyond it ({fmt(r['early_stopping']['loss_gain'], 4)})"
            for r in both)
        + ". Both can hold, as they measure different things: the rise runs from an epoch "
        "picked on the other runs' validation curves to the end, and counts only "
        + (f"past Holm's correction over the {m} sizes" if m > 1 else "where its p < 0.05")
        + "; early stopping compares each run at its own lowest validation loss with its own "
        "last epoch, uncorrected, and a run's own pick lands where its test loss dips too "
        "(both curves share the run's epoch-to-epoch wobble), which favours stopping. So the "
        f"loss may well rise after the best epoch by less than {runs} runs confirm under the "
        "stricter test, while each run stopped at its own best still has a lower test loss "
        "than at its end.")


def biased_sizes(t: Table, metric: str = "acc") -> list[dict[str, Any]]:
    """The rows of a test-size table (:func:`~xpnet.experiments.analysis.test_size_table`)
    whose ``metric`` bias against the largest size survives Holm's correction over the
    sizes compared."""
    return [r for r in t["rows"][:-1] if r[f"{metric}_bias"].n >= 2
            and r.get(f"{metric}_bias_holm", math.nan) < 0.05]


def two_measurements(book: Table, iid: Table | None, n: int = 100,
                     ) -> tuple[float, float, float | None] | None:
    """How far apart two measurements of one trained model's accuracy on two independent
    ``n``/class test sets fall (95%: 1.96 x sqrt(2) x sd), from the test set's noise alone
    (one fixed model: the seed-to-seed spread of training comes on top): the wider of the
    book's spiral and independent points (the spread new data would have). Returns
    ``(spread, sd on the book's spiral, sd on independent points or None)``, or None
    without that size."""
    row = next((r for r in book["rows"] if r["test_samples"] == n
                and math.isfinite(r["acc_sd"])), None)
    if row is None:
        return None
    other = next((r for r in (iid or {"rows": []})["rows"] if r["test_samples"] == n
                  and math.isfinite(r["acc_sd"])), None)
    sd = max(row["acc_sd"], other["acc_sd"]) if other is not None else row["acc_sd"]
    return 1.96 * math.sqrt(2) * sd, row["acc_sd"], None if other is None else other["acc_sd"]


def powered_difference(spread: float, power: float = 0.8) -> float:
    """The true difference that two independent measurements detect with ``power``, where
    ``spread`` = 1.96 x sqrt(2) x sd is the 95% critical difference (a true difference of
    ``spread`` itself is detected only about half the time): (1.96 + z_power) x sqrt(2) x sd.

    >>> round(powered_difference(0.065), 3)
    0.093
    """
    z = statistics.NormalDist().inv_cdf
    return spread * (z(0.975) + z(power)) / z(0.975)


class Room(NamedTuple):
    """How large a bias the intervals leave room for, each way (both >= 0; nan without
    intervals)."""

    down: float
    up: float

    def __str__(self) -> str:
        return f"{self.down:.3f} lower or {self.up:.3f} higher (unadjusted 95% intervals)"


def bias_room(rows: list[dict[str, Any]], key: str = "acc_bias") -> Room:
    """The largest bias below and above zero that the test-size rows' 95% intervals leave
    room for (all sizes but the reference). The intervals are each one's own, not adjusted
    for the number of sizes (Holm's correction decides the verdicts, on the p-values).

    >>> from xpnet.experiments.stats import summarize
    >>> rows = [{"acc_bias": summarize([-0.02, 0.0, -0.01])}, {"acc_bias": summarize([0.0])}]
    >>> room = bias_room(rows + [{}])
    >>> round(room.down, 4), round(room.up, 4)
    (0.0348, 0.0148)
    """
    ends = [(r[key].ci_low, r[key].ci_high) for r in rows[:-1]
            if r[key].n >= 2 and math.isfinite(r[key].ci_low)]
    if not ends:
        return Room(math.nan, math.nan)
    return Room(max(0.0, -min(lo for lo, _ in ends)), max(0.0, max(hi for _, hi in ends)))


def bias_ruled_out(room: Room) -> bool:
    """Whether the intervals (:func:`bias_room`) rule out any bias beyond a negligible one,
    either way."""
    return (math.isfinite(room.down) and room.down <= NEGLIGIBLE_BIAS
            and room.up <= NEGLIGIBLE_BIAS)


def _room_note(room: Room) -> str:
    """What an undetected bias may still be, when that is more than negligible."""
    return (f"; the intervals still leave room for a bias of up to {room}, so a small one is "
            "not ruled out" if math.isfinite(room.down) and not bias_ruled_out(room) else "")


def _versus_zero(s: Summary, up: str, down: str) -> str:
    """How a change's CI sits against zero, in words."""
    if s.n < 2:
        return "with no CI (fewer than two runs)"
    if s.ci_high < 0:
        return f"{down} beyond the noise"
    if s.ci_low > 0:
        return f"{up} beyond the noise"
    return "within the noise of zero"


def _p_cell(p: float) -> str:
    """A p-value in a table's cell: ``0.015``, ``< 0.001`` or ``n/a``."""
    return fmt_p(p).removeprefix("= ")


def _paired_verdict(what: str, r: Paired, q: float, m: int) -> str:
    """How one seed-by-seed difference reads after Holm's correction over ``m`` tests."""
    d = r.diff
    if d.n < 2:
        return f"{what}: fewer than two seeds finished both runs; no test."
    if q < 0.05:
        word = "a rise" if d.mean > 0 else "a fall"
        return (f"{what}: changed by {fmt(d, 4)} per seed, {word} (p {fmt_p(r.p)}, Holm-adjusted "
                f"p {fmt_p(q)} over {m} comparisons) that survives the correction.")
    head = (f"{what}: changed by {fmt(d, 4)} per seed, p {fmt_p(r.p)} (Holm-adjusted "
            f"p {fmt_p(q)}); " if r.p < 0.05 else
            f"{what}: changed by {fmt(d, 4)} per seed, p {fmt_p(r.p)}; ")
    lead = ("significant alone but not after correcting for "
            f"{m} comparisons. " if r.p < 0.05 else "no difference detected. ")
    return head + lead + _detects(r)


def _scan_section(doc: Document, t: Table, name: str, label: Any) -> None:
    """Neighbouring settings compared seed by seed on the largest test sets, Holm-corrected."""
    rows = t["rows"]
    if not rows:
        return
    doc.heading(4, f"Neighbouring {name}, paired by seed")
    m = len(rows)
    doc.paragraph(
        f"Each {name[:-1]} against the next, seed by seed ({_SHARED[t['study']]}), measured "
        "on the largest fresh test sets "
        f"({t['test_samples']}/class, mean over the repeats): the per-seed difference (next "
        "minus this), its 95% CI, the paired t-test p-value, and Holm's adjustment over the "
        f"{m} comparisons of accuracy (and, separately, of loss). Where no difference is "
        "detected, the smallest difference the design could have detected is given.")
    said = [_paired_verdict(f"Test accuracy from {label(r['a'])} to {label(r['b'])}",
                            r["acc"], r["acc_holm"], m) for r in rows]
    kept = [r for r in rows if r["acc_holm"] < 0.05]
    said.append(f"{len(kept)} of {m} accuracy differences survive Holm's correction"
                + (": " + ", ".join(f"{label(r['a'])} to {label(r['b'])}" for r in kept)
                   if kept else "") + ".")
    loss_kept = [r for r in rows if r["loss_holm"] < 0.05]
    said.append(f"{len(loss_kept)} of {m} test-loss differences survive it"
                + (": " + ", ".join(f"{label(r['a'])} to {label(r['b'])} "
                                    f"({fmt(r['loss'].diff, 4)})" for r in loss_kept)
                   if loss_kept else "") + ".")
    doc.items(said)
    doc.table(["from", "to", "seeds", "acc diff [95% CI]", "p", "Holm p", "detectable acc diff",
               "loss diff [95% CI]", "Holm p (loss)"],
              [[label(r["a"]), label(r["b"]), str(r["acc"].diff.n), fmt(r["acc"].diff, 4),
                _p_cell(r["acc"].p), _p_cell(r["acc_holm"]),
                f"{r['acc'].mde:.4f}", fmt(r["loss"].diff, 4),
                _p_cell(r["loss_holm"])] for r in rows])


def _detects(r: Paired, what: str = "differences") -> str:
    """The smallest difference the paired design detects, after a "no difference" verdict."""
    d = r.diff
    return (f"With {d.n} seeds and sd {d.sd:.4f} of the per-seed {what}, the design detects "
            f"only {what} of {r.mde:.4f} or more (80% power, 5% level), so a smaller one may "
            "be there.")


def _pair_sentence(what: str, r: Paired, at: tuple[str, str], values: tuple[Summary, Summary],
                   cause: str) -> str:
    """One sentence on a single planned comparison of two settings, paired by seed."""
    d, (at_a, at_b), (a, b) = r.diff, at, values
    if d.n < 2:
        return (f"{what[0].upper()}{what[1:]} {at_a} ({fmt(a)}) and {at_b} ({fmt(b)}) cannot "
                "be compared seed by seed: fewer than two seeds finished both runs.")
    if r.p < 0.05:
        word = "raised" if d.mean > 0 else "lowered"
        return (f"{cause} {word} {what} from {fmt(a)} {at_a} to {fmt(b)} {at_b}: per seed, a "
                f"change of {fmt(d, 4)} (paired t-test p {fmt_p(r.p)}).")
    return (f"{what[0].upper()}{what[1:]} {at_a} ({fmt(a)}) and {at_b} ({fmt(b)}) differ per "
            f"seed by {fmt(d, 4)}, p {fmt_p(r.p)}: no difference detected. " + _detects(r))


def _against_table(doc: Document, t: Table, label: Any, what: str) -> None:
    """Each setting against the reference of an :func:`~xpnet.experiments.neighbours.
    against_table`, as a table."""
    ref = t["reference"]
    by = {r["a"]: r for r in t["rows"]}
    rows = []
    for s in t["settings"]:
        r = by.get(s["setting"])
        rows.append([label(s["setting"]), str(s["n"]), fmt(s["acc"]),
                     "reference" if r is None else fmt(r["acc"].diff, 4),
                     "" if r is None else _p_cell(r["acc"].p),
                     "" if r is None else _p_cell(r["acc_holm"]),
                     "" if r is None else f"{r['acc'].mde:.4f}", fmt(s["loss"]),
                     "reference" if r is None else fmt(r["loss"].diff, 4),
                     "" if r is None else _p_cell(r["loss_holm"]),
                     fmt(s["gap"].diff)])
    doc.table([what, "runs", "test acc", f"{label(ref)} minus this, per seed", "p", "Holm p",
               "detectable acc diff", "test loss", f"loss: {label(ref)} minus this",
               "Holm p (loss)", "gap (train - test acc)"], rows)


# -- question 1 ------------------------------------------------------------------------------
def samples_section(doc: Document, t: Table, sizes: Table, scan: Table,
                     iid: Table | None, against: Table | None = None) -> None:
    rows = t["rows"]
    doc.heading(3, "Training samples")
    if len(rows) < 2:
        doc.paragraph("Fewer than two training-set sizes are stored; nothing to compare.")
    elif against is None or len(against["settings"]) < 2:
        doc.paragraph("Fewer than two training-set sizes have fresh test sets stored; their "
                      "validation values are in the table below.")
    else:
        settings, comps = against["settings"], against["rows"]
        lo, hi, first = settings[0], settings[-1], comps[0]
        size, ref = against["test_samples"], against["reference"]
        m = len(comps)
        doc.paragraph(
            f"Measured on fresh test sets of {size}/class (the mean over the repeats, per "
            "run), far more data than the validation set, and compared seed by seed ("
            f"{_SHARED['samples']}). "
            f"Each size is compared with the largest, {ref}/class; the smallest against the "
            "largest is the planned comparison, read at its own p; the Holm-adjusted p-values "
            f"(the table's) correct all {m} comparisons with {ref}/class, the planned one "
            "included, for the sentences on the other sizes.")
        at = (f"at {lo['setting']}/class", f"at {ref}/class")
        cause = "More training samples"
        said = [_pair_sentence("test accuracy", first["acc"], at, (lo["acc"], hi["acc"]), cause),
                _pair_sentence("test loss", first["loss"], at, (lo["loss"], hi["loss"]), cause),
                _pair_sentence("training accuracy (measured without dropout)",
                               first["train_acc"], at, (lo["train_acc"], hi["train_acc"]),
                               cause)]
        if first["acc"].p < 0.05:
            plateau = None
            for r in reversed(comps):
                if not r["acc"].p >= 0.05:
                    break
                plateau = r
            if plateau is not None:
                s = next(x for x in settings if x["setting"] == plateau["a"])
                said.append(
                    f"Already at {plateau['a']}/class, test accuracy ({fmt(s['acc'])}) is not "
                    f"detectably different from that at {ref}/class: per seed "
                    f"{fmt(plateau['acc'].diff, 4)} ({ref}/class minus {plateau['a']}/class), "
                    f"p {fmt_p(plateau['acc'].p)}, and no size from {plateau['a']}/class up "
                    f"differs from {ref}/class at p < 0.05 even before correcting for multiple "
                    "comparisons. " + _detects(plateau["acc"])
                    + ("" if plateau["acc"].mde < abs(first["acc"].diff.mean) else
                       f" That is no smaller than the whole change from {lo['setting']}/class "
                       f"to {ref}/class ({first['acc'].diff.mean:.4f}), so this is weak "
                       "evidence that accuracy levels off there: the design would likely have "
                       "missed a step that large."))
        top = max(settings, key=lambda s: s["acc"].mean)
        if top is not lo and top is not hi:
            r = next(x for x in comps if x["a"] == top["setting"])
            said.append(
                f"The highest mean test accuracy was at {top['setting']}/class: "
                f"{fmt(top['acc'])}. Per seed, {ref}/class minus {top['setting']}/class is "
                f"{fmt(r['acc'].diff, 4)}, p {fmt_p(r['acc'].p)}, Holm-adjusted p "
                f"{fmt_p(r['acc_holm'])} over {m} comparisons"
                + (f": more data than {top['setting']}/class lowered test accuracy here, "
                   "beyond the correction (picked as the highest, the size of the drop is "
                   "likely overstated)." if r["acc_holm"] < 0.05 else
                   "; no difference detected (and picking the highest mean favours it). "
                   + _detects(r["acc"])))
        for s in (lo, hi):
            g = s["gap"]
            if g.diff.n < 2:
                said.append(f"At {s['setting']}/class the generalization gap cannot be tested: "
                            "fewer than two runs finished.")
            elif g.p < 0.05:
                word = "exceeded" if g.diff.mean > 0 else "fell short of"
                said.append(f"At {s['setting']}/class, training accuracy {word} test accuracy "
                            f"by {fmt(g.diff)} per run (the generalization gap, on the "
                            f"{size}/class test sets; one-sample t-test p {fmt_p(g.p)}).")
            else:
                said.append(f"At {s['setting']}/class, the generalization gap (training minus "
                            f"test accuracy) {fmt(g.diff)} is not distinguishable from zero, "
                            f"p {fmt_p(g.p)}. " + _detects(g, "gaps"))
        g = first["gap"]
        if g.diff.n >= 2 and g.p < 0.05:
            said.append(f"The gap {'shrank' if g.diff.mean < 0 else 'grew'} with more training "
                        f"data: per seed, a change of {fmt(g.diff, 4)} from "
                        f"{lo['setting']}/class to {ref}/class (p {fmt_p(g.p)}).")
        elif g.diff.n >= 2:
            said.append(f"The gap's change from {lo['setting']}/class to {ref}/class, "
                        f"{fmt(g.diff, 4)} per seed (p {fmt_p(g.p)}), is not detectable. "
                        + _detects(g, "changes"))
        doc.items(said)
        _against_table(doc, against, lambda n: f"{n}/class", "train samples/class")
    doc.paragraph("On the validation set (final epoch, mean [95% CI] over seeds; the gap here "
                  "is training minus validation accuracy):")
    doc.table(["train samples/class", "runs", "diverged", "train acc", "val acc",
               "gap (train - val acc)", "train loss", "val loss"],
              [[str(r["train_samples"]), str(r["n"]), str(r["diverged"]),
                fmt(r["train_acc"]), fmt(r["val_acc"]), fmt(r["gap"]), fmt(r["train_loss"]),
                fmt(r["val_loss"])] for r in rows])
    doc.image("samples.png", "Final accuracy, loss and generalization gap against training "
              "samples per class: training (dropout off), validation and the fresh test "
              "sets, the gap against the fresh test sets where measured (mean over seeds, "
              "95% CI bands).")
    _scan_section(doc, scan, "training-set sizes", lambda n: f"{n}/class")
    _test_size_section(doc, sizes, iid)
    _iid_section(doc, sizes, iid)


def _test_size_section(doc: Document, t: Table, iid: Table | None = None) -> None:
    rows = t["rows"]
    doc.heading(3, "Test samples")
    if len(rows) < 2:
        doc.paragraph("Fewer than two test-set sizes are stored; nothing to compare.")
        return
    ref, small, big = t["reference"], rows[0], rows[-1]
    sets = (f"{small['repeats']} independent fresh test sets of each size"
            if small["repeats"] == big["repeats"] else
            f"independent fresh test sets of each size, from {small['repeats']} at "
            f"{small['test_samples']}/class to {big['repeats']} at {ref}/class (more of the "
            "small ones, so that their mean shows a bias of a point)")
    doc.paragraph(
        f"Every trained model of the base setting ({t['trials']} trials) was measured on "
        f"{sets}. The spread across these test sets is the measurement noise alone (the "
        "model is fixed); the bias is the per-model difference from the measurement at the "
        f"largest size ({ref}/class).")
    said = []
    biased = biased_sizes(t)
    room = bias_room(rows)
    holm_note = f"Holm-corrected over the {len(rows) - 1} smaller sizes"
    if not biased:
        said.append(f"No test-set size biased the measured accuracy detectably ({holm_note}; "
                    f"at {small['test_samples']}/class: {fmt(small['acc_bias'], 4)}, Holm p "
                    f"{fmt_p(small['acc_bias_holm'])})" + _room_note(room) + ".")
    else:
        said.append("The measured accuracy differed from the measurement at "
                    f"{ref}/class beyond the noise ({holm_note}) at " + ", ".join(
                        f"{r['test_samples']}/class ({fmt(r['acc_bias'], 4)}, Holm p "
                        f"{fmt_p(r['acc_bias_holm'])})" for r in biased) + ".")
    loss_biased = biased_sizes(t, "loss")
    if not loss_biased:
        said.append("The measured loss likewise showed no bias beyond the noise (at "
                    f"{small['test_samples']}/class: {fmt(small['loss_bias'], 4)}), which "
                    "does not rule one out.")
    else:
        said.append(f"The measured loss differed beyond the noise ({holm_note}) at " + ", ".join(
            f"{r['test_samples']}/class ({fmt(r['loss_bias'], 4)}, Holm p "
            f"{fmt_p(r['loss_bias_holm'])})" for r in loss_biased) + ".")
    if t.get("split") == "test" and (biased or loss_biased):
        said.append(origin_note(t, small))
    said.append(
        f"The spread of the measured accuracy went from sd {_sd(small['acc_sd'])} at "
        f"{small['test_samples']}/class to {_sd(big['acc_sd'])} at {big['test_samples']}/class"
        f"; the binomial law sqrt(p(1-p)/({t['classes']}n)) with p = {t['p']:.3f} predicts "
        f"{_sd(small['binomial_sd'])} and {_sd(big['binomial_sd'])}. The fitted slope of log "
        f"sd against log n is {t['slope']:.2f} (the 1/sqrt(n) law: -0.50).")
    ratios = [r["acc_sd"] / r["binomial_sd"] for r in rows
              if r["binomial_sd"] > 0 and math.isfinite(r["acc_sd"])]
    if ratios:
        said.append(f"The measured spreads are {min(ratios):.2f} to {max(ratios):.2f} times "
                    "the binomial prediction.")
    if not biased and small["acc_sd"] > big["acc_sd"]:
        said.append("So here a small test set made the estimate of accuracy noisier"
                    + ("; it did not bias it beyond a point either way." if bias_ruled_out(room)
                       else
                       f"; a bias, if any, was too small for these runs to detect (up to "
                       f"{room})."))
    apart = two_measurements(t, iid)
    if apart is not None:
        spread, sd_book, sd_iid = apart
        said.append(f"With the book's 100 samples per class, one measurement of the same model's "
                    f"accuracy has sd {_sd(sd_book)} on the book's spiral"
                    + (f" and {_sd(sd_iid)} on independent points" if sd_iid is not None
                       else "")
                    + f", so two such measurements on independent test sets are expected to "
                    f"differ by up to {spread:.3f} (1.96 x sqrt(2) x "
                    + ("the larger sd" if sd_iid is not None else "sd") + ") 95% of the time "
                    "from the test set alone: one fixed model; two trained models differ by "
                    f"the spread between seeds on top of it. {spread:.3f} is the critical "
                    "difference: a true difference of that size is detected only about half "
                    "the time, and one of about "
                    f"{powered_difference(spread):.3f} 80% of the time (2.80 x sqrt(2) x "
                    "sd). This is for measurements on two independent test sets; two models "
                    "compared on the same test set are a paired comparison, whose noise comes "
                    "only from the samples on which they disagree, and is smaller.")
    doc.items(said)
    doc.table(["test samples/class", "trials x repeats", "measured acc", f"acc bias vs {ref}",
               "sd across test sets", "binomial sd", "measured loss", f"loss bias vs {ref}"],
              [[str(r["test_samples"]), f"{r['trials']} x {r['repeats']}", fmt(r["acc"]),
                "reference" if r is big else fmt(r["acc_bias"], 4), _sd(r["acc_sd"]),
                _sd(r["binomial_sd"]), fmt(r["loss"]),
                "reference" if r is big else fmt(r["loss_bias"], 4)] for r in rows])
    doc.image("test_size.png", "Measured accuracy against test-set size, on the book's "
              "spiral and on independent points: bias relative to the largest test set, same "
              "model, with unadjusted 95% CI (left; a shift counts where its Holm p < 0.05), "
              "and spread across test sets against the binomial "
              "1/sqrt(n) law (right).")


def origin_note(t: Table, small: dict[str, Any]) -> str:
    """Why the book's spiral can bias a small test set's measurement (``small``, a row of
    the test-size table ``t``): a fact of its construction (every arm starts at radius 0),
    stated with its share of each set, and what it accounts for of the measured biases:
    on accuracy at most a lowering, which evenly spaced points elsewhere may offset; on the
    loss at least a rise, since no prediction scores below ln k on a point with k labels."""
    k, n, ref = t["classes"], small["test_samples"], t["reference"]
    note = (f"One cause is built into the book's spiral: each arm starts at radius 0, so every "
            f"test set holds the point (0, 0) once per class, with {k} different labels, "
            f"and a model gets at most one of them right. At {n}/class these are "
            f"{k} of the {k * n} points, at {ref}/class {k} of "
            f"{k * ref}; independent points (below) have no such point.")
    p = t.get("p", math.nan)
    if math.isfinite(p):
        alone = (1 / k - p) / n  # those points at 1/k instead of p
        note += (f" On accuracy it would lower a {n}/class measurement by up to {-alone:.3f} "
                 f"(a {1 / n:.3f} share at 1/{k} instead of {p:.3f}); measured "
                 f"{fmt(small['acc_bias'], 4)}, Holm p {fmt_p(small['acc_bias_holm'])}"
                 + (": the set's other points, evenly spaced along the arms rather than "
                    "drawn at random, may partly offset it" if small["acc_bias"].mean > alone
                    else "") + ".")
    loss_ref = t["rows"][-1]["loss"].mean
    if math.isfinite(loss_ref):
        rise = (math.log(k) - loss_ref) / n  # those points at >= ln k instead of loss_ref
        note += (f" On the loss it weighs more: averaged over its {k} labels no prediction "
                 f"scores below ln {k} = {math.log(k):.3f} there, against {loss_ref:.3f} on "
                 f"the {ref}/class sets, which raises a {n}/class measurement by about "
                 f"{rise:+.3f} or more; measured {fmt(small['loss_bias'], 4)}, Holm p "
                 f"{fmt_p(small['loss_bias_holm'])}.")
    return note


def _ratios(t: Table) -> dict[int, float]:
    """Measured sd over the binomial law's, per test size."""
    return {r["test_samples"]: r["acc_sd"] / r["binomial_sd"] for r in t["rows"]
            if r["binomial_sd"] > 0 and math.isfinite(r["acc_sd"])}


def _pooled_df(row: dict[str, Any]) -> int:
    """Degrees of freedom of a test-size row's sd pooled over trials: trials x (repeats - 1)."""
    return int(row["trials"]) * (int(row["repeats"]) - 1)


def _iid_section(doc: Document, book: Table, iid: Table | None) -> None:
    """The book's evenly spaced spiral test sets against i.i.d. ones, and the samples a
    ±1-point estimate needs."""
    said = []
    if iid is not None and len(iid["rows"]) >= 2 and len(book["rows"]) >= 2:
        doc.heading(4, "Independent test points")
        doc.paragraph(
            "The book's spiral spaces each class's radii evenly from 0 to 1, so every test "
            "set covers its arm from the crowded centre to the rim alike: the points are not "
            "independent draws, which the binomial law assumes. Each model was therefore also "
            "measured on test sets of the same sizes whose radii are drawn at random "
            "(independent, identically distributed points of the same arms).")
        spiral, indep = _ratios(book), _ratios(iid)
        small = min(set(spiral) & set(indep), default=None)
        if small is not None:
            rs, ri = book["rows"][0], iid["rows"][0]
            said.append(f"At {small}/class the accuracy's sd across test sets was "
                        f"{_sd(rs['acc_sd'])} on the book's spiral and {_sd(ri['acc_sd'])} on "
                        f"i.i.d. sets; the binomial law predicts {_sd(ri['binomial_sd'])}: "
                        f"ratios {spiral[small]:.2f} and {indep[small]:.2f}.")
            said.append(f"Over all sizes the i.i.d. sets' spread is {min(indep.values()):.2f} "
                        f"to {max(indep.values()):.2f} times the binomial law (fitted slope "
                        f"{iid['slope']:.2f}, the law's -0.50); the book's sets' "
                        f"{min(spiral.values()):.2f} to {max(spiral.values()):.2f} times.")
            df = _pooled_df(rs)
            if df > 0:
                last = book["rows"][-1]
                said.append(f"At {small}/class each sd pools {rs['trials']} trials x "
                            f"{rs['repeats']} test sets ({df} degrees of freedom), so its ratio "
                            f"to the binomial law is uncertain by about "
                            f"±{196 / math.sqrt(2 * df):.0f}% (95%: 1.96/sqrt(2 df); one "
                            f"standard error is ±{100 / math.sqrt(2 * df):.0f}%)"
                            + (f"; at {last['test_samples']}/class, with "
                               f"{last['trials']} x {last['repeats']} sets, by about "
                               f"±{196 / math.sqrt(2 * _pooled_df(last)):.0f}%"
                               if last is not rs and _pooled_df(last) > 0
                               and last["repeats"] != rs["repeats"] else "") + ".")
            f = spread_ratio(rs["acc_sd"], df, ri["acc_sd"], _pooled_df(ri))
            test = (f"{f.ratio:.2f} times the i.i.d. sets' (95% CI [{f.ci_low:.2f}, "
                    f"{f.ci_high:.2f}], F-test p {fmt_p(f.p)}, with {df} and {_pooled_df(ri)} "
                    "degrees of freedom: trials x (test sets - 1))")
            if f.ci_high < 1:
                said.append(f"At {small}/class the book's sets' sd is {test}: the evenly "
                            "spaced radii make a small test set's accuracy less noisy than "
                            "independent points would; the binomial law then overstates its "
                            "error bar, and a spread measured on the book's sets understates "
                            "that of test data drawn independently.")
            elif f.ci_low > 1:
                said.append(f"At {small}/class the book's sets' sd is {test}: here the evenly "
                            "spaced radii made a small test set's accuracy noisier than "
                            "independent points.")
            elif math.isfinite(f.ratio):
                said.append(f"At {small}/class the book's sets' sd is {test}. The CI includes "
                            "1, so this design cannot tell the two spreads apart: it detects "
                            f"only a true ratio below {f.detectable_low:.2f} or above "
                            f"{f.detectable_high:.2f} (80% power, 5% level).")
        first = iid["rows"][0]
        bias = first["acc_bias"]
        why = ("" if bias.n < 2 else
               ", as it must be: the accuracy on independent points is an unbiased estimate at "
               "every size (each point is right with the same probability)"
               if first not in biased_sizes(iid) else
               ", although the accuracy on independent points is an unbiased estimate at every "
               "size: chance or too few test sets")
        said.append(f"On the i.i.d. sets, the accuracy at {first['test_samples']}"
                    f"/class differs from that at {iid['reference']}/class by "
                    f"{fmt(bias, 4)} per model (Holm p "
                    f"{fmt_p(first['acc_bias_holm'])} over the {len(iid['rows']) - 1} smaller "
                    f"sizes, as on the book's spiral): "
                    + ("beyond the noise" if first in biased_sizes(iid) else
                       "not beyond the noise after the correction") + f"{why}.")
        doc.items(said)
        rows = []
        for a, b in zip(book["rows"], iid["rows"], strict=False):
            if a["test_samples"] == b["test_samples"]:
                f = spread_ratio(a["acc_sd"], _pooled_df(a), b["acc_sd"], _pooled_df(b))
                rows.append([str(a["test_samples"]), _sd(a["acc_sd"]), _sd(b["acc_sd"]),
                             _sd(b["binomial_sd"]), "n/a" if math.isnan(f.ratio) else
                             f"{f.ratio:.2f} [{f.ci_low:.2f}, {f.ci_high:.2f}]",
                             _p_cell(f.p)])
        doc.table(["test samples/class", "sd, book's spiral", "sd, i.i.d. points",
                   "binomial sd", "sd ratio book / i.i.d. [95% CI]", "F-test p"], rows)
    p = book.get("p", math.nan)
    if isinstance(p, float) and 0 < p < 1:
        n = samples_for_margin(p)
        k = book["classes"]
        margin = 1.96 * math.sqrt(p * (1 - p) / (100 * k))
        doc.paragraph(
            f"How many test samples a ±1-point estimate needs: for a 95% interval of ±0.01 "
            f"around an accuracy p, n = 1.96^2 p(1-p) / 0.01^2 independent samples. At the "
            f"measured accuracy p = {p:.3f} that is {n} samples ({math.ceil(n / k)} per "
            f"class over {k} classes); at p = 0.5, the worst case, {samples_for_margin(0.5)}. "
            "The book's 100 per class gives one measurement a binomial 95% margin of about ±"
            f"{margin:.3f} at this p (1.96 x its sd); the difference of two independent "
            f"measurements has sqrt(2) times that sd, so by the binomial law two measurements "
            f"differ by up to {margin * math.sqrt(2):.3f}: the critical difference above on "
            "the same basis, there from the measured sd instead of the binomial law's.")


# -- question 2 ------------------------------------------------------------------------------
def epochs_section(doc: Document, t: Table) -> None:
    rows = t["rows"]
    if not rows:
        doc.paragraph("No epochs-study run finished without diverging; nothing to report.")
        return
    by_epoch = {r["epoch"]: r for r in rows}
    last = rows[-1]
    e_acc, e_loss = t["best_acc_epoch"], t["best_loss_epoch"]
    best_acc, best_loss = by_epoch[e_acc], by_epoch[e_loss]
    said = [f"{t['n']} runs of {last['epoch']} epochs"
            + (f" ({t['diverged']} more diverged and are left out)." if t["diverged"] else ".")]
    where = curve_name(t)
    said.append(f"Validation accuracy was highest (mean over seeds) at epoch {e_acc}: "
                f"{fmt(best_acc['val_acc'])}; at the last epoch, {last['epoch']}, it was "
                f"{fmt(last['val_acc'])}. Each run is measured from the epoch where the "
                "*other* runs' mean validation curve is best (a run's validation and test "
                "curves share its epoch-to-epoch wobble, so a pick on its own validation "
                "curve would flatter what follows): accuracy best at epochs "
                f"{epochs_span(t['acc_epochs'])}; per run, {where} accuracy changed from "
                f"there to {last['epoch']} by {fmt(t['acc_change'])}: "
                f"{_versus_zero(t['acc_change'], 'a rise', 'a decline')}.")
    said.append(f"Validation loss was lowest (mean over seeds) at epoch {e_loss}: "
                f"{fmt(best_loss['val_loss'])}; picked on the other runs, at epochs "
                f"{epochs_span(t['loss_epochs'])}.")
    rise = t["loss_rise"]
    p = rise_p(t)
    word = "Holm p, over the training sizes" if "loss_rise_holm" in t else "p"
    if t["onset"] is not None and p < 0.05:
        said.append(f"Then the {where} loss rose: by the last epoch it had risen by "
                    f"{fmt(rise)} per run ({word} {fmt_p(p)}; validation loss from epoch "
                    f"{e_loss}, picked and measured there: {fmt(t['val_loss_rise'])}), and "
                    + ("it was above the picked epochs' beyond the noise at the last epoch "
                       "only" if t["rise_epoch"] == last["epoch"] else
                       f"from epoch {t['rise_epoch']} on it was above the picked epochs' "
                       "beyond the noise at every logged epoch (each on its own)") + ".")
    else:
        floor = detectable(rise.sd, rise.n)
        said.append(f"No rise of the {where} loss was shown: from the picked epochs to the "
                    f"last one it changed by {fmt(rise)} per run ({word} {fmt_p(p)})."
                    + ("" if not math.isfinite(floor) else
                       f" With {rise.n} runs and sd {rise.sd:.4f} of the per-run changes, the "
                       f"design detects only rises of {floor:.4f} or more (80% power, 5% "
                       "level), so a smaller one may be there."))
    said.append(f"Training accuracy (without dropout) went from {fmt(best_acc['train_acc'])} "
                f"at epoch {e_acc} to {fmt(last['train_acc'])} at epoch {last['epoch']}; per "
                f"run from its picked epoch, a change of {fmt(t['train_change'])}: "
                f"{_versus_zero(t['train_change'], 'a rise', 'a decline')}.")
    gap = last["gap"]
    said.append(f"At the last epoch the generalization gap (train - validation accuracy) "
                f"is {fmt(gap)}: {_versus_zero(gap, 'positive', 'negative')}.")
    doc.items(said)
    marks = {e_acc: "best val acc", e_loss: "lowest val loss"}
    if t["rise_epoch"] is not None and p < 0.05:
        marks[t["rise_epoch"]] = f"{curve_name(t)} loss above the picked epochs' from here on"
    if e_acc == e_loss:
        marks[e_acc] = "best val acc, lowest val loss"
    doc.table(["epoch", "train acc", "val acc", "gap", "train loss", "val loss", "note"],
              [[str(r["epoch"]), fmt(r["train_acc"]), fmt(r["val_acc"]), fmt(r["gap"]),
                fmt(r["train_loss"]), fmt(r["val_loss"]), marks.get(r["epoch"], "")]
               for r in rows])
    doc.image("epochs.png", "Train, validation and fresh-test accuracy and loss over epochs, "
              "one row per training size (log scale; mean over seeds, 95% CI bands), best "
              "epochs and overfitting onset marked. " + POINTWISE)


# -- question 3 ------------------------------------------------------------------------------
def lr_section(doc: Document, t: Table, classes: int, scan: Table,
                against: Table | None = None) -> None:
    rows = t["rows"]
    said = []
    diverged = [r for r in rows if r["diverged"]]
    for r in diverged:
        total = r["n"] + r["diverged"]
        at = ", ".join(str(e) for e in r["diverged_at"])
        said.append(f"lr {r['lr']:g}: {r['diverged']} of {total} runs diverged (the loss "
                    f"became NaN or infinite, at epoch {at}); they are left out of the means"
                    + ("; no run at this lr finished." if r["n"] == 0 else "."))
    if not diverged:
        said.append("No run diverged at any learning rate.")
    ok = [r for r in rows if r["n"]]
    if against is not None and against["rows"]:
        ref, size, comps = against["reference"], against["test_samples"], against["rows"]
        m = len(comps)
        by_lr = {s["setting"]: s for s in against["settings"]}
        best = by_lr[ref]
        doc.paragraph(
            f"Measured on fresh test sets of {size}/class (the mean over the repeats, per run) "
            f"and compared seed by seed ({_SHARED['lr']}): each learning rate against the one "
            f"with the highest mean test accuracy, Holm-corrected over the {m} comparisons.")
        said.append(f"On the fresh test sets the highest mean test accuracy was at lr "
                    f"{ref:g}: {fmt(best['acc'])}.")
        val_best = t.get("best_lr")
        if val_best is not None and not math.isclose(val_best, ref):
            said.append(f"(On the validation set the highest mean final accuracy was at lr "
                        f"{val_best:g}: the two choices disagree, a sign of a near tie.)")
        below = [r for r in comps if r["acc_holm"] < 0.05 and r["acc"].diff.mean > 0]
        above = [r for r in comps if r["acc_holm"] < 0.05 and r["acc"].diff.mean < 0]
        if below:
            said.append(f"Lower than at lr {ref:g}, per seed and after Holm's correction over "
                        f"{m} comparisons: " + ", ".join(
                            f"lr {r['a']:g} ({fmt(by_lr[r['a']]['acc'])}; lr {ref:g} higher by "
                            f"{fmt(r['acc'].diff, 4)}, Holm-adjusted p {fmt_p(r['acc_holm'])})"
                            for r in below) + ".")
        if above:  # possible only when some seeds diverged at one of the two rates
            said.append(f"Higher than at lr {ref:g} on the seeds both finished: " + ", ".join(
                f"lr {r['a']:g} (by {fmt(r['acc'].diff, 4)} per seed, Holm-adjusted p "
                f"{fmt_p(r['acc_holm'])})" for r in above) + ".")
        for r in comps:
            if r["acc_holm"] < 0.05:
                continue
            if r["acc"].p < 0.05:  # a difference alone, not among the m comparisons
                said.append(f"lr {r['a']:g} ({fmt(by_lr[r['a']]['acc'])}) differs from lr "
                            f"{ref:g} taken alone but not after Holm's correction over {m} "
                            f"comparisons: per seed, lr {ref:g} minus lr {r['a']:g} is "
                            f"{fmt(r['acc'].diff, 4)}, p {fmt_p(r['acc'].p)} (Holm-adjusted p "
                            f"{fmt_p(r['acc_holm'])}); more seeds would likely settle it.")
            else:
                said.append(f"lr {r['a']:g} ({fmt(by_lr[r['a']]['acc'])}) is not detectably "
                            f"different from lr {ref:g}: per seed, lr {ref:g} minus lr "
                            f"{r['a']:g} is {fmt(r['acc'].diff, 4)}, p {fmt_p(r['acc'].p)} "
                            f"(Holm-adjusted p {fmt_p(r['acc_holm'])}). " + _detects(r["acc"]))
        said.append(f"lr {ref:g} was picked as the best on these same test sets, which "
                    "flatters it: the highest of several noisy means is biased upward, so a "
                    "difference from it that survives the correction is likely smaller than "
                    "shown, and a near tie may have gone the other way. An unbiased comparison "
                    "would pick the learning rate on one set of seeds and compare it on fresh "
                    "ones.")
        low_loss = min(against["settings"], key=lambda s: s["loss"].mean)
        said.append(f"The lowest mean test loss was at lr {low_loss['setting']:g}: "
                    f"{fmt(low_loss['loss'])}.")
        chance = 1 / classes
        guessing = [s for s in against["settings"] if s["acc"].n >= 2
                    and s["acc"].ci_low <= chance <= s["acc"].ci_high]
        if guessing:
            said.append(", ".join(f"lr {s['setting']:g} ({fmt(s['acc'])})" for s in guessing)
                        + f": test accuracy indistinguishable from guessing "
                        f"(1/{classes} = {chance:.3f}; the 95% CI includes it).")
    elif ok:
        best = max(ok, key=lambda r: r["val_acc"].mean)
        said.append(f"The highest mean final validation accuracy was at lr {best['lr']:g}: "
                    f"{fmt(best['val_acc'])}. Fewer than two learning rates have fresh test "
                    "sets, so none is compared with it.")
    doc.items(said)
    if against is not None and against["rows"]:
        _against_table(doc, against, lambda lr: f"lr {lr:g}", "lr")
    doc.paragraph("On the validation set, over seeds: 'best' is the highest validation "
                  "accuracy (lowest loss) over the logged epochs of each run; being the "
                  "extreme of noisy measurements it is biased upward, so learning rates are "
                  "compared by their final values.")
    doc.table(["lr", "runs", "diverged (at epoch)", "final train acc", "final val acc",
               "best val acc", "final val loss", "best val loss"],
              [[f"{r['lr']:g}", str(r["n"]),
                f"{r['diverged']}" + (f" ({', '.join(map(str, r['diverged_at']))})"
                                      if r["diverged"] else ""),
                fmt(r["train_acc"]), fmt(r["val_acc"]), fmt(r["best_val_acc"]),
                fmt(r["val_loss"]), fmt(r["best_val_loss"])] for r in rows])
    doc.image("lr.png", "Final accuracy and loss against the learning rate on the fresh "
              "test sets and on validation, and validation's best over epochs (95% CIs; "
              "diverged runs marked x); and the curves per lr (fresh test where logged). "
              + POINTWISE)
    _scan_section(doc, scan, "learning rates", lambda lr: f"lr {lr:g}")


def crossed_section(doc: Document, t: Table) -> None:
    """The epochs study at each training size: where overfitting starts, and what early
    stopping on the validation loss would have given on a fresh test set."""
    rows = [r for r in t["rows"] if r["rows"]]
    if not rows:
        return
    doc.heading(3, "Training size x epochs, and early stopping")
    doc.paragraph(
        "The long runs were repeated at several training sizes, since where overfitting "
        "starts depends on both. Early stopping here keeps each run's model of the logged "
        "epoch with the lowest validation loss; it is then measured on a fresh test set "
        "logged beside the validation set, which took no part in the choice, and compared "
        "with the same run's last epoch (paired: the same run).")
    said = []
    for r in rows:
        n, last = r["train_samples"], r["rows"][-1]
        where = curve_name(r)
        head = f"At {n}/class ({r['n']} runs): validation loss lowest at epoch " \
               f"{r['best_loss_epoch']}"
        if r["best_loss_epoch"] == last["epoch"]:
            head += ", the last one"
        p = r.get("loss_rise_holm", r["loss_rise_p"])
        head += (f"; from the epochs the other runs' validation picks, "
                 f"{epochs_span(r['loss_epochs'])}, the {where} loss changed to the end by "
                 f"{fmt(r['loss_rise'])} per run (Holm p over the sizes {fmt_p(p)})")
        if r["onset"] is not None and p < 0.05:
            head += (", above the picked epochs' beyond the noise "
                     + ("at the last epoch only" if r["rise_epoch"] == last["epoch"] else
                        f"at every logged epoch from epoch {r['rise_epoch']} on"))
        head += ("; validation accuracy was highest at the last epoch" if
                 r["best_acc_epoch"] == last["epoch"] else
                 f"; {where} accuracy changed from the picked best epochs to the last by "
                 f"{fmt(r['acc_change'])} "
                 f"({_versus_zero(r['acc_change'], 'a rise', 'a decline')})")
        head += f"; final gap {fmt(last['gap'])}."
        said.append(head)
        stop = r["early_stopping"]
        if stop is not None and stop["acc_gain"].n:
            said.append(
                f"At {n}/class early stopping chose epochs {epochs_span(stop['epochs'])}; "
                f"on the fresh test set ({stop['test_samples']}/class) it gave accuracy "
                f"{fmt(stop['acc_stop'])} against {fmt(stop['acc_last'])} at epoch "
                f"{stop['last']}: per run {fmt(stop['acc_gain'], 4)} "
                f"({_versus_zero(stop['acc_gain'], 'a gain', 'a loss')}), and test loss "
                f"{fmt(stop['loss_gain'], 4)} "
                f"({_versus_zero(stop['loss_gain'], 'higher', 'lower')}).")
    if link := both_hold(rows):
        said.append(link[0].upper() + link[1:])
    doc.items(said)
    where = curve_name(rows[0])
    doc.table(["train samples/class", "runs", "lowest val loss at (mean curve)",
               f"{where} loss rise to the end (from the epoch picked on the other runs)",
               "Holm p", "best val acc at (mean curve)",
               f"{where} acc change to the end (picked likewise)", "final gap",
               "early-stopping test acc gain"],
              [[str(r["train_samples"]), str(r["n"]), str(r["best_loss_epoch"]),
                at_last() if set(r["loss_epochs"]) == {r["rows"][-1]["epoch"]} else
                fmt(r["loss_rise"], 4),
                _p_cell(r.get("loss_rise_holm", r["loss_rise_p"])),
                str(r["best_acc_epoch"]),
                at_last("highest") if set(r["acc_epochs"]) == {r["rows"][-1]["epoch"]} else
                fmt(r["acc_change"], 4),
                fmt(r["rows"][-1]["gap"]),
                fmt(r["early_stopping"]["acc_gain"], 4) if r["early_stopping"] else "n/a"]
               for r in rows])


def epochs_span(epochs: list[int]) -> str:
    """``"210 to 3000 (median 1000)"`` for a list of per-run epochs (an even count's median
    is the mean of the middle two, as :func:`statistics.median` takes it).

    >>> epochs_span([14, 117, 198, 3620])
    '14 to 3620 (median 157.5)'
    """
    if not epochs:
        return "none"
    return (f"{epochs[0]}" if min(epochs) == max(epochs) else
            f"{min(epochs)} to {max(epochs)} (median {statistics.median(epochs):g})")


def lr_late_section(doc: Document, t: Table, base: Base) -> None:
    """The refined grid, and the rates still improving when training stopped."""
    said = []
    if base.refined:
        center = refined_around([r["lr"] for r in t["rows"]], base.refined)
        said.append("After the first pass, the grid was refined around its best rate"
                    + (f", lr {center:g}," if center is not None else "") + " with "
                    + ", ".join(f"{lr:g}" for lr in base.refined)
                    + " (log-spaced between it and its neighbours, same seeds).")
    if aside := set_aside_note(t, base.refined):
        said.append(aside)
    still = [r for r in t["rows"] if r["n"] >= 2 and r["late_from"] is not None and (
        r["late_loss"].ci_high < 0 or r["late_acc"].ci_low > 0)]
    split = next((r["late_split"] for r in t["rows"] if r["late_from"] is not None), None)
    where = "the fresh test set" if split == "test_curve" else "the validation set"
    for r in still:
        said.append(f"lr {r['lr']:g} was still improving when training stopped (its own 95% "
                    f"interval, not corrected for the {len(t['rows'])} rates scanned): from epoch "
                    f"{r['late_from']} to the last, loss on {where} changed by "
                    f"{fmt(r['late_loss'], 4)} and accuracy by {fmt(r['late_acc'], 4)} per "
                    "run; its comparison at this length may understate it (a falling loss "
                    "does not promise higher accuracy: a longer run would tell).")
    settled = [r for r in t["rows"] if r["n"] >= 2 and r["late_from"] is not None
               and r not in still]
    if settled:
        said.append("Not improving beyond the noise over the second half of the run: "
                    + ", ".join(f"lr {r['lr']:g} (loss {fmt(r['late_loss'], 4)})"
                                for r in settled) + ".")
    if said:
        doc.heading(4, "Still improving at the end?")
        doc.items(said)


def set_aside_note(t: Table, refined: tuple[float, ...]) -> str:
    """The lr runs stored but left out of the lr table ``t`` (its ``"set_aside"``,
    :func:`~xpnet.experiments.analysis.lr_set_aside`): which rates, and why; "" without.
    ``refined`` is the refined grid the report does use (``Base.refined``)."""
    aside = [a["lr"] for a in t.get("set_aside") or ()]
    if not aside:
        return ""
    rates = [r["lr"] for r in t["rows"]]
    then = refined_around([r for r in rates if r not in refined] + aside, aside)
    now = refined_around(rates, refined)
    seeds = max((r["n"] + r["diverged"] for r in t["rows"]), default=0)
    fewer = sorted({a["seeds"] for a in t["set_aside"] if a["seeds"] < seeds})
    m = len(aside)
    they, them, verb = ("they", "them", "") if m > 1 else ("it", "it", "s")
    return (
        "Stored but not used: the runs at lr " + ", ".join(f"{lr:g}" for lr in aside)
        + (f", a grid refined around lr {then:g}" if then is not None else
           ", a grid refined around another rate")
        + ", the best of the first pass before --resume extended the study"
        + (f"; the extended first pass finds lr {now:g} best, and the grid was refined "
           "around it instead" if now is not None else "")
        + f". {'These' if m > 1 else 'This'} {m} rate{'s are' if m > 1 else ' is'} left out "
        f"because an earlier pick placed {them}, one the extended runs no longer make, and "
        "this report describes the grid its own first pass calls for"
        + (f" ({they} also cover{verb} only {' or '.join(map(str, fewer))} of the {seeds} "
           "seeds, so beside the other rates they would compare means over different seeds)"
           if fewer else "")
        + f"; {they} stay{verb} in results.sqlite, not in results.csv.")


# -- question 4 ------------------------------------------------------------------------------
def regularizers_section(doc: Document, t: Table) -> None:
    rows = t["rows"]
    if not rows:
        doc.paragraph("No regularizers-study run is stored; nothing to report.")
        return
    doc.paragraph(
        "Each arm switches off one of the chapter's regularizers (dropout 0.1, L2 5e-4 on the "
        "first layer, Adam's decay 5e-5), all of them, or puts L1 in place of L2, at the "
        "same seeds as the book's setting; each is compared with the book's arm seed by "
        f"seed on the largest fresh test sets ({t['test_samples']}/class), Holm-corrected "
        "over the arms of a training size.")
    said = []
    for n in sorted({r["train_samples"] for r in rows}):
        at = [r for r in rows if r["train_samples"] == n]
        book = next((r for r in at if r["arm"] == "book"), None)
        if book is None:
            continue
        said.append(f"At {n}/class the book's setting reached test accuracy {fmt(book['acc'])},"
                    f" loss {fmt(book['loss'])}, gap {fmt(book['gap'])}.")
        for r in at:
            if r["arm"] == "book":
                continue
            said.append(_paired_verdict(f"{n}/class, {r['arm']}: test accuracy",
                                        r["acc_vs_book"], r["acc_holm"], len(at) - 1)
                        + f" Test loss {fmt(r['loss_vs_book'].diff, 4)} (Holm p "
                        f"{fmt_p(r['loss_holm'])}); gap {fmt(r['gap'])}; mean |W| of the first "
                        f"layer {fmt(r['mean_abs'], 4)} (book {fmt(book['mean_abs'], 4)}).")
    doc.items(said)
    doc.table(["train samples/class", "arm", "runs", "diverged", "test acc", "test loss",
               "gap (train - test acc)",
               "test loss rise to the end (from the epoch the arm's other runs pick on "
               "validation)",
               "mean |W| (layer 1)", "|W| < 0.001", "acc vs book [95% CI]", "Holm p"],
              [[str(r["train_samples"]), r["arm"], str(r["runs"]), str(r["diverged"]),
                fmt(r["acc"]), fmt(r["loss"]), fmt(r["gap"]),
                at_last() if r["overfit"].n and r["overfit"].mean == r["overfit"].sd == 0
                else fmt(r["overfit"], 4),
                fmt(r["mean_abs"], 4), fmt(r["small"], 3),
                fmt(r["acc_vs_book"].diff, 4) if "acc_vs_book" in r else "reference",
                _p_cell(r["acc_holm"]) if "acc_holm" in r else ""] for r in rows])


# -- the why ---------------------------------------------------------------------------------
#: A why-table row's setting in words, by study.
_SETTING = {"samples": lambda v: f"{int(v)} training samples/class",
            "epochs": lambda v: f"{int(v)} training samples/class, long runs (epochs study)",
            "lr": lambda v: f"lr {float(v):g}",
            "regularizers": lambda v: _arm_setting(str(v))}


def judged_on(row: Table) -> str:
    """Where a why-table row's overconfidence was judged, in words."""
    return ("the fresh test curve" if row.get("overconfident_on") == "test_curve" else
            "the validation set")


def _arm_setting(value: str) -> str:
    """The why table's regularizers setting ``"arm|size"`` in words."""
    arm, n = value.split("|")
    return (f"{n} training samples/class with "
            + ("the book's regularizers" if arm == "book" else f"regularizers '{arm}'"))


def _revival_note(r: Table) -> str:
    """What the study's own runs say about coming back from dead units, for the runs of a
    why row that fell back at their last logged epoch."""
    dead = r.get("fell_late_dead", 0)
    if not dead:
        return ""
    late = r.get("fell_late", 0)
    who = ("the late drop ends with over half its units dead" if late == 1 else
           f"{'all' if dead == late else dead} of these {late} late drops end with over half "
           "their units dead")
    return (f"; {who}, which get no gradient from the data (only from a penalty and Adam's "
            "momentum), so they would have to be revived, not just retrained; at this setting "
            + (f"{r['revived']} of {r['measured']} runs came back from over half dead after "
               "learning, at a later logged epoch (for a while at least)"
               if r.get("revived") else
               "no run came back from over half dead after it had learned (revivals in the "
               "first epochs, before a run has learned, are not counted)"))


def _epochs_list(epochs: list[int]) -> str:
    return ", ".join(map(str, epochs))


def why_section(doc: Document, t: Table) -> None:
    """Dead units, collapse to one class and loss-versus-accuracy divergence per setting:
    measurements that explain the means above."""
    rows = [r for r in t["rows"] if r["measured"]]
    doc.heading(2, "Inside the runs: dead units, collapse, overconfidence")
    if not rows:
        doc.paragraph("This store holds no inside measurements (it was written before they "
                      "were recorded); rerun the study into a new --out directory for them.")
        return
    chance = 1 / t["classes"]
    doc.paragraph(
        "Measured on every run that did not diverge, at every logged epoch: dead hidden units "
        "(ReLU output 0 for every training sample, dropout off: such a unit passes no "
        "gradient from the data, so without a penalty it stays dead; an L1 or L2 penalty's "
        "gradient still reaches its weights and can bring it back, and so can a few steps of "
        "Adam's momentum); collapse (a run that had learned something, two or more classes "
        f"predicted at a validation accuracy {t.get('learned', 0.1):g} above chance, then "
        "predicted one class only on the validation set); overconfidence (loss "
        f"more than {t['loss_rise']:.0%} above its lowest value so far, counted once the run "
        f"had learned something, while accuracy stays within "
        f"{t['acc_hold'] * 100:g} point of its value there: the loss says the model got worse "
        "while its answers did not; judged on the fresh test curve where the run logged one, "
        "else on validation, as each count says).")
    said = []
    for r in rows:
        where = _SETTING[r["study"]](r["value"])
        if r["half_dead"]:
            acc = r["half_dead_acc"]
            near = acc.n >= 2 and acc.ci_low <= chance <= acc.ci_high
            said.append(
                f"At {where}, {r['half_dead']} of {r['measured']} runs end with more than half "
                f"of their {r['hidden']} hidden units dead (dead fraction over all "
                f"{r['measured']} runs: {fmt(r['dead'])}); their final validation accuracy "
                f"is {fmt(acc)}"
                + (f", indistinguishable from chance (1/{t['classes']} = {chance:.3f})."
                   if near else f" (chance: {chance:.3f})."))
        if r["collapsed"]:
            said.append(
                f"At {where}, {r['collapsed']} of {r['measured']} runs collapsed to predicting "
                f"one class after they had learned something (at epoch "
                f"{_epochs_list(r['collapsed_at'])}); "
                + (f"{r['collapsed_end']} of {r['measured']} predicted one class at the end."
                   if r["collapsed_end"] else "none predicted one class at the end."))
        elif r["collapsed_end"]:
            said.append(
                f"At {where}, {r['collapsed_end']} of {r['measured']} runs predicted one class "
                f"at the end, never having learned (validation accuracy never "
                f"{t.get('learned', 0.1):g} above chance while predicting two classes or "
                "more).")
        if r.get("fell"):
            late = r.get("fell_late", 0)
            said.append(
                f"At {where}, {r['fell']} of {r['measured']} runs ended fallen back: "
                f"validation accuracy {t['fall']:g} or more below its best (from epoch "
                f"{_epochs_list(r['fell_at'])}) at the end, without diverging"
                + (f"; {'all' if late == r['fell'] else late} of them at the last logged "
                   "epoch only, a late drop: whether a longer run would have come back was "
                   "not measured" + _revival_note(r) if late else "")
                + "; the means above include them.")
        if r["overconfident"]:
            said.append(
                f"At {where}, {r['overconfident']} of {r['measured']} runs became "
                f"overconfident on {judged_on(r)} (from epoch "
                f"{_epochs_list(r['overconfident_at'])}); final validation accuracy "
                f"{fmt(r['val_acc'])}.")
    samples = [r for r in rows if r["study"] == "samples"]
    if len(samples) >= 2 and samples[0]["dead"].n and samples[-1]["dead"].n:
        lo, hi = samples[0], samples[-1]
        said.append(f"Fraction of hidden units dead at the end: {fmt(lo['dead'])} with "
                    f"{_SETTING['samples'](lo['value'])}, {fmt(hi['dead'])} with "
                    f"{_SETTING['samples'](hi['value'])}.")
    if not any(r["collapsed"] for r in rows):
        said.append(f"No run collapsed to one class ({sum(r['measured'] for r in rows)} "
                    "run-settings measured).")
    if not any(r.get("fell") for r in rows):
        said.append(f"No run ended fallen back ({t['fall']:g} or more below its best "
                    "validation accuracy at the end).")
    if not any(r["overconfident"] for r in rows):
        said.append(f"No run became overconfident ({sum(r['measured'] for r in rows)} "
                    "run-settings measured).")
    doc.items(said)
    doc.table(["setting", "runs", "diverged", "collapsed (at epoch)", "one class at end",
               "ended fallen back (from epoch)", "overconfident (from epoch)", "dead units at end",
               "runs > half dead", "final val acc"],
              [[_SETTING[r["study"]](r["value"]), str(r["runs"]), str(r["diverged"]),
                f"{r['collapsed']}" + (f" ({_epochs_list(r['collapsed_at'])})"
                                       if r["collapsed"] else ""),
                str(r["collapsed_end"]),
                f"{r.get('fell', 0)}" + (f" ({_epochs_list(r['fell_at'])})"
                                          if r.get("fell") else ""),
                f"{r['overconfident']}" + (f" ({_epochs_list(r['overconfident_at'])})"
                                           if r["overconfident"] else ""),
                fmt(r["dead"]), str(r["half_dead"]), fmt(r["val_acc"])] for r in t["rows"]])


