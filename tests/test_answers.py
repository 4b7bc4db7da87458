"""The answer sheets: verdicts decided by the numbers (synthetic tables whose numbers are
known, both ways), and the sheets a real study writes."""

from __future__ import annotations

import math
import re

import pytest

from xpnet.experiments import analysis as an
from xpnet.experiments.answers import (
    QUESTIONS,
    answer_sheets,
    dropout_claim,
    protection_claim,
    regularizer_claims,
    study_sheets,
)
from xpnet.experiments.stats import fmt, holm, paired, summarize

BASE = an.Base(1000, 0.05, 100, long_epochs=300)


def verdicts(sheet):
    return {c.quote: c.verdict for c in sheet.claims}


def samples_tables(gain, *, bias=0.0, seeds=8, plateau=False):
    """Tables of a samples study whose fewest-vs-most accuracy gain per seed is ``gain``
    (+- a little noise), reached at 300/class already with ``plateau`` (else half of it
    there), and whose small test sets are off by ``bias``."""
    noise = [0.004 * ((i % 3) - 1) for i in range(seeds)]
    at_300 = gain if plateau else gain / 2
    acc = {30: [0.70 + e for e in noise], 300: [0.70 + at_300 + e * 0.5 for e in noise],
           1000: [0.70 + gain + e * 0.2 for e in noise]}
    loss = {n: [1.5 - a for a in v] for n, v in acc.items()}

    def compare(rows):
        for metric in ("acc", "loss"):
            for r, q in zip(rows, holm([r[metric].p for r in rows]), strict=True):
                r[f"{metric}_holm"] = q
        return rows

    def pair(a, b):
        return {"a": a, "b": b, "acc": paired(acc[a], acc[b]), "loss": paired(loss[a], loss[b])}

    against = compare([pair(n, 1000) for n in (30, 300)])
    scan = compare([pair(30, 300), pair(300, 1000)])
    settings = [{"setting": n, "acc": summarize(acc[n]), "loss": summarize(loss[n]),
                 "gap": paired([0.0] * seeds, [0.1 - a + 0.7 for a in acc[n]])} for n in acc]
    # one smaller size: its Holm-adjusted p is its own; a lower accuracy, a higher loss
    shift = [bias + e for e in noise]
    small = {"test_samples": 10, "acc_bias": summarize(shift), "acc_sd": 0.06,
             "acc_bias_holm": paired([0.0] * seeds, shift).p,
             "loss_bias": summarize([-2 * b for b in shift]),
             "loss_bias_holm": paired([0.0] * seeds, [-2 * b for b in shift]).p}
    big = {"test_samples": 1000, "acc_bias": summarize([0.0] * seeds), "acc_sd": 0.006,
           "acc_bias_holm": math.nan, "loss": summarize([0.64] * seeds),
           "loss_bias": summarize([0.0] * seeds), "loss_bias_holm": math.nan}
    return {"samples_against": {"reference": 1000, "settings": settings, "rows": against,
                                "test_samples": 1000},
            "samples_scan": {"rows": scan, "test_samples": 1000},
            "samples": {"rows": [{"train_samples": n, "train_acc": summarize(
                [a + 0.1 for a in acc[n]]), "train_loss": summarize(loss[n])} for n in acc]},
            "test_size": {"rows": [small, big], "p": 0.72, "classes": 3, "slope": -0.5,
                          "reference": 1000}}


def test_the_planned_comparison_of_the_ends_decides_where_no_single_step_does():
    # the teacher's case: fewest against most differ (p < 0.05), no neighbouring step does
    tables = samples_tables(0.05)
    for row in tables["samples_scan"]["rows"]:
        row["acc_holm"] = row["loss_holm"] = 0.3
    claims = {c.quote: c for c in study_sheets(tables, BASE)[1].claims}
    acc, loss = (claims["More training data raises accuracy"],
                 claims["More training data slightly lowers loss"])
    assert acc.verdict == "partly" and loss.verdict == "true"  # -6%: slight
    for claim in (acc, loss):
        assert "the ends differ, though no single step changed it detectably" in claim.because
    bigger = samples_tables(0.5)  # loss 0.8 -> 0.3 at the ends: not slight
    for row in bigger["samples_scan"]["rows"]:
        row["acc_holm"] = row["loss_holm"] = 0.3
    loss = next(c for c in study_sheets(bigger, BASE)[1].claims
                if c.quote == "More training data slightly lowers loss")
    assert loss.verdict == "partly" and "it lowers loss, and not slightly" in loss.because


def test_the_samples_sheet_follows_the_numbers():
    rises = study_sheets(samples_tables(0.05), BASE)[1]
    assert verdicts(rises)["More training data raises accuracy"] == "true"
    assert verdicts(rises)["Fewer test samples raise accuracy"] == "false"
    assert rises.answer.startswith("More training data raised test accuracy from 30 to 300")
    levels = study_sheets(samples_tables(0.05, plateau=True), BASE)[1]
    assert verdicts(levels)["More training data raises accuracy"] == "partly"
    assert "no other step changed it detectably" in levels.claims[0].because
    assert "Why the gap closes" in levels.evidence[0]
    flat = study_sheets(samples_tables(0.0005), BASE)[1]
    assert verdicts(flat)["More training data raises accuracy"] == "open"
    assert "the design detects 0.0" in next(c.because for c in flat.claims
                                  if c.quote == "More training data raises accuracy")
    biased = study_sheets(samples_tables(0.05, bias=0.05), BASE)[1]
    assert verdicts(biased)["Fewer test samples raise accuracy"] == "partly"
    assert "changes the noise of the measured accuracy (sd 0.0600 at 10/class against " \
        "0.0060 at 1000/class); no shift of the measured accuracy survives Holm's correction " \
        "over the 1 smaller size (on the book's spiral at 10/class: -0.0005 [-0.0033, " \
        "0.0023], Holm p = 0.6" in rises.answer
    assert "no interval reaches a raise above 0.01 (the highest upper end is +0.0023, of " \
        "unadjusted 95% intervals" in \
        next(c.because for c in rises.claims if c.quote == "Fewer test samples raise accuracy")
    # a few seeds whose bias interval is wide: no bias detected is not no bias (open), and
    # the sheet says how large a bias could have gone unseen
    wide = samples_tables(0.05)
    wide["test_size"]["rows"][0]["acc_bias"] = summarize([-0.03, 0.0, 0.03])
    vague = study_sheets(wide, BASE)[1]
    claim = next(c for c in vague.claims if c.quote == "Fewer test samples raise accuracy")
    assert claim.verdict == "open"
    assert "the intervals leave room for a raise of up to 0.075" in claim.because
    assert "though these runs could miss a bias of up to 0.075" in vague.answer
    # small sets that read lower: the claim is false, and the spiral's origin says why
    lower = study_sheets(samples_tables(0.05, bias=-0.02), BASE)[1]
    claim = next(c for c in lower.claims if c.quote == "Fewer test samples raise accuracy")
    assert claim.verdict == "false" and "lower beyond the noise at 10/class" in claim.because
    assert "holds the point (0, 0) once per class, with 3 different labels" in claim.because
    assert "3 of the 30 points" in claim.because
    # how much of the bias the origin accounts for: (1/3 - 0.72) / 10 on accuracy at most,
    # (ln 3 - 0.64) / 10 on the loss at least
    assert "On accuracy it would lower a 10/class measurement by up to 0.039" in claim.because
    assert "may partly offset it" in claim.because
    assert "raises a 10/class measurement by about +0.046 or more; measured 0.0410" \
        in claim.because
    assert "what it measures on average moved beyond the noise on the book's spiral (on the " \
        "book's spiral at 10/class: -0.0205" in lower.answer
    assert "The book's spiral does read a higher loss on small sets (at 10/class: 0.0410" \
        in lower.answer
    assert "because each of its sets" not in lower.answer
    for sheet in (rises, flat, biased):
        assert sheet.question == QUESTIONS[1]
        assert all(re.search(r"\d", c.because) and c.because.startswith(c.verdict)
                   for c in sheet.claims)


def test_l1_and_l2_claims_come_from_the_regularizers_arms():
    def arm(name, mean_abs, small, zero=0.0):
        return {"train_samples": 1000, "arm": name, "mean_abs": summarize(mean_abs),
                "small": summarize(small), "zero": summarize([zero] * len(small))}

    table = {"regularizers": {"rows": [
        arm("book", [0.30, 0.32, 0.31], [0.01, 0.01, 0.02]),
        arm("no L2", [0.60, 0.62, 0.65], [0.0, 0.0, 0.01]),
        arm("L1 for L2", [0.40, 0.41, 0.42], [0.05, 0.06, 0.04])]}}
    claims = {c.quote: c for c in regularizer_claims(table)}
    assert claims["L2 shrinks the weights"].verdict == "true"
    assert "0.3100" in claims["L2 shrinks the weights"].because
    # no weight exactly 0: false, whatever the share of small ones; the mechanism is Adam's
    l1 = claims["L1 drives weights to exactly zero"]
    assert l1.verdict == "false" and "divides by sqrt(v_hat)" in l1.because
    assert "at 1000/class 0.0% of the first layer's weights were exactly 0" in l1.because
    table["regularizers"]["rows"][2] = arm("L1 for L2", [0.40, 0.41, 0.42], [0.05, 0.06, 0.04],
                                           zero=0.1)
    assert {c.quote: c.verdict for c in regularizer_claims(table)}[
        "L1 drives weights to exactly zero"] == "partly"
    table["regularizers"]["rows"][1] = arm("no L2", [0.30, 0.31, 0.32], [0.01, 0.0, 0.01])
    assert {c.quote: c.verdict for c in regularizer_claims(table)}[
        "L2 shrinks the weights"] == "open"


def test_the_books_100_test_samples_tell_apart_only_large_differences():
    tables = samples_tables(0.05)
    tables["test_size"]["rows"].insert(1, {"test_samples": 100, "acc_sd": 0.0191,
                                           "acc_bias": summarize([0.0] * 8),
                                           "acc_bias_holm": 1.0,
                                           "loss_bias": summarize([0.0] * 8),
                                           "loss_bias_holm": 1.0})
    tables["test_size_iid"] = {"rows": [{"test_samples": 100, "acc_sd": 0.0233}]}
    claim = next(c for c in study_sheets(tables, BASE)[1].claims
                 if c.quote == "The book's 100 test samples per class tell two models apart")
    # the wider sd, the independent points': 1.96 * sqrt(2) * 0.0233 = 0.0646
    assert claim.verdict == "partly" and claim.because.startswith(
        "partly: only differences larger than about 0.065: one measurement on 100/class has "
        "sd 0.0191 from the test set alone on the book's spiral and 0.0233 on independent "
        "points, the spread new data would have")
    assert "(95%: 1.96 x sqrt(2) x the larger sd)" in claim.because
    assert "two models trained with different seeds differ by the seed spread on top" \
        in claim.because
    # 0.065 is the 95% critical difference: at 80% power it takes 2.80/1.96 times as much
    assert ("a true difference of 0.065 itself is detected only about half the time (80% of "
            "the time from about 0.092)") in claim.because
    assert "two models compared on the same test set are a paired comparison" in claim.because


def test_dropout_that_narrows_the_gap_but_costs_accuracy_is_partly_better():
    """The teacher's case: without dropout test accuracy rises (it costs accuracy) while the
    train-test gap widens at the small size (it narrows the gap there)."""
    book = [0.70, 0.71, 0.72, 0.70]

    def off(n, acc_up, gap_up):
        return {"train_samples": n, "arm": "no dropout",
                "acc_vs_book": paired(book, [a + acc_up + 0.002 * i for i, a in enumerate(book)]),
                "acc_holm": 0.001,
                "gap_vs_book": paired([0.05] * 4, [0.05 + gap_up + 0.002 * i for i in range(4)])}

    mixed = dropout_claim({"rows": [off(100, 0.10, 0.035), off(1000, 0.17, 0.0)]})
    assert mixed.verdict == "partly"
    assert "dropout narrows the train-test gap (at 100/class) but lowers test accuracy" \
        in mixed.because
    only_costs = dropout_claim({"rows": [off(100, 0.10, -0.02), off(1000, 0.17, 0.0)]})
    assert only_costs.verdict == "false" and "narrows" not in only_costs.because
    helps = dropout_claim({"rows": [off(100, -0.05, 0.0), off(1000, -0.02, 0.0)]})
    assert helps.verdict == "true"
    assert dropout_claim({"rows": []}) is None
    # a cost at one size, nothing detectable at the other: the data contradict the claim
    unclear = off(100, 0.0, 0.0)
    unclear["acc_holm"] = 0.6
    unclear["acc_vs_book"] = paired(book, [a + 0.01 * (-1) ** i for i, a in enumerate(book)])
    assert dropout_claim({"rows": [unclear, off(1000, 0.17, 0.0)]}).verdict == "false"
    # a cost with a gap too noisy to tell whether dropout narrows it: open, not false
    noisy = off(100, 0.10, 0.0)
    noisy["gap_vs_book"] = paired([0.05] * 4, [0.05, 0.12, 0.0, 0.07])
    blurred = dropout_claim({"rows": [noisy]})
    assert blurred.verdict == "open"
    assert "the gap's intervals leave room for a narrowing these runs could not detect" \
        in blurred.because
    # with the book's arm beside it, the sheet says why: training accuracy = test + gap
    arm = {"train_samples": 100, "arm": "book", "acc": summarize(book),
           "gap": summarize([0.05] * 4)}
    no = off(100, 0.10, 0.035)
    no.update(acc=summarize([a + 0.10 for a in book]), gap=summarize([0.085] * 4))
    why = dropout_claim({"rows": [arm, no]}).because
    assert ("Why: dropout's noise keeps the hidden units from fitting the training set as closely"
            in why)
    assert ("at 100/class training accuracy (dropout off in the measurement) 0.758 with "
            "dropout and 0.892 without, test accuracy 0.708 and 0.807, gap 0.050 and 0.085"
            in why)


def test_each_regularizer_is_judged_on_its_own_arm():
    """The teacher's case: the "none" arm (all off at once) blamed L2 for dropout's cost.
    Without L2 alone test accuracy falls (L2 protects), without dropout alone it rises
    (dropout costs accuracy): each is judged on its own arm."""
    book = [0.70, 0.71, 0.72, 0.70]

    def arm(name, n, acc_up, gap_up):
        return {"train_samples": n, "arm": name, "acc_holm": 0.001,
                "acc_vs_book": paired(book, [a + acc_up + 0.002 * i for i, a in enumerate(book)]),
                "gap_vs_book": paired([0.05] * 4, [0.05 + gap_up + 0.002 * i for i in range(4)])}

    rows = [arm("no dropout", 100, 0.10, 0.035), arm("no L2", 100, -0.084, 0.0),
            arm("none", 100, 0.08, 0.06), arm("no dropout", 1000, 0.17, 0.0),
            arm("no L2", 1000, -0.096, 0.0)]
    claim = protection_claim({"rows": rows})
    assert claim.quote == "Dropout and L2 protect against overfitting"
    assert claim.verdict == "partly"
    assert ("L2 raises test accuracy (at 100/class, 1000/class), but not by reducing "
            "overfitting: without it training accuracy falls as well and the train-test gap "
            "does not change detectably") in claim.because
    assert "dropout costs test accuracy here (at 100/class, 1000/class)" in claim.because
    assert "it narrows the gap (at 100/class) only by fitting the training set less" \
        in claim.because
    assert "switching L2 off alone changed test accuracy by -0.0810" in claim.because
    # both protect (accuracy falls and the gap widens without them): true; both only
    # help the fit (the gap unchanged): not protection against overfitting, false
    both = [arm("no dropout", 100, -0.05, 0.03), arm("no L2", 100, -0.08, 0.03)]
    assert protection_claim({"rows": both}).verdict == "true"
    fit = [arm("no dropout", 100, -0.05, 0.0), arm("no L2", 100, -0.08, 0.0)]
    assert protection_claim({"rows": fit}).verdict == "false"
    # with the arms' rows and the why table: training accuracy falls too, and units die
    book_row = {"train_samples": 100, "arm": "book", "acc": summarize(book),
                "gap": summarize([0.0725] * 4)}
    no_l2 = arm("no L2", 100, -0.084, 0.0)
    no_l2.update(acc=summarize([a - 0.084 for a in book]), gap=summarize([0.0765] * 4))
    why = {"rows": [{"study": "regularizers", "value": "book|100", "dead": summarize([0.0] * 4)},
                    {"study": "regularizers", "value": "no L2|100",
                     "dead": summarize([0.3, 0.35, 0.4, 0.35])}]}
    text = protection_claim({"rows": [book_row, no_l2]}, why).because
    assert ("at 100/class training accuracy 0.780 with L2 and 0.700 without, units dead at the "
            "end 0.000 and 0.350") in text
    assert "it helps the model fit, keeping hidden units alive" in text
    neither = [arm("no dropout", 100, 0.05, 0.0), arm("no L2", 100, 0.08, 0.0)]
    assert protection_claim({"rows": neither}).verdict == "false"
    flat = arm("no L2", 100, 0.0, 0.0)
    flat["acc_holm"] = 0.7
    assert protection_claim({"rows": [flat]}).verdict == "open"
    assert protection_claim({"rows": [arm("none", 100, 0.08, 0.06)]}) is None
    # a failed run in a compared arm is named where it widens the interval
    why = {"rows": [{"study": "regularizers", "value": "no L2|100", "failed": 1},
                    {"study": "regularizers", "value": "book|1000", "failed": 2}]}
    named = protection_claim({"rows": rows}, why).because
    assert "at 100/class (1 failed run of the two arms included, which widens the interval)" \
        in named
    assert "at 1000/class (2 failed runs of the two arms included, which widen the interval)" \
        in named
    assert "failed run" not in dropout_claim({"rows": rows}, why).because.split("; at 1000")[0]
    # what L2 does to the weights, where the intervals part
    weights = [{"train_samples": 100, "arm": "book", "mean_abs": summarize([0.58, 0.60, 0.57])},
               {**arm("no L2", 100, -0.084, 0.0), "mean_abs": summarize([1.2, 1.3, 1.1])}]
    assert ("with L2 the first layer's weights stay smaller (mean |W| 0.583 [0.545, 0.621] "
            "against 1.200 [0.952, 1.448] without at 100/class)"
            in protection_claim({"rows": weights}).because)


def test_a_study_writes_six_sheets(tmp_path):
    from xpnet.experiments import run_study

    result = run_study(["samples", "epochs", "lr", "regularizers"], tmp_path, quick=True,
                       seeds=2, epochs=80, train_samples=(20, 60), test_samples=(10, 30),
                       lr=(0.01, 0.05), workers=1)
    page = tmp_path / "answers.md"
    assert page in result["outputs"]
    text = page.read_text()
    for question in QUESTIONS.values():
        assert f"## {question}" in text
    # a small study says how far to trust it, before any answer, here and in the report
    caution = re.search(r"\*\*How far to trust this: 2 seeds per setting and \d+-epoch runs"
                        r"( \(\d+ in the epochs study\))?, against the full study's 10 seeds "
                        r"and the book's 10000 epochs .*provisional\.\*\*", text)
    assert caution and caution.start() < text.index("**Answer.**")
    report = (tmp_path / "report.md").read_text()
    assert caution.group(0) in report
    # the results table tells the regularizers study's arms apart
    import csv

    with (tmp_path / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert {"arm", "dropout", "l2", "l1", "decay"} <= set(table[0])
    arms = {r["arm"]: (r["dropout"], r["l2"], r["l1"], r["decay"]) for r in table}
    assert arms["book"] == ("0.1", "0.0005", "0.0", "5e-05")
    assert arms["none"] == ("0.0", "0.0", "0.0", "0.0")
    assert arms["L1 for L2"] == ("0.1", "0.0", "0.0005", "5e-05")
    # the sheets open the report too, before the sections with their tables
    assert report.index("## Answer sheets") < report.index("## 1. What do the numbers")
    assert "### 3. What happens inside Adam?" in report
    # every claim row has a verdict and a number
    rows = [line for line in text.splitlines() if line.startswith('| "')]
    assert len(rows) >= 15
    for line in rows:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        assert cells[1] in ("true", "false", "partly", "open") and re.search(r"\d", cells[2])
    # every sentence of an answer, a claim or the evidence carries a number
    for line in text.splitlines():
        if line.startswith(("**Answer.**", "- ", '| "')):
            for sentence in re.split(r"(?<=[.;])\s+(?=[A-Z])", line):
                assert re.search(r"\d", sentence), sentence
    # the regularizers study's seeds replace the inside sheet's one-seed L2 claim
    assert text.count('"L2 shrinks the weights"') == 1
    assert "seeds 2" in text.split('"L2 shrinks the weights"')[1].split("\n")[0]


def test_answer_sheets_without_the_inside_runs_answer_the_studies_only():
    sheets = answer_sheets(samples_tables(0.05), BASE, inside=False)
    assert [s.question for s in sheets] == [QUESTIONS[1], QUESTIONS[2], QUESTIONS[6]]
    # the studies not run say so, and which command answers them (were silently missing)
    assert sheets[1].answer.startswith("Not studied in this run: xpnet study epochs answers "
                                       "it") and not sheets[1].claims
    assert sheets[2].answer.startswith("Not studied in this run: xpnet study lr answers it")


@pytest.mark.parametrize("gain", [0.05, 0.0005])
def test_every_sentence_of_the_samples_sheet_has_a_number(gain):
    sheet = study_sheets(samples_tables(gain), BASE)[1]
    for sentence in [sheet.answer, *sheet.evidence, *(c.because for c in sheet.claims)]:
        assert re.search(r"\d", sentence), sentence


def test_a_full_study_needs_no_caution():
    from xpnet.experiments.answers import provisional
    from xpnet.experiments.frame import Base

    assert provisional(Base(train_samples=1000, lr=0.05, epochs=10000), seeds=10) is None
    assert "3 seeds" in provisional(Base(train_samples=1000, lr=0.05, epochs=10000), seeds=3)
    assert "1500-epoch" in provisional(Base(train_samples=1000, lr=0.05, epochs=1500), seeds=10)


def test_the_refined_grid_is_described_as_it_stands_to_the_best_rate():
    from xpnet.experiments.answers import _refined_note

    quick = [0.001, 0.01, 0.0224, 0.05, 0.158, 0.5]
    assert _refined_note(0.05, quick, (0.0224, 0.158)) == \
        " (the grid was refined around it with 0.0224, 0.158)"
    # the teacher's case: the best is a refined rate at the edge of the refined grid
    edge = _refined_note(0.158, quick, (0.0224, 0.158))
    assert "added around the first pass's best, lr 0.05" in edge
    assert "nothing was tried between it and lr 0.5, so the best may lie there" in edge
    full = [1e-4, 1e-3, 1e-2, 0.0171, 0.0292, 0.05, 0.0794, 0.126, 0.2, 1.0]
    assert _refined_note(0.0794, full, (0.0171, 0.0292, 0.0794, 0.126)) == \
        " (a rate the refined grid added around the first pass's best, lr 0.05)"
    assert _refined_note(0.05, quick, ()) == ""
    # one side refined (the first pass's best, 0.05, at the top of its grid): the best is
    # the added rate, not the rate the grid was refined around
    assert _refined_note(0.0224, [0.001, 0.01, 0.0224, 0.05], (0.0224,)) == \
        " (a rate the refined grid, 0.0224, added beside the first pass's best)"
    assert _refined_note(0.05, [0.001, 0.01, 0.0224, 0.05], (0.0224,)) == \
        " (the grid was refined around it with 0.0224)"



def test_more_epochs_is_judged_on_the_test_curve_from_a_held_out_pick():
    """The teacher's case: 'within the noise of its best' was validation against a best
    picked on the same data; the claim now reads the fresh test curve from the epochs the
    other runs pick, and no change detected is open, not partly."""
    from xpnet.experiments.answers import _epochs_sheet

    def claim(values):
        epochs = {"rows": [{"epoch": 100}, {"epoch": 1000}], "best_acc_epoch": 500,
                  "acc_change": summarize(values), "acc_epochs": [100, 500, 500],
                  "best_loss_epoch": 1000, "onset": None, "loss_rise": summarize([0.0] * 3),
                  "loss_rise_p": 1.0, "train_samples": 1000, "n": 3, "split": "test_curve"}
        sheet = _epochs_sheet({"epochs": epochs})
        return next(c for c in sheet.claims if c.quote == "More epochs always help")

    flat = claim([-0.01, 0.0, 0.01])
    assert flat.verdict == "open" and "absence of evidence" in flat.because
    assert "from the epochs the other runs' validation accuracy picks as best, 100 to 500 " \
           "(median 500), to epoch 1000, fresh-test accuracy" in flat.because
    assert claim([0.010, 0.012, 0.011]).verdict == "partly"
    assert claim([-0.010, -0.012, -0.011]).verdict == "false"


def test_a_rise_counts_only_after_holm_over_the_sizes():
    """The teacher's case at 100/class: p = 0.04 on its own, not after Holm's correction
    over the four sizes, so no rise is claimed there."""
    from xpnet.experiments.answers import _epochs_sheet

    rise = summarize([0.01, 0.05, 0.03])

    def size(n, holm_p):
        return {"rows": [{"epoch": 100}, {"epoch": 1000}], "best_acc_epoch": 1000,
                "acc_change": summarize([0.0] * 3), "acc_epochs": [1000] * 3,
                "best_loss_epoch": 100, "loss_epochs": [100] * 3, "onset": 100,
                "rise_epoch": 1000, "loss_rise": rise, "loss_rise_p": 0.04,
                "loss_rise_holm": holm_p, "train_samples": n, "n": 3, "split": "test_curve"}

    tables = {"epochs": size(1000, 0.16), "crossed": {"rows": [size(100, 0.16),
                                                                 size(1000, 0.16)]}}
    sheet = _epochs_sheet(tables)
    over = next(c for c in sheet.claims if c.quote == "Too many epochs overfit and lower "
                "accuracy")
    assert over.verdict != "partly" and "Holm p = 0.160" in over.because
    assert "no training size showed a rise of fresh-test loss beyond the noise after " \
           "Holm's correction" in sheet.answer
    tables["crossed"]["rows"][0]["loss_rise_holm"] = 0.01
    sheet = _epochs_sheet(tables)
    assert "rose beyond the noise (Holm over the sizes) at 100/class" in sheet.answer
    assert "at the last epoch only" in sheet.answer


def lr_tables(still_low, fell_at_high, dead_at_high=0):
    """An lr study of rates 0.001 < 0.05 (best) < 0.2 over 4 seeds: the lowest rate less
    accurate beyond Holm, still improving at the end when ``still_low``; ``fell_at_high``
    runs of 0.2 ended fallen back, ``dead_at_high`` others with over half their units dead."""
    acc = {0.001: [0.60, 0.62, 0.61, 0.63], 0.05: [0.75, 0.74, 0.76, 0.77],
           0.2: [0.70, 0.71, 0.69, 0.72]}
    falling = summarize([-0.1, -0.12, -0.11, -0.09])
    flat = summarize([0.01, -0.01, 0.0, 0.005])

    def row(lr):
        still = still_low and lr == 0.001
        return {"lr": lr, "n": 4, "diverged": 0, "val_acc": summarize(acc[lr]),
                "late_from": 50, "late_loss": falling if still else flat,
                "late_acc": flat, "curve": []}

    comps = [{"a": lr, "acc": paired(acc[lr], acc[0.05])} for lr in (0.001, 0.2)]
    for r, q in zip(comps, holm([r["acc"].p for r in comps]), strict=True):
        r["acc_holm"] = q
    high = {"fell": fell_at_high, "half_dead": dead_at_high,
            "failed": fell_at_high + dead_at_high}
    why = [{"study": "lr", "value": lr, "measured": 4, "collapsed": 0, "collapsed_end": 0,
            **{k: v if lr == 0.2 else 0 for k, v in high.items()}} for lr in acc]
    return {"lr": {"rows": [row(lr) for lr in acc]},
            "lr_against": {"reference": 0.05, "rows": comps, "test_samples": 1000,
                           "settings": [{"setting": lr, "acc": summarize(v)}
                                        for lr, v in acc.items()]},
            "why": {"rows": why}}


def test_the_lr_sheet_waits_for_an_unfinished_rate_and_counts_runs_that_fell_back():
    from xpnet.experiments.answers import _lr_sheet

    def claims(tables):
        return {c.quote: c for c in _lr_sheet(tables, BASE).claims}

    done = claims(lr_tables(still_low=False, fell_at_high=0))
    assert done["A lower learning rate is more accurate in the end"].verdict == "false"
    calm = done["Too high a learning rate makes training fail"]  # was left out silently
    assert calm.verdict == "open" and calm.because.startswith(
        "open: no rate tried failed: the highest, lr 0.2, ended at validation accuracy ")
    assert "whether a higher rate fails was not measured" in calm.because
    unfinished = claims(lr_tables(still_low=True, fell_at_high=2))
    lower = unfinished["A lower learning rate is more accurate in the end"]
    assert lower.verdict == "open" and "how they end in a longer run was not measured" in \
        lower.because
    fail = unfinished["Too high a learning rate makes training fail"]
    assert fail.verdict == "true" and "2 ended fallen back" in fail.because
    assert "2 of 4 failed in one of these ways, all of them in the mean above" in fail.because
    # four runs measure how often, roughly: 2 of 4 leaves the rate between 0.068 and 0.93
    assert "How often, with the failure rate's 95% interval (Clopper-Pearson): lr 0.2 2 of 4 " \
        "runs (0.068 to 0.93)." in fail.because


def test_the_lr_answer_names_rates_that_failed_in_some_runs_and_the_pick_on_the_test_sets():
    from xpnet.experiments.answers import _lr_sheet

    answer = _lr_sheet(lr_tables(still_low=False, fell_at_high=1), BASE).answer
    assert "; it was picked on the same test sets that measure it, so its lead is a little " \
        "optimistic." in answer
    mean = fmt(summarize([0.70, 0.71, 0.69, 0.72]))
    assert (f"lr 0.2 failed in 1 of 4 runs, included in its mean test accuracy {mean} (a "
            "failed run ended fallen back, predicting one class, or with over half its hidden "
            "units dead).") in answer
    # a run ending with over half its units dead, not fallen back, counts as failed too
    dead = _lr_sheet(lr_tables(still_low=False, fell_at_high=0, dead_at_high=1), BASE).answer
    assert "lr 0.2 failed in 1 of 4 runs" in dead
    failed = _lr_sheet(lr_tables(still_low=False, fell_at_high=2), BASE).answer
    assert failed.endswith("Training failed at lr 0.2 (2 of 4 runs).")
    assert "failed in 2 of 4 runs" not in failed


def test_no_overfitting_detected_is_false_only_within_a_stated_margin():
    """Absence of evidence is not evidence of absence: with wide intervals the claim stays
    open; only intervals inside the stated margins make it false."""
    from xpnet.experiments.answers import NEGLIGIBLE_RISE, _epochs_sheet

    def sheet(spread):
        change = summarize([-spread, 0.0, spread])
        epochs = {"rows": [{"epoch": 100}, {"epoch": 1000}], "plateau_epoch": None,
                  "best_acc_epoch": 100, "acc_change": change, "best_loss_epoch": 100,
                  "onset": None, "rise_epoch": None, "loss_rise": change,
                  "loss_rise_p": 1.0, "acc_epochs": [100] * 3, "train_samples": 1000,
                  "n": 3, "split": "test_curve"}
        claim = next(c for c in _epochs_sheet({"epochs": epochs}).claims
                     if c.quote == "Too many epochs overfit and lower accuracy")
        return claim

    wide = sheet(0.05)
    assert wide.verdict == "open"
    assert "the intervals leave room for a rise these runs could not detect" in wide.because
    assert "fresh-test loss from the picked epochs to the end" in wide.because
    narrow = sheet(0.001)
    assert narrow.verdict == "false"
    assert f"every interval rules out a loss rise above {NEGLIGIBLE_RISE:g}" in narrow.because


def test_more_data_names_the_fixed_training_budget_when_training_accuracy_falls():
    """The teacher's confound: the same epochs for every size, so the larger sets end less
    fitted (training accuracy falls with more data)."""
    tables = samples_tables(0.05)
    quote = "More training data raises accuracy"
    assert "A confound" not in next(c.because for c in study_sheets(tables, BASE)[1].claims
                                    if c.quote == quote)
    for row, train in zip(tables["samples"]["rows"], ([0.83, 0.84, 0.82], [0.75, 0.76, 0.74],
                                                      [0.68, 0.69, 0.67]), strict=True):
        row["train_acc"] = summarize(train)
    because = next(c.because for c in study_sheets(tables, BASE)[1].claims if c.quote == quote)
    assert (f"A confound: every size trained for the same {BASE.epochs} full-batch epochs with "
            "dropout, and training accuracy (dropout off) fell from 0.830 [0.805, 0.855] at "
            "30/class to 0.680 [0.655, 0.705] at 1000/class: the model underfits the larger "
            "sets") in because


def test_the_base_rate_still_improving_is_followed_into_the_long_runs():
    """The teacher's case: lr 0.05's 10000-epoch runs are the first epochs of the epochs
    study's long runs, so how it ends in a longer run was measured."""
    from xpnet.experiments.answers import _lr_sheet

    tables = lr_tables(still_low=True, fell_at_high=0)
    base_row = next(r for r in tables["lr"]["rows"] if r["lr"] == 0.05)
    base_row["late_loss"] = summarize([-0.1, -0.12, -0.11, -0.09])
    long_end = summarize([0.72, 0.71, 0.73, 0.72])
    tables["epochs"] = {"rows": [{"epoch": 300, "test_acc": long_end}], "n": 4,
                        "continues_base": [1, 10, 100]}
    quote = "A lower learning rate is more accurate in the end"
    because = next(c.because for c in _lr_sheet(tables, BASE).claims if c.quote == quote)
    assert (f"lr 0.05's runs go on in the epochs study (4 runs of 300 epochs whose first 100 "
            f"are these runs: same seeds, same validation loss at every epoch both logged, "
            f"epochs 1, 10 and 100), "
            f"where its fresh-test accuracy reached {fmt(long_end)} at epoch 300") in because
    assert because.endswith("how the others end in a longer run was not measured.")
    tables["epochs"]["continues_base"] = []
    because = next(c.because for c in _lr_sheet(tables, BASE).claims if c.quote == quote)
    assert "go on in the epochs study" not in because
    assert because.endswith("how they end in a longer run was not measured.")


def test_the_glossary_says_when_runs_sharing_a_seed_share_their_training_data():
    from xpnet.experiments.answers import READING

    assert "same data and initial weights), which cancels" not in READING
    assert ("across training sizes (question 1) the seed draws other training data and "
            "weights, so only the test sets are shared") in READING


def speed(early):
    """A speed table (as neighbours.speed_table writes it) of these per-seed accuracies at
    epoch 50, each rate against the fastest."""
    means = {lr: sum(v) / len(v) for lr, v in early.items()}
    fastest = max(means, key=means.get)
    rows = [{"a": lr, "b": fastest, "acc": paired(v, early[fastest])}
            for lr, v in early.items() if lr != fastest]
    for r, q in zip(rows, holm([r["acc"].p for r in rows]), strict=True):
        r["acc_holm"] = q
    return {"epoch": 50, "split": "test_curve", "test_samples": 1000, "fastest": fastest,
            "settings": [{"lr": lr, "acc": summarize(v)} for lr, v in early.items()],
            "rows": rows}


SLOW = [0.40, 0.42, 0.41, 0.43]
FAST = [0.70, 0.71, 0.72, 0.70]
NOISY = [0.45, 0.95, 0.40, 0.90]  # a mean between them, but no consistent difference


@pytest.mark.parametrize(("early", "verdict", "ending"), [
    ({0.01: SLOW, 0.05: FAST}, "true", ": lr 0.01, below it, slower beyond the noise."),
    ({0.01: SLOW, 0.05: FAST, 0.5: SLOW}, "partly",
     ": lr 0.01, below it, slower beyond the noise; lr 0.5, above it, slower too: speed "
     "grows with the rate only up to a point."),
    ({0.01: FAST, 0.05: SLOW}, "false",
     ": lr 0.05, above it, slower beyond the noise: a higher rate was not faster."),
    # the highest rate has the highest mean but no rate is slower beyond the noise: the old
    # rule ("true" whenever the highest rate's mean led) called this true
    ({0.01: NOISY, 0.05: FAST}, "open",
     ": no rate was slower than lr 0.05 beyond the noise, so these runs cannot tell the "
     "rates' speeds apart."),
])
def test_a_higher_rate_trains_faster_is_judged_seed_by_seed_against_the_fastest(
        early, verdict, ending):
    from xpnet.experiments.answers import _speed_claim

    claim = _speed_claim(speed(early), [])
    assert claim.verdict == verdict
    assert claim.because.endswith(ending)
    assert "(picked on these runs, so its lead is a little optimistic)" in claim.because
    assert "seed by seed, Holm-corrected over the" in claim.because


def test_one_rate_is_compared_with_nothing():
    from xpnet.experiments.answers import _lr_sheet

    tables = lr_tables(still_low=False, fell_at_high=0)
    only = summarize([0.75, 0.74, 0.76, 0.77])
    tables["lr"]["rows"] = [r for r in tables["lr"]["rows"] if r["lr"] == 0.05]
    tables["lr_against"].update(rows=[], settings=[{"setting": 0.05, "acc": only}])
    sheet = _lr_sheet(tables, BASE)
    best = next(c for c in sheet.claims if c.quote == "The book's lr 0.05 is the best rate")
    assert best.verdict == "open"  # was "true: ... every other rate lower"
    assert f"only lr 0.05 was tried, at test accuracy {fmt(only)}: there is no other rate" \
        in best.because
    assert sheet.answer.startswith(f"Only lr 0.05 was tried: test accuracy {fmt(only)}.")
    assert "picked on the same test sets" not in sheet.answer


def test_one_seed_says_nothing_can_be_judged():
    from xpnet.experiments.answers import _lr_sheet, provisional

    tables = lr_tables(still_low=False, fell_at_high=0)
    one = {0.001: 0.60, 0.05: 0.75, 0.2: 0.70}
    comps = [{"a": lr, "acc": paired([one[lr]], [one[0.05]]), "acc_holm": math.nan}
             for lr in (0.001, 0.2)]
    tables["lr_against"].update(rows=comps, settings=[{"setting": lr, "acc": summarize([v])}
                                                      for lr, v in one.items()])
    claims = {c.quote: c for c in _lr_sheet(tables, BASE).claims}
    lower = claims["A lower learning rate is more accurate in the end"]
    assert lower.verdict == "open"
    assert "(best minus it: +0.1500 (one pair of runs: no interval or test))" in lower.because
    caution = provisional(BASE, 1)
    assert caution.startswith("How far to trust this: one seed per setting")
    assert "no interval, test or correction can be computed" in caution
    assert "3 seeds per setting" in provisional(BASE, 3)


def test_no_detected_step_quotes_the_lowest_and_highest_means():
    """The smallest size with the highest mean: the range ran from it to itself."""
    tables = samples_tables(-0.001)
    by = {s["setting"]: s["acc"] for s in tables["samples_against"]["settings"]}
    answer = study_sheets(tables, BASE)[1].answer
    assert answer.startswith(
        f"More training data changed test accuracy by no step detectably; its means ranged "
        f"from {fmt(by[1000])} at 1000/class to {fmt(by[30])} at 30/class.")


def test_one_long_run_is_described_as_one_and_judged_by_nothing():
    from xpnet.experiments.answers import _epochs_sheet

    one = summarize([0.02])
    stop = {"epochs": [100], "acc_gain": summarize([0.01]), "loss_gain": summarize([-0.1])}
    epochs = {"rows": [{"epoch": 100}, {"epoch": 1000}], "best_acc_epoch": 100,
              "acc_change": one, "best_loss_epoch": 100, "onset": None, "rise_epoch": None,
              "loss_rise": one, "loss_rise_p": math.nan, "acc_epochs": [100],
              "train_samples": 1000, "n": 1, "split": "test_curve", "early_stopping": stop}
    sheet = _epochs_sheet({"epochs": epochs})
    claims = {c.quote: c for c in sheet.claims}
    overfit = claims["Too many epochs overfit and lower accuracy"]
    assert overfit.verdict == "open"
    assert ("(one run: its epochs picked on its own validation curve, which flatters a change "
            "measured from there, and no interval or test can be computed); one run cannot "
            "show a rise beyond the noise.") in overfit.because
    more = claims["More epochs always help"]
    assert more.verdict == "open" and "from the epochs its own validation accuracy picks" in \
        more.because and more.because.endswith("one run has no interval, so no change can be "
                                               "judged.")
    stopping = claims["Stopping at the lowest validation loss gives a better model"]
    assert stopping.verdict == "open"
    assert stopping.because.endswith("(one run per size: no interval, nothing judged).")
    assert sheet.source == "1 long run per training size, paired within each run."


def claims_of(sheet):
    return {c.quote: c for c in sheet.claims}


def test_one_training_size_says_what_ran_why_nothing_is_judged_and_how_to_fix_it():
    """The teacher's case (--train-samples 100): question 1 was missing from the sheets
    while the report said "nothing to compare"; now the sheet says so too, and still
    answers what the test-set size does where the base size's models measured it."""
    tables = samples_tables(0.05)
    acc = summarize([0.71, 0.70, 0.72])
    tables.update(
        samples={"rows": [{"train_samples": 1000, "train_acc": acc, "train_loss": acc}]},
        samples_against={"reference": 1000, "rows": [], "test_samples": 1000,
                         "settings": [{"setting": 1000, "acc": acc}]},
        samples_scan={"rows": [], "test_samples": 1000})
    sheet = study_sheets(tables, BASE)[1]
    assert sheet.answer.startswith(
        f"The training-set size was not judged: only one training-set size was run, "
        f"1000/class (test accuracy {fmt(acc)} at 1000/class), and what the size does shows "
        "only against another size; to compare, give two or more sizes, e.g. xpnet study "
        "samples --train-samples 30,100,1000 (--resume keeps the runs already stored).")
    claims = claims_of(sheet)
    for quote in ("More training data raises accuracy",
                  "More training data slightly lowers loss"):
        assert claims[quote].verdict == "open"
        assert claims[quote].because.startswith("open: only one training-set size was run, "
                                                "1000/class: a size's effect is a difference")
    # the test-set half stands on the base size's models, and is still answered
    assert verdicts(sheet)["Fewer test samples raise accuracy"] == "false"
    assert " The test-set size changes the noise of the measured accuracy" in sheet.answer
    assert sheet.source.startswith("No two training-set sizes to compare")
    assert not any("Why the gap closes" in e for e in sheet.evidence)


def test_a_size_other_than_the_base_leaves_the_test_set_half_unmeasured():
    acc = summarize([0.71, 0.70, 0.72])
    tables = {"samples": {"rows": [{"train_samples": 100, "train_acc": acc,
                                    "train_loss": acc}]},
              "samples_against": {"reference": 100, "rows": [], "test_samples": 1000,
                                  "settings": [{"setting": 100, "acc": acc}]},
              "samples_scan": {"rows": []},
              "test_size": {"rows": [], "p": math.nan, "classes": 3, "reference": None}}
    sheet = study_sheets(tables, BASE)[1]
    why = ("the test-set sizes are measured on the models of the base setting, 1000/class, "
           "and this run trained none; add it, e.g. --train-samples 100,1000 (--resume keeps "
           "the runs already stored)")
    assert sheet.answer.endswith(f" The test-set size was not judged: {why}.")
    claims = claims_of(sheet)
    assert [c.verdict for c in sheet.claims] == ["open"] * 4
    assert sheet.source == "No two training-set sizes and no two test-set sizes to compare."
    assert claims["Fewer test samples raise accuracy"].because == f"open: {why}."
    assert claims["The book's 100 test samples per class tell two models apart"].because == \
        f"open: {why}."


def test_one_test_size_answers_the_training_sizes_and_says_why_not_the_test_size():
    """--test-samples 1000 with several training sizes: the whole sheet was dropped."""
    tables = samples_tables(0.05)
    tables["test_size"]["rows"] = tables["test_size"]["rows"][1:]  # 1000/class alone
    sheet = study_sheets(tables, BASE)[1]
    assert verdicts(sheet)["More training data raises accuracy"] == "true"
    assert sheet.answer.endswith(
        " The test-set size was not judged: only one test-set size was measured, 1000/class, "
        "and a bias or a narrower spread of the measured accuracy shows only against another "
        "size; start a study with two or more, e.g. --test-samples 10,100,1000 (in a new --out "
        "folder: --resume cannot change the test sets of stored runs).")
    apart = claims_of(sheet)["The book's 100 test samples per class tell two models apart"]
    assert apart.verdict == "open" and apart.because.startswith(
        "open: no test sets of 100/class were measured (only 1000/class)")
    assert claims_of(sheet)["Fewer test samples raise accuracy"].verdict == "open"
    assert sheet.source.startswith("Paired by seed on 1000/class fresh test sets")


def test_runs_that_never_pass_their_lowest_loss_do_not_show_that_epochs_do_not_overfit():
    """--epochs 2: every run's picked epoch is its last, so the rise is exactly 0 with a
    zero-width interval; that was judged 'false' (no overfitting, ruled out)."""
    from xpnet.experiments.answers import _epochs_sheet

    zero = summarize([0.0] * 3)
    stop = {"epochs": [2, 2, 2], "acc_gain": zero, "loss_gain": zero}
    epochs = {"rows": [{"epoch": 1}, {"epoch": 2}], "best_acc_epoch": 2, "acc_change": zero,
              "best_loss_epoch": 2, "onset": None, "rise_epoch": None, "loss_rise": zero,
              "loss_rise_p": 1.0, "loss_epochs": [2, 2, 2], "acc_epochs": [2, 2, 2],
              "train_samples": 1000, "n": 3, "split": "test_curve", "early_stopping": stop}
    claims = claims_of(_epochs_sheet({"epochs": epochs}))
    overfit = claims["Too many epochs overfit and lower accuracy"]
    assert overfit.verdict == "open"
    assert "leave room" not in overfit.because and overfit.because.endswith(
        "; at 1000/class every run's picked epoch was its last, 2: those runs never went past "
        "their lowest validation loss, so what more epochs do after it was not measured there "
        "(longer runs, --epochs, measure it).")
    stopping = claims["Stopping at the lowest validation loss gives a better model"]
    assert stopping.verdict == "open"
    assert stopping.because.endswith("at 1000/class every run stopped at its last epoch, 2, "
                                     "so stopping changed nothing.")
    # a size whose runs did go past their minimum is judged as before
    epochs.update(loss_epochs=[1, 1, 2], acc_epochs=[1, 1, 2])
    assert claims_of(_epochs_sheet({"epochs": epochs}))[
        "Too many epochs overfit and lower accuracy"].verdict == "false"


def test_early_stopping_beside_no_detected_rise_says_why_both_hold():
    """The teacher's case (quick study, 30/class): no rise past Holm (p 0.104) and yet
    stopping lowered test loss beyond the noise; the sheet links the two."""
    from xpnet.experiments.answers import _epochs_sheet

    def size(n, rise, gain):
        stop = {"epochs": [60, 140, 310], "acc_gain": summarize([-0.2, -0.1, -0.15]),
                "loss_gain": summarize(gain), "test_samples": 1000, "last": 3000,
                "acc_stop": summarize([0.5, 0.5, 0.5]), "acc_last": summarize([0.6] * 3)}
        gap = summarize([0.1] * 3)
        return {"rows": [{"epoch": 100, "gap": gap}, {"epoch": 3000, "gap": gap}],
                "best_acc_epoch": 3000,
                "acc_change": summarize([0.0, 0.01, -0.01]), "best_loss_epoch": 140,
                "onset": None, "rise_epoch": None, "loss_rise": summarize(rise),
                "loss_rise_p": 0.05, "loss_rise_holm": 0.104, "loss_epochs": [100, 140, 140],
                "acc_epochs": [3000] * 3, "train_samples": n, "n": 3, "split": "test_curve",
                "early_stopping": stop}

    small = size(30, [0.1, 0.25, 0.35], [-0.25, -0.30, -0.35])
    big = size(1000, [-0.01, 0.0, 0.005], [0.01, -0.01, 0.0])
    tables = {"epochs": big, "crossed": {"rows": [small, big]}}
    claims = claims_of(_epochs_sheet(tables))
    assert claims["Too many epochs overfit and lower accuracy"].verdict == "open"
    stopping = claims["Stopping at the lowest validation loss gives a better model"].because
    link = stopping[stopping.index(" Read beside"):]
    gain = fmt(small["early_stopping"]["loss_gain"], 4)
    assert link == (
        f' Read beside "Too many epochs overfit": at 30/class the loss showed no rise beyond '
        f"the noise ({fmt(small['loss_rise'])}, Holm p = 0.104), yet early stopping lowered the "
        f"test loss beyond it ({gain}). Both can hold, as they measure different things: the "
        "rise runs from an epoch picked on the other runs' validation curves to the end, and "
        "counts only past Holm's correction over the 2 sizes; early stopping compares each run "
        "at its own lowest validation loss with its own last epoch, uncorrected, and a run's "
        "own pick lands "
        "where its test loss dips too (both curves share the run's epoch-to-epoch wobble), "
        "which favours stopping. So the loss may well rise after the best epoch by less than 3 "
        "runs confirm under the stricter test, while each run stopped at its own best still "
        "has a lower test loss than at its end.")
    # the report's section on the sizes, where both stand too, reads them together alike
    from xpnet.experiments.document import Document
    from xpnet.experiments.sections import crossed_section

    doc = Document()
    crossed_section(doc, tables["crossed"])
    assert "- At 30/class the loss showed no rise beyond the noise (" + link[
        len(' Read beside "Too many epochs overfit": at 30/class the loss showed no rise '
            'beyond the noise ('):] in doc.markdown()
    # where the rise is detected, or stopping gains nothing, there is nothing to reconcile
    small["loss_rise_holm"] = 0.01
    assert "Read beside" not in claims_of(_epochs_sheet(tables))[
        "Stopping at the lowest validation loss gives a better model"].because
    small["loss_rise_holm"] = 0.104
    small["early_stopping"]["loss_gain"] = summarize([-0.1, 0.1, 0.0])
    assert "Read beside" not in claims_of(_epochs_sheet(tables))[
        "Stopping at the lowest validation loss gives a better model"].because


def test_one_rate_answers_every_claim_of_question_6_or_says_why_not():
    """--lr 0.05: three of the four claims were left out silently."""
    from xpnet.experiments.answers import _lr_sheet

    tables = lr_tables(still_low=False, fell_at_high=0)
    only = summarize([0.75, 0.74, 0.76, 0.77])
    tables["lr"]["rows"] = [r for r in tables["lr"]["rows"] if r["lr"] == 0.05]
    tables["lr_against"].update(rows=[], settings=[{"setting": 0.05, "acc": only}])
    claims = claims_of(_lr_sheet(tables, BASE))
    assert list(claims) == ["Too high a learning rate makes training fail",
                            "A lower learning rate is more accurate in the end",
                            "The book's lr 0.05 is the best rate",
                            "A higher learning rate trains faster"]
    assert {c.verdict for c in claims.values()} == {"open"}
    assert claims["A lower learning rate is more accurate in the end"].because == (
        f"open: only lr 0.05 was tried (test accuracy {fmt(only)}): there is no lower or "
        "higher rate to compare it with (--lr 0.01,0.05,0.2 compares three).")
    assert claims["A higher learning rate trains faster"].because == (
        "open: only lr 0.05 was tried: there is no other rate to compare its speed with "
        "(--lr 0.01,0.05,0.2 compares three).")


def test_the_lowest_rate_being_best_and_the_books_rate_missing_are_both_said():
    from xpnet.experiments.answers import _lr_sheet

    acc = {0.01: [0.78, 0.79, 0.80, 0.81], 0.1: [0.70, 0.71, 0.69, 0.72],
           0.2: [0.60, 0.62, 0.61, 0.63]}
    comps = [{"a": lr, "acc": paired(acc[lr], acc[0.01])} for lr in (0.1, 0.2)]
    for r, q in zip(comps, holm([r["acc"].p for r in comps]), strict=True):
        r["acc_holm"] = q
    flat = summarize([0.01, -0.01, 0.0, 0.005])
    tables = {"lr": {"rows": [{"lr": lr, "n": 4, "diverged": 0, "val_acc": summarize(v),
                               "late_from": 50, "late_loss": flat, "late_acc": flat,
                               "curve": []} for lr, v in acc.items()]},
              "lr_against": {"reference": 0.01, "rows": comps, "test_samples": 1000,
                             "settings": [{"setting": lr, "acc": summarize(v)}
                                          for lr, v in acc.items()]}}
    claims = claims_of(_lr_sheet(tables, BASE))
    lower = claims["A lower learning rate is more accurate in the end"]
    assert lower.verdict == "true"
    assert lower.because.startswith("true: after 100 epochs the lowest rate tried, lr 0.01, "
                                    "had the highest mean test accuracy")
    book = claims["The book's lr 0.05 is the best rate"]
    assert book.verdict == "open" and book.because == (
        "open: the book's lr 0.05 was not among the rates tried (0.01, 0.1, 0.2), so it was "
        "compared with none of them; add it, e.g. --lr 0.01,0.1,0.2,0.05 (--resume keeps the "
        "runs already stored).")


def test_one_failed_run_shows_a_rate_can_fail_not_how_often():
    """The teacher's case: 'true' on 1 of 1 run."""
    from xpnet.experiments.answers import _lr_sheet

    tables = lr_tables(still_low=False, fell_at_high=0)
    high = next(r for r in tables["lr"]["rows"] if r["lr"] == 0.2)
    for r in tables["lr"]["rows"]:
        r["n"] = 1
    high.update(n=0, diverged=1)
    tables["why"] = {"rows": []}
    fail = claims_of(_lr_sheet(tables, BASE))["Too high a learning rate makes training fail"]
    assert fail.verdict == "partly"
    assert fail.because.endswith(
        " One run per rate: a failure shows that a rate this high can make training fail, but "
        "how often it does was not measured (one failure in one run leaves its rate anywhere "
        "from 0.025 to 1, 95%); --seeds 3 or more measures it.")


def test_the_regularizers_study_alone_still_judges_question_2():
    """xpnet study regularizers: its two claims on overfitting sat in the epochs sheet,
    which was left out without an epochs study."""
    book = [0.70, 0.71, 0.72, 0.70]
    off = {"train_samples": 100, "arm": "no dropout",
           "acc_vs_book": paired(book, [a + 0.1 + 0.002 * i for i, a in enumerate(book)]),
           "acc_holm": 0.001, "gap_vs_book": paired([0.05] * 4, [0.05, 0.051, 0.05, 0.049])}
    sheet = study_sheets({"regularizers": {"rows": [off]}}, BASE)[2]
    assert sheet.answer.startswith("Not studied in this run: xpnet study epochs answers it")
    assert "The claims below come from the regularizers study" in sheet.answer
    assert [c.quote for c in sheet.claims] == ["Dropout and L2 protect against overfitting",
                                               "Dropout makes the model generalize better"]


def test_a_study_that_ran_without_a_finished_run_says_so():
    sheet = study_sheets({"lr": {"rows": []}, "lr_against": None}, BASE)[6]
    assert sheet.answer.startswith("Not answered: the lr study ran, but none of its runs "
                                   "finished")


def test_one_regularizer_arm_judges_that_regularizer_and_names_the_other_unjudged():
    """Only "no L2" beside the book's: L2 protects, dropout is not judged, so the claim on
    both is partly (it was true on L2 alone)."""
    book = [0.70, 0.71, 0.72, 0.70]
    no_l2 = {"train_samples": 100, "arm": "no L2", "acc_holm": 0.001,
             "acc_vs_book": paired(book, [a - 0.08 + 0.002 * i for i, a in enumerate(book)]),
             "gap_vs_book": paired([0.05] * 4, [0.08 + 0.002 * i for i in range(4)])}
    claim = protection_claim({"rows": [no_l2]})
    assert claim.verdict == "partly"
    assert "L2 protects" in claim.because
    assert "; dropout was not judged: no run of the 'no dropout' arm is stored beside the " \
        "book's." in claim.because


def test_the_lr_sheet_names_rates_stored_but_set_aside():
    from xpnet.experiments.answers import _lr_sheet

    tables = lr_tables(still_low=False, fell_at_high=0)
    assert _lr_sheet(tables, BASE).evidence == []
    tables["lr"]["set_aside"] = [{"lr": 0.0224, "seeds": 4}]
    evidence = _lr_sheet(tables, BASE).evidence
    assert len(evidence) == 1 and evidence[0].startswith(
        "Stored but not used: the runs at lr 0.0224, a grid refined around another rate, the "
        "best of the first pass before --resume extended the study. This 1 rate is left out "
        "because an earlier pick placed it, one the extended runs no longer make")
    assert evidence[0].endswith("; it stays in results.sqlite, not in results.csv.")
    assert "seeds" not in evidence[0]  # all 4 seeds ran: no seed caveat


def test_a_rate_well_above_chance_is_not_failed_on_a_wide_two_seed_interval():
    """A resumed two-seed study: lr 0.01 at mean 0.655 [0.253, 1.000] was counted as 'no
    better than guessing' (its t(1) interval holds 1/3) and 'Training failed at lr 0.01 (0
    of 2 runs)'. Only a mean near chance whose interval holds it counts."""
    from xpnet.experiments.answers import _lr_sheet

    tables = lr_tables(still_low=False, fell_at_high=0)
    rows = {r["lr"]: r for r in tables["lr"]["rows"]}
    rows[0.2]["val_acc"] = summarize([0.40, 0.91])  # mean 0.655, interval holds 1/3
    rows[0.001]["val_acc"] = summarize([0.30, 0.40])  # mean 0.35, near chance
    sheet = _lr_sheet(tables, BASE)
    fail = claims_of(sheet)["Too high a learning rate makes training fail"]
    assert "lr 0.001:" in fail.because and "lr 0.2:" not in fail.because
    assert "Training failed at lr 0.001" in sheet.answer and "lr 0.2 (" not in sheet.answer
