"""The why, measured: dead ReLU units, collapse to one class and loss-versus-accuracy
divergence, from hand-made models and histories to a study's report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xpnet import Model
from xpnet.experiments import Store, plan, run
from xpnet.experiments import analysis as an
from xpnet.experiments.document import Document
from xpnet.experiments.report import write_report
from xpnet.experiments.sections import why_section
from xpnet.experiments.trial import dead_units, predicted_classes
from xpnet.experiments.why import LEARNED
from xpnet.nn import Dense, ReLU, Softmax

X = np.array([[1.0, 2.0], [3.0, 0.5], [-1.0, 1.0]])


def hand_made(W1, b1, W2=None, b2=None):
    """Dense(2, 4) -> ReLU -> Dense(4, 3) -> Softmax with the given parameters."""
    model = Model(seed=0)
    first = model.add(Dense(2, 4))
    model.add(ReLU())
    second = model.add(Dense(4, 3))
    model.add(Softmax())
    first.params["W"][...], first.params["b"][...] = W1, b1
    if W2 is not None:
        second.params["W"][...], second.params["b"][...] = W2, b2
    return model


def test_dead_units_counts_the_all_zero_columns_of_the_relu_outputs():
    # unit 0 follows x0 (active on rows 0, 1), unit 1 is -x0 - x1 (negative on rows 0, 1,
    # zero on row 2: never > 0, so dead), unit 2 has bias -10 (dead), unit 3 is x1 (active)
    W1 = [[1.0, -1.0, 0.0, 0.0], [0.0, -1.0, 0.0, 1.0]]
    model = hand_made(W1, [[0.0, 0.0, -10.0, 0.0]])
    model.forward(X, training=False)
    assert dead_units(model) == 2
    model.forward(X[2:], training=False)  # on row 2 alone unit 0 is dead too
    assert dead_units(model) == 3


def test_predicted_classes_sees_a_collapse_to_one_class():
    W1 = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]
    W2 = np.zeros((4, 3))
    collapsed = hand_made(W1, np.zeros((1, 4)), W2, [[0.0, 5.0, 0.0]])  # class 1 always
    assert predicted_classes(collapsed, X) == 1
    assert dead_units(collapsed) == 2  # its forward pass left the ReLU outputs behind
    W2[0, 0], W2[1, 2] = 10.0, 10.0  # x0 votes class 0, x1 class 2
    apart = hand_made(W1, np.zeros((1, 4)), W2, [[0.0, 0.0, 0.0]])
    assert predicted_classes(apart, X) == 2


def test_collapsed_at_skips_the_opening_and_finds_the_first_collapse():
    epochs = [1, 2, 5, 10, 20]
    assert an.collapsed_at(pd.Series([1, 1, 3, 3, 3], epochs)) is None  # one class at first
    assert an.collapsed_at(pd.Series([1, 3, 3, 1, 3], epochs)) == 10
    # learning must last two logged epochs: one epoch of it is a first step's swing (the
    # teacher's lr 0.2 run, 'learned' at epoch 1 and 'collapsed' at epoch 2)
    assert an.collapsed_at(pd.Series([1, 3, 1, 3, 1], epochs)) is None
    swing = pd.Series([0.5, 0.33, 0.6, 0.7, 0.7], epochs)
    assert an.collapsed_at(pd.Series([3, 1, 3, 3, 3], epochs), swing,
                           learned=1 / 3 + LEARNED) is None
    assert an.collapsed_at(pd.Series([2, 3, 3, np.nan, 1], epochs)) == 20
    # two classes predicted at chance is still the start: a collapse needs a run that had
    # learned something (accuracy LEARNED above chance, here 1/3 + 0.1)
    acc = pd.Series([0.34, 0.33, 0.6, 0.7, 0.33], epochs)
    learned = 1 / 3 + LEARNED
    assert an.collapsed_at(pd.Series([2, 1, 3, 3, 1], epochs), acc, learned=learned) == 20
    assert an.collapsed_at(pd.Series([2, 1, 2, 2, 2], epochs), acc, learned=learned) is None
    assert an.collapsed_at(pd.Series([2, 2, 1, 2, 2], epochs)) == 5  # without accuracies


def test_overconfident_at_flags_loss_rising_while_accuracy_holds():
    epochs = [1, 10, 100, 300, 1000]
    loss = pd.Series([1.10, 0.60, 0.50, 0.54, 0.70], epochs)
    # +8% at 300 is under the 10% threshold; +40% at 1000 with accuracy up: flagged there
    assert an.overconfident_at(loss, pd.Series([0.4, 0.8, 0.85, 0.85, 0.86], epochs)) == 1000
    # accuracy 0.5 point below its value at the lowest loss still holds; 2 points does not
    assert an.overconfident_at(loss, pd.Series([0.4, 0.8, 0.85, 0.85, 0.845], epochs)) == 1000
    assert an.overconfident_at(loss, pd.Series([0.4, 0.8, 0.85, 0.85, 0.83], epochs)) is None
    # a swing before the loss beats a uniform guess (ln 3) is not overconfidence
    swing = pd.Series([1.5, 3.0, 1.0, 0.9, 0.9], epochs)
    acc = pd.Series([0.4, 0.4, 0.5, 0.6, 0.6], epochs)
    assert an.overconfident_at(swing, acc) == 10
    assert an.overconfident_at(swing, acc, below=np.log(3)) is None
    # a first large step that swings the loss of a model still at chance: not a lowest loss
    # to rise from until accuracy has left chance behind
    jump = pd.Series([1.09, 1.6, 0.8, 0.7, 0.69], epochs)
    start = pd.Series([0.34, 0.33, 0.6, 0.7, 0.72], epochs)
    assert an.overconfident_at(jump, start, below=np.log(3)) == 10
    assert an.overconfident_at(jump, start, below=np.log(3), learned=1 / 3 + LEARNED) is None


def _trial(key, lr, seed, history, diverged_at=None):
    """A stored trial of ch15 (64 hidden units) with rows per epoch:
    (val loss, val acc, val classes, dead units)."""
    rows = []
    for epoch, (loss, acc, classes, dead) in history.items():
        for split, metric, value in (("validation", "loss", loss), ("validation", "acc", acc),
                                     ("validation", "classes", classes),
                                     ("train", "dead_units", dead)):
            rows.append({"epoch": epoch, "split": split, "metric": metric, "value": value,
                         "test_samples": 0, "rep": 0})
    return {"key": key, "config": {"preset": "ch15", "seed": seed, "lr": lr,
                                   "train_samples": 1000, "epochs": 100},
            "rows": rows, "snapshots": {}, "seconds": 0.1, "diverged_at": diverged_at}


def test_why_table_counts_dead_collapsed_and_overconfident_runs(tmp_path):
    with Store(tmp_path) as store:
        store.add(_trial("a", 0.05, 0, {1: (1.0, 0.5, 3, 0), 50: (0.5, 0.8, 3, 1),
                                        100: (0.6, 0.8, 3, 2)}))
        store.add(_trial("b", 0.05, 1, {1: (1.0, 0.5, 3, 0), 100: (0.5, 0.8, 3, 0)}))
        store.add(_trial("c", 1.0, 0, {1: (1.0, 0.5, 2, 10), 20: (0.9, 0.6, 3, 10),
                                       50: (1.1, 0.33, 1, 40), 100: (1.1, 0.33, 1, 60)}))
        store.add(_trial("d", 1.0, 1, {1: (1.0, 0.5, 2, 10), 20: (0.9, 0.6, 3, 10),
                                       50: (1.1, 0.35, 1, 20), 100: (1.0, 0.4, 3, 30)}))
        store.add(_trial("e", 1.0, 2, {1: (np.nan, 0.3, 1, 64)}, diverged_at=3))
        status = an.trial_status(store)
        assert status.loc["a", "overconfident_at"] == 100 and status["measured"].all()
        assert status.loc["c", "dead_fraction"] == 60 / 64 and status.loc["c", "collapsed_end"]
        base = an.Base(1000, 0.05, 100)
        rows = {r["value"]: r for r in an.why_table(store, base, ["lr"])["rows"]}
    slow, fast = rows[0.05], rows[1.0]
    assert (slow["overconfident"], slow["overconfident_at"], slow["half_dead"]) == (1, [100], 0)
    assert slow["dead"].mean == pytest.approx(1 / 64)  # (2 + 0) / 2 of 64
    assert (fast["runs"], fast["measured"], fast["diverged"]) == (3, 2, 1)
    assert (fast["collapsed"], fast["collapsed_at"], fast["collapsed_end"]) == (2, [50, 50], 1)
    assert fast["half_dead"] == 1 and fast["half_dead_acc"].mean == pytest.approx(0.33)


def test_a_run_that_falls_back_late_is_counted_with_the_regularizers_arms(tmp_path):
    # the teacher's case: one seed of an arm crashes late (0.80 -> 0.42) without diverging
    # or predicting one class; the why table names it, per arm and size
    def arm_trial(key, seed, arm, history):
        t = _trial(key, 0.05, seed, history)
        t["config"].update(train_samples=100, **arm)
        return t

    with Store(tmp_path) as store:
        for seed in range(3):
            store.add(arm_trial(f"book{seed}", seed, {}, {1: (1.0, 0.5, 3, 0),
                                                          100: (0.6, 0.72, 3, 0)}))
            crash = seed == 2
            store.add(arm_trial(f"none{seed}", seed, {"dropout": 0.0, "l2": 0.0, "decay": 0.0},
                                {1: (1.0, 0.5, 3, 0), 50: (0.5, 0.80, 3, 0),
                                 100: (3.1 if crash else 0.5, 0.42 if crash else 0.78, 3, 0)}))
        base = an.Base(1000, 0.05, 100)
        assert an.trial_status(store).loc["none2", "fell_at"] == 100
        rows = [r for r in an.why_table(store, base, ["regularizers"])["rows"]]
    assert [r["value"] for r in rows] == ["book|100", "none|100"]
    book, none = rows
    assert (book["fell"], none["fell"], none["fell_at"]) == (0, 1, [100])
    assert none["collapsed"] == 0 and none["diverged"] == 0
    # seen at the last logged epoch only: a late drop, and the report says so
    assert none["fell_late"] == 1
    doc = Document()
    why_section(doc, {"rows": rows, "loss_rise": 0.1, "acc_hold": 0.01, "fall": 0.2,
                      "learned": 0.1, "classes": 3})
    assert ("1 of 3 runs ended fallen back: validation accuracy 0.2 or more below its best "
            "(from epoch 100) at the end, without diverging; all of them at the last logged "
            "epoch only") in doc.markdown()


def test_failed_runs_count_the_half_dead_and_the_report_weighs_a_late_fall(tmp_path):
    """The teacher's lr 0.126 case: runs that fall back at the last epoch with most units
    dead, and one with over half dead that did not fall back (counted as failed too); the
    report says dead units get no gradient from the data and what the setting's own runs
    show about coming back (here one run did)."""
    with Store(tmp_path) as store:
        store.add(_trial("late", 0.126, 0, {1: (1.0, 0.5, 3, 0), 50: (0.5, 0.80, 3, 5),
                                            100: (2.0, 0.50, 3, 56)}))
        store.add(_trial("dead", 0.126, 1, {1: (1.0, 0.5, 3, 0), 50: (0.5, 0.79, 3, 10),
                                            100: (0.7, 0.67, 3, 38)}))
        # over half dead after it had learned (epochs 20 and 50), then back
        store.add(_trial("back", 0.126, 2, {1: (1.0, 0.5, 3, 40), 20: (0.7, 0.7, 3, 5),
                                            50: (0.6, 0.75, 3, 45), 100: (0.5, 0.80, 3, 12)}))
        status = an.trial_status(store)
        assert list(status.loc[["late", "dead", "back"], "failed"]) == [True, True, False]
        assert status.loc["back", "peak_dead_fraction"] == 45 / 64
        assert list(status.loc[["late", "dead", "back"], "revived"]) == [False, False, True]
        (row,) = an.why_table(store, an.Base(1000, 0.05, 100), ["lr"])["rows"]
    assert (row["failed"], row["fell"], row["half_dead"]) == (2, 1, 2)
    assert (row["fell_late"], row["fell_late_dead"], row["revived"]) == (1, 1, 1)
    doc = Document()
    why_section(doc, {"rows": [row], "loss_rise": 0.1, "acc_hold": 0.01, "fall": 0.2,
                      "learned": 0.1, "classes": 3})
    text = doc.markdown()
    assert "might have recovered" not in text
    assert ("whether a longer run would have come back was not measured; the late drop ends "
            "with over half its units dead, which get no gradient from the data") in text
    assert ("at this setting 1 of 3 runs came back from over half dead after learning, at a "
            "later logged epoch") in text


def test_an_old_store_without_the_measurements_reads_and_says_so(tmp_path):
    with Store(tmp_path) as store:
        old = _trial("a", 0.05, 0, {})
        old["rows"] = [{"epoch": 100, "split": "validation", "metric": "acc", "value": 0.8,
                        "test_samples": 0, "rep": 0}]
        store.add(old)
        status = an.trial_status(store)
        rows = an.why_table(store, an.Base(1000, 0.05, 100), ["lr"])["rows"]
    assert not status.loc["a", "measured"] and rows[0]["measured"] == 0


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("why")
    trials = plan(["lr"], grid="quick", seeds=2, train_samples=(30,), lr=(0.05, 0.5),
                  epochs=200, test_samples=(10,))
    with Store(out) as store:
        run(trials, store, workers=1)
        md, _ = write_report(store, out, ["lr"], an.Base.from_plan(trials))
    return md.read_text()


def test_the_report_states_the_inside_measurements_with_their_numbers(report):
    assert "## Inside the runs: dead units, collapse, overconfidence" in report
    assert "| setting | runs | diverged | collapsed (at epoch) |" in report
    assert "| lr 0.5 | 2 | 0 |" in report
