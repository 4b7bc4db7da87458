"""The why: what happened inside each run (dead units, collapse to one class,
loss-versus-accuracy divergence), per run and per setting of each study."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .. import presets
from . import frame as fr
from .frame import Base, Table
from .plan import ARMS
from .stats import summarize_as
from .store import Store

__all__ = ["ACC_HOLD", "FALL", "HALF_DEAD", "LEARNED", "LOSS_RISE", "collapsed_at", "fell_at",
           "learned_since", "overconfident_at", "revived_after", "trial_status", "why_table"]

#: Loss-versus-accuracy divergence (an "overconfident" model): validation loss more than
#: ``LOSS_RISE`` (relative) above its lowest value so far while validation accuracy is no more
#: than ``ACC_HOLD`` below its value at that lowest loss. Loss on a fixed validation set is
#: not sampling noise between epochs, so a 10% rise is a real change of the model; 1 point
#: of accuracy is 3 of the book's 300 validation samples.
LOSS_RISE = 0.10
ACC_HOLD = 0.01
#: A run that "fell back": validation accuracy ``FALL`` or more below its best so far, and
#: still so at the end (a late crash that neither diverges nor predicts one class only).
FALL = 0.2
#: A run has learned something once its validation accuracy is ``LEARNED`` above chance
#: (1/k): before that, one class predicted is the start, not a collapse, and a lowest loss
#: is not yet a fitted model's.
LEARNED = 0.1
#: A run "ends half dead" with more than this fraction of its hidden units dead.
HALF_DEAD = 0.5


def overconfident_at(loss: pd.Series, acc: pd.Series, *, rise: float = LOSS_RISE,
                     hold: float = ACC_HOLD, below: float = math.inf,
                     learned: float = -math.inf) -> int | None:
    """The first logged epoch at which validation loss has risen by more than ``rise``
    (relative) above its lowest value so far while validation accuracy stayed within
    ``hold`` of (or rose above) its value at that lowest loss; None if never.

    ``loss`` and ``acc`` are one run's values indexed by epoch. A lowest loss counts only
    once it is under ``below`` and validation accuracy there has reached ``learned``:
    :func:`trial_status` passes ln k, the loss of a uniform guess over k classes, and
    chance plus :data:`LEARNED`, so the opening epochs, where a first large step swings the
    loss of a model that has learned nothing yet, are not taken for overconfidence.

    Examples
    --------
    >>> epochs = [1, 10, 100, 1000]
    >>> overconfident_at(pd.Series([1.0, 0.5, 0.4, 0.5], epochs),
    ...                  pd.Series([0.4, 0.8, 0.85, 0.86], epochs))
    1000
    >>> overconfident_at(pd.Series([1.0, 0.5, 0.4, 0.5], epochs),
    ...                  pd.Series([0.4, 0.8, 0.85, 0.7], epochs)) is None
    True
    >>> overconfident_at(pd.Series([1.09, 1.5, 0.4, 0.39], epochs),  # a first step's swing
    ...                  pd.Series([0.34, 0.34, 0.85, 0.86], epochs), learned=0.43) is None
    True
    """
    best_loss, best_acc = math.inf, math.nan
    for epoch, value in loss.dropna().sort_index().items():
        at = acc.get(epoch, math.nan)
        if value < min(best_loss, below) and at >= learned:
            best_loss, best_acc = value, at
        elif value > (1 + rise) * best_loss and at >= best_acc - hold:
            return int(epoch)
    return None


def learned_since(classes: pd.Series, acc: pd.Series | None = None, *,
                  learned: float = -math.inf) -> int | None:
    """The logged epoch by which a run has learned something and kept it: two or more
    classes predicted at a validation accuracy (``acc``) of at least ``learned`` at two
    logged epochs in a row (the later one); None if never. One epoch is not enough: a
    large first step can swing a model that has learned nothing past the mark and back.

    >>> epochs = [1, 2, 3, 100]
    >>> learned_since(pd.Series([2, 1, 3, 3], epochs), pd.Series([0.5, 0.33, 0.8, 0.8],
    ...               epochs), learned=0.43)
    100
    """
    before = False
    for epoch, value in classes.dropna().sort_index().items():
        at = math.inf if acc is None else acc.get(epoch, math.nan)
        now = value >= 2 and at >= learned
        if now and before:
            return int(epoch)
        before = now
    return None


def collapsed_at(classes: pd.Series, acc: pd.Series | None = None, *,
                 learned: float = -math.inf) -> int | None:
    """The first logged epoch at which a run that had learned something, and kept it
    (:func:`learned_since`), predicts a single class (``classes`` indexed by epoch:
    distinct classes predicted); None if never.

    :func:`trial_status` passes ``learned`` = chance plus :data:`LEARNED`. The opening
    epochs are not a collapse: a model starting from small weights predicts one class, or
    two at chance, before it tells the classes apart, and one large first step may pass
    the mark for an epoch and fall back.

    >>> epochs = [1, 3, 100, 1000]
    >>> collapsed_at(pd.Series([1, 2, 3, 1], epochs), pd.Series([0.33, 0.5, 0.8, 0.33],
    ...              epochs), learned=0.43)
    1000
    >>> collapsed_at(pd.Series([2, 1, 3, 3], epochs), pd.Series([0.34, 0.33, 0.8, 0.8],
    ...              epochs), learned=0.43) is None  # two classes at chance, then one
    True
    >>> collapsed_at(pd.Series([3, 1, 3, 3], epochs), pd.Series([0.5, 0.33, 0.8, 0.8],
    ...              epochs), learned=0.43) is None  # a first step's swing, not learning
    True
    """
    since = learned_since(classes, acc, learned=learned)
    if since is None:
        return None
    late = classes.dropna().sort_index()
    return next((int(e) for e, value in late[late.index > since].items() if value < 2), None)


def revived_after(dead: pd.Series, since: int | None, *, half: float) -> bool:
    """Whether a run came back from over ``half`` units dead after epoch ``since`` (when it
    had learned: :func:`learned_since`): over ``half`` at a logged epoch after it, at most
    ``half`` at a later one (for a while at least). The start-up transient before a run
    has learned says nothing about dying later.

    >>> epochs = [1, 10, 100, 1000]
    >>> revived_after(pd.Series([40, 10, 50, 20], epochs), 10, half=32)
    True
    >>> revived_after(pd.Series([40, 10, 10, 10], epochs), 10, half=32)  # start-up only
    False
    """
    if since is None:
        return False
    late = dead.dropna().sort_index()
    over = False
    for _, value in late[late.index > since].items():
        if value > half:
            over = True
        elif over:
            return True
    return False


def fell_at(acc: pd.Series, *, fall: float = FALL) -> int | None:
    """The first logged epoch from which validation accuracy stays ``fall`` or more below
    its best so far, to the end (``acc`` indexed by epoch); None if it never does.

    >>> epochs = [1, 100, 1000, 1500]
    >>> fell_at(pd.Series([0.4, 0.8, 0.5, 0.42], epochs))
    1000
    >>> fell_at(pd.Series([0.4, 0.8, 0.5, 0.79], epochs)) is None  # it came back
    True
    """
    best, since = -math.inf, None
    for epoch, value in acc.dropna().sort_index().items():
        if value <= best - fall:
            since = int(epoch) if since is None else since
        else:
            since = None
        best = max(best, value)
    return since


def trial_status(source: Store | pd.DataFrame) -> pd.DataFrame:
    """Per trial (indexed by key): what happened inside it.

    Columns: the configuration and ``diverged_at``; ``measured`` (whether the store holds
    the inside measurements: stores written before them do not); ``hidden`` (hidden ReLU
    units); at the last logged epoch ``dead_units`` (never active on the training set),
    ``dead_fraction``, ``val_acc`` and ``collapsed_end`` (one class predicted on the
    validation set); ``collapsed_at`` (:func:`collapsed_at`, validation set) and
    ``overconfident_at`` (:func:`overconfident_at`, on the fresh test curve where the run
    logged one, else validation: ``overconfident_on`` says which) and ``fell_at`` (:func:`fell_at`),
    ``<NA>`` when it did not happen; ``fell_late``, whether that fall shows at the last
    logged epoch only; ``peak_dead_fraction``, the most units dead at any logged epoch;
    ``revived``, whether it came back from over :data:`HALF_DEAD` dead after it had learned
    (:func:`revived_after`);
    ``failed``, whether the run ended fallen back, predicting one class or with more than
    :data:`HALF_DEAD` of its units dead.
    """
    frame = fr.frame_of(source)
    trials = fr.trials_of(frame)
    dead, val_acc = fr.wide(frame, "train", "dead_units"), fr.wide(frame, "validation", "acc")
    classes = fr.wide(frame, "validation", "classes")
    val_loss = fr.wide(frame, "validation", "loss")

    def last(wide: pd.DataFrame) -> pd.Series:
        return wide.ffill(axis=1).iloc[:, -1].reindex(trials.index) if len(wide.columns) \
            else pd.Series(math.nan, index=trials.index)

    def guess(preset: str) -> float:
        return math.log(max(presets.get(preset).classes, 2))

    def learned(preset: str) -> float:
        return 1 / max(presets.get(preset).classes, 2) + LEARNED

    def acc_of(key: Any) -> pd.Series:
        return val_acc.loc[key] if key in val_acc.index else pd.Series(dtype=float)

    out = trials.copy()
    out["measured"] = trials.index.isin(classes.index)
    out["hidden"] = [presets.get(p).hidden * presets.get(p).hidden_layers
                     for p in trials["preset"]]
    out["dead_units"] = last(dead)
    out["dead_fraction"] = out["dead_units"] / out["hidden"]
    peak = dead.max(axis=1).reindex(trials.index) if len(dead.columns) else math.nan
    out["peak_dead_fraction"] = peak / out["hidden"]
    out["val_acc"] = last(val_acc)
    out["collapsed_end"] = last(classes) == 1
    out["collapsed_at"] = pd.Series(
        {k: collapsed_at(classes.loc[k], acc_of(k), learned=learned(trials.at[k, "preset"]))
         for k in classes.index}, dtype="Int64").reindex(trials.index)
    since = {k: learned_since(classes.loc[k], acc_of(k), learned=learned(trials.at[k, "preset"]))
             for k in classes.index}
    out["revived"] = pd.Series(
        {k: revived_after(dead.loc[k], since.get(k), half=HALF_DEAD * out.at[k, "hidden"])
         for k in dead.index}, dtype="boolean").reindex(trials.index).fillna(False).astype(bool)
    out["fell_at"] = pd.Series({k: fell_at(val_acc.loc[k]) for k in val_acc.index},
                               dtype="Int64").reindex(trials.index)
    # a fall seen at the last logged epoch only: a late drop, which a longer run might or
    # might not have come back from
    ends = pd.Series({k: val_acc.loc[k].dropna().index.max() for k in val_acc.index},
                     dtype="Int64").reindex(trials.index)
    out["fell_late"] = (out["fell_at"] == ends).fillna(False).astype(bool)
    # failed: ended fallen back, predicting one class, or with over half its units dead
    out["failed"] = (out["fell_at"].notna() | out["collapsed_end"]
                     | (out["dead_fraction"] > HALF_DEAD))
    # overconfidence on the fresh test curve where the run logged one: 100 times validation's
    # points, so a 10% rise there is the model's, not the 300 samples' luck
    test_loss, test_acc = (fr.wide(frame, "test_curve", "loss"),
                           fr.wide(frame, "test_curve", "acc"))
    on_test = trials.index.isin(test_loss.index)
    out["overconfident_on"] = ["test_curve" if t else "validation" for t in on_test]

    def overconfident(k: Any) -> int | None:
        loss, acc = ((test_loss.loc[k], test_acc.loc[k]) if k in test_loss.index else
                     (val_loss.loc[k], acc_of(k)))
        return overconfident_at(loss, acc, below=guess(trials.at[k, "preset"]),
                                learned=learned(trials.at[k, "preset"]))

    out["overconfident_at"] = pd.Series(
        {k: overconfident(k) for k in val_loss.index}, dtype="Int64").reindex(trials.index)
    return out


def why_table(source: Store | pd.DataFrame, base: Base, studies: Sequence[str]) -> Table:
    """Per setting of each study: what happened inside its runs (:func:`trial_status`).

    Rows ``{"study", "vary", "value", "runs", "measured", "hidden", "diverged",
    "collapsed", "collapsed_at", "collapsed_end", "fell", "fell_at", "fell_late",
    "fell_late_dead", "failed", "revived", "overconfident", "overconfident_on",
    "overconfident_at", "dead",
    "half_dead", "half_dead_acc", "val_acc"}``:
    ``collapsed``/``fell``/``overconfident`` count the runs (of those ``measured``, not
    diverged) with a ``collapsed_at``/``fell_at``/``overconfident_at`` epoch, listed in the
    ``*_at`` lists (``fell_late`` of the ``fell`` only at their last logged epoch);
    ``overconfident_on`` is ``"test_curve"`` where every counted run was judged on its fresh
    test curve; ``collapsed_end`` those predicting one class at their last logged epoch; ``dead`` is
    the fraction of hidden units dead at the end, over runs;
    ``half_dead`` counts the runs ending with more than half of them dead and
    ``half_dead_acc`` is their final validation accuracy; ``val_acc`` that of all runs;
    ``failed`` counts the runs :func:`trial_status` calls failed, ``revived`` those that came
    back from over half their units dead after they had learned (``revived`` there),
    ``fell_late_dead``
    the ``fell_late`` runs ending with more than half dead.
    """
    status = trial_status(source)
    picks: list[tuple[str, str, pd.DataFrame]] = []
    if "samples" in studies:
        picks.append(("samples", "train_samples", fr.select(status, base, train_samples=False)))
    if "epochs" in studies and base.long_epochs is not None:
        # the long runs at every training size the epochs study crossed them with
        picks.append(("epochs", "train_samples", fr.select(status, base, train_samples=False,
                                                             epochs=base.long_epochs)))
    if "lr" in studies:
        picks.append(("lr", "lr", fr.select(status, base, lr=False)))
    if "regularizers" in studies:
        # each arm at each size the study ran it (the book's arm is the base setting there)
        arms = fr.select(status, base, train_samples=False, arm=None)
        arms = arms[arms["train_samples"].isin(set(arms.loc[arms["arm"] != "book",
                                                            "train_samples"]))]
        order = list(ARMS)
        arms = arms.assign(
            setting=[f"{a}|{int(n)}" for a, n in zip(arms["arm"], arms["train_samples"],
                                                     strict=True)],
            rank=[(int(n), order.index(a) if a in order else len(order)) for a, n in
                  zip(arms["arm"], arms["train_samples"], strict=True)]).sort_values("rank")
        picks.append(("regularizers", "setting", arms))
    rows: list[dict[str, Any]] = []
    for study, vary, picked in picks:
        for value, group in picked.groupby(vary, sort=study != "regularizers"):
            ok = group[group["diverged_at"].isna() & group["measured"]]
            half = ok[ok["dead_fraction"] > HALF_DEAD]
            rows.append({
                "study": study, "vary": vary, "value": value, "runs": len(group),
                "measured": len(ok), "hidden": int(group["hidden"].max()),
                "diverged": int(group["diverged_at"].notna().sum()),
                "collapsed": int(ok["collapsed_at"].notna().sum()),
                "collapsed_at": sorted(int(e) for e in ok["collapsed_at"].dropna()),
                "collapsed_end": int(ok["collapsed_end"].sum()),
                "fell": int(ok["fell_at"].notna().sum()),
                "fell_at": sorted(int(e) for e in ok["fell_at"].dropna()),
                "fell_late": int(ok["fell_late"].sum()),
                "fell_late_dead": int((ok["fell_late"] & (ok["dead_fraction"] > HALF_DEAD))
                                      .sum()),
                "failed": int(ok["failed"].sum()), "revived": int(ok["revived"].sum()),
                "overconfident": int(ok["overconfident_at"].notna().sum()),
                "overconfident_on": ("test_curve" if len(ok) and
                                     (ok["overconfident_on"] == "test_curve").all()
                                     else "validation"),
                "overconfident_at": sorted(int(e) for e in ok["overconfident_at"].dropna()),
                "dead": summarize_as("dead", ok["dead_fraction"]), "half_dead": len(half),
                "half_dead_acc": summarize_as("acc", half["val_acc"]),
                "val_acc": summarize_as("acc", ok["val_acc"]),
            })
    return {"study": "why", "rows": rows, "loss_rise": LOSS_RISE, "acc_hold": ACC_HOLD,
            "fall": FALL, "learned": LEARNED, "classes": base.classes}


