"""The lab's designs that can show the effects: training size x epochs crossed, the
regularizers study's arms, early stopping measured on a fresh test curve, the lr grid
refined around its best rate, and whether a rate was still improving when training stopped.
Checked on a small real study and against recomputations from its rows."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from xpnet.experiments import Store, load, plan, run
from xpnet.experiments import analysis as an
from xpnet.experiments.frame import largest_test
from xpnet.experiments.plan import ARMS, GRIDS, arm_of, preset_of, refine_lr
from xpnet.experiments.stats import paired, summarize
from xpnet.experiments.study import refine_trials

TINY = {"grid": "quick", "seeds": 3, "train_samples": (10,), "test_samples": (10, 40),
        "epochs": 60, "long_epochs": 90, "lr": (0.005, 0.05)}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("designs")
    trials = plan(["epochs", "lr", "regularizers"], **TINY)
    with Store(out) as store:
        run(trials, store, workers=1)
        yield store, an.Base.from_plan(trials), trials


def test_plan_crosses_sizes_with_epochs_and_runs_every_arm():
    trials = plan(["epochs", "regularizers"], **TINY)
    long = [t for t in trials if "epochs" in t.studies]
    assert sorted({t.train_samples for t in long}) == sorted(
        {*GRIDS["quick"]["epochs_samples"], 1000})
    assert {t.epochs for t in long} == {90} and all(t.snapshots[-1] == 90 for t in long)
    arms = [t for t in trials if "regularizers" in t.studies]
    assert {(t.train_samples, t.arm) for t in arms} == {
        (n, a) for n in GRIDS["quick"]["regularizer_samples"] for a in ARMS}
    # every trial logs a fresh test set of the largest test size
    assert {t.curve_test for t in trials} == {40}
    # an arm's preset has its regularizers changed, and nothing else
    none = next(t for t in arms if t.arm == "none")
    p = preset_of(none.config)
    assert (p.dropout, p.l2, p.decay, p.l1, p.lr, p.train_samples) == (
        0.0, 0.0, 0.0, 0.0, none.lr, none.train_samples)
    l1 = preset_of(next(t for t in arms if t.arm == "L1 for L2").config)
    assert (l1.l1, l1.l2, l1.dropout) == (5e-4, 0.0, 0.1)
    assert arm_of({"preset": "ch15", "dropout": 0.2}) == "dropout 0.2"


def test_a_regularizers_study_alone_has_a_base():
    base = an.Base.from_plan(plan(["regularizers"], **TINY))
    assert (base.epochs, base.long_epochs, base.train_samples) == (60, None, 1000)


def test_keys_of_trials_without_the_new_fields_are_unchanged():
    trial = plan(["lr"], **TINY)[0]
    # the fields added for the designs stay out of a key while unused
    plain = type(trial)(**{**{k: v for k, v in trial.config.items()
                              if k not in ("curve_test",)}})
    assert "dropout" not in plain.config and "curve_test" not in plain.config
    assert "curve_test" in trial.config


def test_an_arm_trains_its_own_model(study):
    store, _, trials = study
    dropout_off = next(t for t in trials if t.arm == "no dropout")
    blob = store.snapshot(dropout_off.key, dropout_off.epochs)
    with np.load(io.BytesIO(blob)) as saved:
        names = sorted(saved.files)
    # no Dropout layer: the second Dense is layer 2 (Dense, ReLU, Dense), not 3
    assert names == ["layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b"]


def test_early_stopping_is_measured_on_the_fresh_test_curve(study):
    store, base, _ = study
    frame = load(store)
    table = an.epochs_table(frame, base, train_samples=30)
    stop = table["early_stopping"]
    runs = an.fr.finished(frame[(frame["epochs"] == 90) & (frame["train_samples"] == 30)])
    val = runs[(runs["split"] == "validation") & (runs["metric"] == "loss")]
    test = runs[(runs["split"] == "test_curve") & (runs["metric"] == "acc")]
    gains, epochs = [], []
    for key, v in val.groupby("key"):
        e = int(v.loc[v["value"].idxmin(), "epoch"])
        t = test[test["key"] == key].set_index("epoch")["value"]
        gains.append(t[e] - t[90])
        epochs.append(e)
    assert stop["epochs"] == sorted(epochs) and stop["last"] == 90
    assert stop["test_samples"] == 40
    got = stop["acc_gain"]
    want = summarize(gains)
    assert (got.n, got.mean, got.ci_low) == (want.n, pytest.approx(want.mean),
                                             pytest.approx(want.ci_low, nan_ok=True))


def test_crossed_table_has_one_epochs_table_per_size(study):
    store, base, _ = study
    table = an.crossed_table(load(store), base)
    assert [r["train_samples"] for r in table["rows"]] == [30, 1000]
    assert all(r["n"] == 3 and r["rows"][-1]["epoch"] == 90 for r in table["rows"])
    base_table = an.epochs_table(load(store), base)
    assert table["rows"][-1]["best_loss_epoch"] == base_table["best_loss_epoch"]


def test_regularizers_table_pairs_each_arm_with_the_books(study):
    store, base, _ = study
    frame = load(store)
    table = an.regularizers_table(frame, base, store)
    assert table["test_samples"] == 40
    rows = {(r["train_samples"], r["arm"]): r for r in table["rows"]}
    assert set(rows) == {(n, a) for n in (100, 1000) for a in ARMS}
    _, tests = largest_test(an.fr.finished(frame))
    trials = an.fr.trials_of(frame)

    def acc(n, arm):
        keys = trials[(trials["train_samples"] == n) & (trials["arm"] == arm)
                      & (trials["epochs"] == 60) & np.isclose(trials["lr"], 0.05)]
        keys = keys.sort_values("seed")
        return keys["seed"].tolist(), tests.loc[keys.index, "acc"].to_numpy()

    seeds, book = acc(100, "book")
    _, none = acc(100, "none")
    want = paired(book, none)
    got = rows[(100, "none")]["acc_vs_book"]
    assert got.diff.mean == pytest.approx(want.diff.mean) and got.p == pytest.approx(
        want.p, nan_ok=True)
    assert seeds == [0, 1, 2]
    # the Holm adjustment over the five arms of a size never lowers a p-value
    for n in (100, 1000):
        for arm in ARMS:
            if arm != "book":
                r = rows[(n, arm)]
                assert r["acc_holm"] >= r["acc_vs_book"].p or math.isnan(r["acc_vs_book"].p)
    # the weights read from the snapshots: L2 off leaves them no smaller on average here
    book_w = rows[(1000, "book")]["mean_abs"]
    assert book_w.n == 3 and 0 < book_w.mean < 10
    blob = store.snapshot(trials.index[(trials["arm"] == "book")
                                       & (trials["train_samples"] == 1000)
                                       & (trials["epochs"] == 60)
                                       & np.isclose(trials["lr"], 0.05)][0], 60)
    with np.load(io.BytesIO(blob)) as saved:
        W = saved["layers.0.W"]
    assert an.weight_stats(blob) == {"mean_abs": pytest.approx(float(np.abs(W).mean())),
                                     "small": pytest.approx(float((np.abs(W) < 1e-3).mean())),
                                     "zero": float((W == 0).mean())}


def test_the_samples_and_lr_tables_ignore_the_arms(study):
    store, base, _ = study
    table = an.lr_table(load(store), base)
    # two lrs x 3 seeds of the book's setting: no arm run (also at lr 0.05, 1000/class,
    # 60 epochs) is counted in
    assert [(r["lr"], r["n"]) for r in table["rows"]] == [(0.005, 3), (0.05, 3)]


def test_late_change_says_whether_a_rate_was_still_improving(study):
    store, base, _ = study
    frame = load(store)
    row = next(r for r in an.lr_table(frame, base)["rows"] if r["lr"] == 0.005)
    logged = plan(["lr"], **TINY)[0].log_at
    half = min(logged, key=lambda e: abs(e - 30))  # the logged epoch nearest 60 / 2
    assert row["late_split"] == "test_curve" and row["late_from"] == half
    runs = an.fr.finished(an.fr.select(frame, base, lr=False))
    runs = runs[np.isclose(runs["lr"], 0.005) & (runs["split"] == "test_curve")
                & (runs["metric"] == "loss")]
    wide = runs.pivot(index="key", columns="epoch", values="value")
    assert row["late_loss"].mean == pytest.approx((wide[60] - wide[half]).mean())


def test_refine_lr_is_log_spaced_between_the_best_and_its_neighbours():
    assert refine_lr(0.05, (0.01, 0.05, 0.2), 1) == (round(math.sqrt(0.01 * 0.05), 4),
                                                    0.1)
    rates = refine_lr(0.01, (1e-3, 1e-2, 1e-1), 2)
    assert rates == (0.00215, 0.00464, 0.0215, 0.0464)
    assert refine_lr(1e-3, (1e-3, 1e-2), 3) == (0.00178, 0.00316, 0.00562)


def test_refine_trials_add_rates_around_the_best_for_every_seed(study):
    store, _, trials = study
    fine = refine_trials(store, trials, 1)
    frame = load(store, [t.key for t in trials if "lr" in t.studies])
    _, tests = largest_test(an.fr.finished(frame))
    means = tests.join(an.fr.trials_of(frame)["lr"]).groupby("lr")["acc"].mean()
    best = float(means.idxmax())
    assert {t.lr for t in fine} == set(refine_lr(best, (0.005, 0.05), 1))
    assert sorted(t.seed for t in fine) == [0, 1, 2]
    assert all(t.studies == ("lr", "refine") and t.key not in {u.key for u in trials}
               for t in fine)
    assert an.Base.from_plan(trials + fine).refined == tuple(sorted({t.lr for t in fine}))
    assert refine_trials(store, trials, 0) == []


def test_a_study_with_the_new_designs_reports_them(study, tmp_path):
    store, base, trials = study
    from xpnet.experiments.report import write_report

    md, _ = write_report(store, tmp_path, ["epochs", "lr", "regularizers"], base,
                         keys=[t.key for t in trials])
    text = md.read_text()
    assert "### Training size x epochs, and early stopping" in text
    assert "## 4. What do the chapter's regularizers" in text
    rows = an.regularizers_table(load(store, [t.key for t in trials]), base, store)["rows"]
    none = next(r for r in rows if r["train_samples"] == 100 and r["arm"] == "none")
    assert f"100/class, none: test accuracy: changed by {none['acc_vs_book'].diff.mean:.4f}" \
        in text
    assert isinstance(pd.read_csv(tmp_path / "results.csv"), pd.DataFrame)


def test_the_long_runs_continue_the_base_settings_runs(study):
    """The epochs study's long runs at the base setting are the base runs carried on: the
    same validation loss at every epoch both logged (what lets the lr sheet quote how the
    base rate ends in a longer run); a run that differs breaks it."""
    store, base, _ = study
    frame = load(store)
    assert base.epochs < base.long_epochs
    compared = an.continues_base(frame, base)
    # the epochs both runs of a seed logged, which the lr sheet names
    every = an.fr.trials_of(frame)
    long_key = an.fr.select(every, base, epochs=base.long_epochs).index[0]
    short = an.fr.select(every, base)
    pair = [short.index[short["seed"] == every.at[long_key, "seed"]][0], long_key]
    logged = [set(frame[(frame["key"] == k) & (frame["split"] == "validation")]["epoch"])
              for k in pair]
    assert compared == sorted(int(e) for e in logged[0] & logged[1]) and compared[0] == 1
    trials = an.fr.trials_of(frame)
    long = an.fr.select(trials, base, epochs=base.long_epochs).index[0]
    changed = frame.copy()
    hit = ((changed["key"] == long) & (changed["split"] == "validation")
           & (changed["metric"] == "loss") & (changed["epoch"] == 1))
    assert hit.sum() == 1
    changed.loc[hit, "value"] += 1e-3
    assert an.continues_base(changed, base) == []
