"""Settings compared seed by seed on the largest test sets, and the report sentences those
comparisons choose, on hand-made frames whose numbers are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xpnet.experiments import analysis as an
from xpnet.experiments.neighbours import (
    against_table,
    compare_settings,
    neighbours_table,
    seed_values,
)
from xpnet.experiments.report import build_report
from xpnet.experiments.stats import fmt, holm, spread_ratio

BASE = an.Base(100, 0.05, 10)
SIZES = (10, 50)  # test samples per class; the larger one is what comparisons use


def runs(test_acc, varied="train_samples", *, train_acc=None, val_acc=None, reps=2):
    """A frame like load()'s: per setting of ``varied``, one run per seed with this test
    accuracy at the largest test size (the mean of ``reps`` repeats, ``value -+ 0.002``),
    a smaller test size 0.3 off (so using it would show), test loss ``1 - acc``, training
    accuracy ``acc + 0.05`` (or ``train_acc``) and validation accuracy ``acc`` (or
    ``val_acc``). A NaN accuracy is a run that diverged."""
    rows = []
    for setting, per_seed in test_acc.items():
        for seed, acc in enumerate(per_seed):
            config = {"train_samples": BASE.train_samples, "lr": BASE.lr, varied: setting}
            common = {"key": f"{varied}={setting}/{seed}", "preset": "ch15", "seed": seed,
                      **config, "epochs": BASE.epochs, "arm": "book",
                      "diverged_at": 3 if math.isnan(acc) else pd.NA}
            if math.isnan(acc):
                rows.append({**common, "epoch": 1, "split": "validation", "metric": "acc",
                             "test_samples": 0, "rep": 0, "value": 0.4})
                continue
            train = acc + 0.05 if train_acc is None else train_acc[setting][seed]
            val = acc if val_acc is None else val_acc[setting][seed]
            for split, metric, value in (("train", "acc", train), ("train", "loss", 1 - train),
                                         ("validation", "acc", val),
                                         ("validation", "loss", 1 - val)):
                rows.append({**common, "epoch": BASE.epochs, "split": split, "metric": metric,
                             "test_samples": 0, "rep": 0, "value": value})
            for size in SIZES:
                shift = 0.0 if size == SIZES[-1] else 0.3
                for rep in range(reps):
                    value = acc + shift + (0.002 if rep % 2 else -0.002) * (reps % 2 == 0)
                    for metric, v in (("acc", value), ("loss", 1 - value)):
                        rows.append({**common, "epoch": BASE.epochs, "split": "test",
                                     "metric": metric, "test_samples": size, "rep": rep,
                                     "value": v})
    return pd.DataFrame(rows, columns=list(an.FRAME_COLUMNS)).astype(
        {"diverged_at": "Int64", "epoch": "Int64", "test_samples": "Int64", "rep": "Int64"})


def report(frame, studies):
    tables = {"samples": an.samples_table(frame, BASE),
              "test_size": an.test_size_table(frame, BASE),
              "test_size_iid": an.test_size_table(frame, BASE, "test_iid"),
              "samples_scan": neighbours_table(frame, BASE, "samples"),
              "samples_against": against_table(frame, BASE, "samples"),
              "lr": an.lr_table(frame, BASE), "lr_scan": neighbours_table(frame, BASE, "lr"),
              "lr_against": against_table(frame, BASE, "lr")}
    return build_report(tables, studies, BASE, seeds=4).markdown(), tables


# -- the data side ----------------------------------------------------------------------------
SMALL = [0.60, 0.63, 0.58, 0.65]
MID = [0.70, 0.74, 0.69, 0.75]
LARGE = [0.72, 0.73, 0.71, 0.76]


def test_compare_settings_pairs_the_runs_of_a_seed_on_the_largest_test_sets():
    frame = runs({10: SMALL, 30: [0.70, math.nan, 0.69, 0.75], 100: LARGE})
    values = seed_values(frame, BASE, "samples")
    assert values["test_samples"] == SIZES[-1] and values["varied"] == "train_samples"
    acc = values["values"]["acc"]
    assert list(acc.columns) == [10, 30, 100] and list(acc.index) == [0, 1, 2, 3]
    assert acc[10].tolist() == pytest.approx(SMALL)  # the repeats' mean, not the 10/class sets
    assert values["values"]["gap"][100].tolist() == pytest.approx([0.05] * 4)
    r = compare_settings(values, 10, 100)
    assert (r["a"], r["b"]) == (10, 100)
    d = np.subtract(LARGE, SMALL)
    assert r["acc"].diff.mean == pytest.approx(d.mean())
    assert r["acc"].p == pytest.approx(stats.ttest_rel(LARGE, SMALL).pvalue)
    assert r["loss"].diff.mean == pytest.approx(-d.mean())
    # seed 1 diverged at 30/class: it drops out of that pair only
    r = compare_settings(values, 30, 100)
    assert (r["acc"].diff.n, r["acc"].diff.excluded) == (3, 1)
    keep = [0, 2, 3]
    assert r["acc"].p == pytest.approx(stats.ttest_rel(
        [LARGE[i] for i in keep], [MID[i] for i in keep]).pvalue)
    # the scans are built from the same comparison, Holm-adjusted within each family
    scan = neighbours_table(frame, BASE, "samples")
    assert [(row["a"], row["b"]) for row in scan["rows"]] == [(10, 30), (30, 100)]
    assert scan["rows"][1]["acc"] == r["acc"]
    against = against_table(frame, BASE, "samples")
    assert against["reference"] == 100 and [row["a"] for row in against["rows"]] == [10, 30]
    assert against["rows"][1]["acc"] == r["acc"]
    assert [row["acc_holm"] for row in against["rows"]] == pytest.approx(
        holm([row["acc"].p for row in against["rows"]]))
    gap = next(s for s in against["settings"] if s["setting"] == 10)["gap"]
    assert gap.diff.mean == pytest.approx(0.05) and gap.p == 0.0  # the same gap every run
    with pytest.raises(ValueError, match="'samples' or 'lr'"):
        seed_values(frame, BASE, "epochs")


def test_against_table_picks_the_best_lr_on_the_test_sets():
    # on the validation set lr 0.01 looks best; on the test sets lr 0.05 is
    test = {0.01: [0.70, 0.71, 0.69, 0.72], 0.05: [0.75, 0.74, 0.76, 0.77],
            0.5: [0.40, 0.42, 0.39, 0.41]}
    val = {0.01: [0.9] * 4, 0.05: [0.8] * 4, 0.5: [0.3] * 4}
    frame = runs(test, "lr", val_acc=val)
    t = against_table(frame, BASE, "lr")
    assert t["reference"] == 0.05 and t["chosen"] == "best"
    assert an.lr_table(frame, BASE)["best_lr"] == 0.01
    assert [row["a"] for row in t["rows"]] == [0.01, 0.5]
    assert t["rows"][1]["acc"].diff.mean == pytest.approx(
        np.mean(test[0.05]) - np.mean(test[0.5]))


# -- the words --------------------------------------------------------------------------------
def test_samples_sentences_state_a_detected_rise_with_its_paired_test():
    text, tables = report(runs({10: SMALL, 30: MID, 100: LARGE}), ["samples"])
    first = tables["samples_against"]["rows"][0]
    assert first["acc"].p < 0.05
    assert ("More training samples raised test accuracy from "
            f"{fmt(tables['samples_against']['settings'][0]['acc'])} at 10/class") in text
    assert f"a change of {fmt(first['acc'].diff, 4)} (paired t-test p" in text
    # 30/class is within the noise of 100/class: a plateau, with what the design could see
    plateau = tables["samples_against"]["rows"][1]
    assert plateau["acc"].p >= 0.05
    assert "Already at 30/class, test accuracy" in text
    assert f"detects only differences of {plateau['acc'].mde:.4f} or more" in text
    assert plateau["acc"].mde < first["acc"].diff.mean
    assert "weak evidence that accuracy levels off" not in text
    assert "differ by less than the noise" not in text and "95% CIs overlap" not in text


def test_a_plateau_the_design_could_not_have_missed_is_called_weak():
    # a small, steady rise from 10/class; 30/class scatters too much to place a plateau
    text, tables = report(runs({10: [0.60, 0.61, 0.62, 0.60], 30: [0.66, 0.58, 0.70, 0.62],
                                100: [0.66, 0.66, 0.67, 0.65]}), ["samples"])
    first, plateau = tables["samples_against"]["rows"]
    assert first["acc"].p < 0.05 <= plateau["acc"].p
    assert plateau["acc"].mde > first["acc"].diff.mean
    assert "Already at 30/class, test accuracy" in text
    assert (f"That is no smaller than the whole change from 10/class to 100/class "
            f"({first['acc'].diff.mean:.4f}), so this is weak evidence") in text


def test_samples_sentences_state_the_detectable_difference_when_none_is_found():
    same = [0.72, 0.70, 0.74, 0.71]
    text, tables = report(runs({10: [0.71, 0.72, 0.72, 0.70], 100: same}), ["samples"])
    first = tables["samples_against"]["rows"][0]
    assert first["acc"].p >= 0.05
    assert "More training samples raised test accuracy" not in text
    assert (f"differ per seed by {fmt(first['acc'].diff, 4)}, p = {first['acc'].p:.3f}: no "
            "difference detected") in text
    assert (f"With 4 seeds and sd {first['acc'].diff.sd:.4f} of the per-seed differences, the "
            f"design detects only differences of {first['acc'].mde:.4f} or more") in text
    assert "Already at" not in text  # no plateau without a rise to level off


def test_lr_sentences_compare_each_rate_with_the_best_after_holm():
    test = {0.01: [0.73, 0.76, 0.74, 0.73], 0.05: [0.75, 0.74, 0.76, 0.77],
            0.5: [0.40, 0.42, 0.39, 0.41]}
    val = {0.01: [0.9] * 4, 0.05: [0.8] * 4, 0.5: [0.3] * 4}
    text, tables = report(runs(test, "lr", val_acc=val), ["lr"])
    t = tables["lr_against"]
    tie, low = t["rows"]
    assert low["acc_holm"] < 0.05 <= tie["acc_holm"]
    assert "On the fresh test sets the highest mean test accuracy was at lr 0.05" in text
    assert "On the validation set the highest mean final accuracy was at lr 0.01" in text
    assert (f"Lower than at lr 0.05, per seed and after Holm's correction over 2 comparisons: "
            f"lr 0.5 ({fmt(t['settings'][2]['acc'])}; lr 0.05 higher by "
            f"{fmt(low['acc'].diff, 4)}") in text
    assert (f"lr 0.01 ({fmt(t['settings'][0]['acc'])}) is not detectably different from lr "
            f"0.05: per seed, lr 0.05 minus lr 0.01 is {fmt(tie['acc'].diff, 4)}") in text
    assert f"detects only differences of {tie['acc'].mde:.4f} or more" in text
    assert "picked as the best on these same test sets, which flatters it" in text
    assert "Within the noise of it" not in text and "Lower beyond the noise" not in text


def test_a_rate_that_differs_alone_but_not_after_holm_is_said_so():
    # the teacher's contradiction: "not detectably different" beside p = 0.02 and a
    # difference larger than the one the design could detect
    best = [0.80, 0.78, 0.79, 0.81]
    def below(diffs):
        return [b - d for b, d in zip(best, diffs, strict=True)]

    test = {0.001: [0.40, 0.41, 0.39, 0.40], 0.01: below([0.03, 0.01, 0.01, 0.03]),
            0.05: best, 0.1: below([0.03, 0.012, 0.01, 0.03])}
    val = {lr: [0.5] * 4 for lr in test}
    text, tables = report(runs(test, "lr", val_acc=val), ["lr"])
    by_lr = {r["a"]: r for r in tables["lr_against"]["rows"]}
    alone = by_lr[0.01]
    assert alone["acc"].p < 0.05 <= alone["acc_holm"]
    assert ("lr 0.01 (" in text and "differs from lr 0.05 taken alone but not after Holm's "
            "correction over 3 comparisons" in text)
    assert "lr 0.01 (" + fmt(tables["lr_against"]["settings"][1]["acc"]) + ") is not " \
        "detectably" not in text


def spreads(book_sd, iid_sd, trials=4, reps=10, seed=0):
    """The base setting's runs, each measured on ``reps`` book and i.i.d. test sets whose
    accuracies scatter with these sds (10/class; 5x less at 50/class)."""
    rng = np.random.default_rng(seed)
    frame = runs({BASE.train_samples: [0.7] * trials})
    extra = []
    for seed_ in range(trials):
        key = f"train_samples={BASE.train_samples}/{seed_}"
        common = frame[frame["key"] == key].iloc[0][list(an.FRAME_COLUMNS[:7])].to_dict()
        for split, sd in (("test", book_sd), ("test_iid", iid_sd)):
            for size in SIZES:
                for rep in range(reps):
                    acc = 0.7 + rng.normal(0, sd * (10 / size) ** 0.5)
                    extra += [{**common, "epoch": BASE.epochs, "split": split, "metric": m,
                               "test_samples": size, "rep": rep, "value": v}
                              for m, v in (("acc", acc), ("loss", 1 - acc))]
    frame = frame[frame["split"] != "test"]
    return pd.concat([frame, pd.DataFrame(extra)], ignore_index=True).astype(frame.dtypes)


def test_iid_sentence_states_a_difference_only_when_the_ratio_ci_excludes_one():
    text, tables = report(spreads(0.01, 0.05), ["samples"])
    book, iid = tables["test_size"]["rows"][0], tables["test_size_iid"]["rows"][0]
    assert (book["trials"], book["repeats"]) == (4, 10)
    f = spread_ratio(book["acc_sd"], 36, iid["acc_sd"], 36)  # 4 trials x (10 - 1) apiece
    assert f.ci_high < 1
    assert (f"At 10/class the book's sets' sd is {f.ratio:.2f} times the i.i.d. sets' (95% CI "
            f"[{f.ci_low:.2f}, {f.ci_high:.2f}]") in text
    assert "less noisy than independent points would" in text
    assert "cannot tell the two spreads apart" not in text

    text, tables = report(spreads(0.03, 0.03, trials=2, reps=3), ["samples"])
    book, iid = tables["test_size"]["rows"][0], tables["test_size_iid"]["rows"][0]
    f = spread_ratio(book["acc_sd"], 4, iid["acc_sd"], 4)
    assert f.ci_low < 1 < f.ci_high
    assert "less noisy than independent points" not in text
    assert (f"cannot tell the two spreads apart: it detects only a true ratio below "
            f"{f.detectable_low:.2f} or above {f.detectable_high:.2f}") in text
    assert "How many test samples a ±1-point estimate needs" in text


# -- how fast each learning rate learns ----------------------------------------------------------
def curve_runs(early):
    """Runs of the lr study logged at epochs 1, 10 and 100 (of 100), with this fresh-test
    accuracy at epoch 10 per rate and seed (0.34 at epoch 1, 0.8 at 100, validation 0.05
    below the test curve throughout)."""
    rows = []
    for lr, per_seed in early.items():
        for seed, acc in enumerate(per_seed):
            common = {"key": f"lr={lr}/{seed}", "preset": "ch15", "seed": seed,
                      "train_samples": BASE.train_samples, "lr": lr, "epochs": 100,
                      "arm": "book", "diverged_at": pd.NA, "metric": "acc", "rep": 0}
            for epoch, value in ((1, 0.34), (10, acc), (100, 0.8)):
                rows.append({**common, "epoch": epoch, "split": "test_curve",
                             "test_samples": 50, "value": value})
                rows.append({**common, "epoch": epoch, "split": "validation",
                             "test_samples": 0, "value": value - 0.05})
    return pd.DataFrame(rows, columns=list(an.FRAME_COLUMNS)).astype(
        {"diverged_at": "Int64", "epoch": "Int64", "test_samples": "Int64", "rep": "Int64"})


def test_the_speed_table_compares_every_rate_with_the_fastest_seed_by_seed():
    from xpnet.experiments.neighbours import speed_table
    from xpnet.experiments.stats import paired

    early = {0.01: [0.40, 0.42, 0.41, 0.43], 0.05: [0.60, 0.61, 0.62, 0.60],
             0.5: [0.50, 0.58, 0.49, 0.61]}
    table = speed_table(curve_runs(early), an.Base(BASE.train_samples, 0.05, 100))
    # a tenth of the 100 epochs, on the fresh test curve (not validation, 0.05 lower)
    assert (table["epoch"], table["split"], table["test_samples"]) == (10, "test_curve", 50)
    assert table["fastest"] == 0.05
    assert [s["lr"] for s in table["settings"]] == [0.01, 0.05, 0.5]
    assert table["settings"][0]["acc"].mean == pytest.approx(0.415)
    expected = [paired(early[lr], early[0.05]) for lr in (0.01, 0.5)]
    assert [r["a"] for r in table["rows"]] == [0.01, 0.5]
    for row, want, q in zip(table["rows"], expected, holm([e.p for e in expected]),
                            strict=True):
        assert row["acc"].diff.mean == pytest.approx(want.diff.mean)
        assert row["acc"].p == pytest.approx(want.p)
        assert row["acc_holm"] == pytest.approx(q)
    # one rate with two or more runs: nothing to compare
    assert speed_table(curve_runs({0.05: early[0.05], 0.5: [0.5]}),
                       an.Base(BASE.train_samples, 0.05, 100)) is None
