"""The study's statistics, tables, plots and report, checked against a small real store and
against recomputations straight from its tidy rows."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from xpnet.experiments import Store, load, plan, plots, run
from xpnet.experiments import analysis as an
from xpnet.experiments import frame as fr
from xpnet.experiments.report import QUESTIONS, build_report, write_report
from xpnet.experiments.stats import compare, detectable, fmt, paired, summarize, t_quantile

#: A study small enough to run in seconds: two seeds, a diverging learning rate.
TINY = {"grid": "quick", "seeds": 2, "train_samples": (10, 30), "test_samples": (10, 50),
        "epochs": 150, "long_epochs": 200, "lr": (0.05, 1e20)}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    trials = plan(["samples", "epochs", "lr"], **TINY)
    with Store(out) as store:
        run(trials, store, workers=1)
        yield store, an.Base.from_plan(trials), trials, out


def ci(values):
    """95% CI of the mean, recomputed with NumPy and the printed t table."""
    x = np.asarray(values, dtype=float)
    h = T975[len(x) - 1] * x.std(ddof=1) / math.sqrt(len(x))
    return x.mean(), x.mean() - h, x.mean() + h


#: What each table column can be: its CI is clipped to it (accuracies, losses)
RATE, NON_NEGATIVE = (0.0, 1.0), (0.0, math.inf)


def close(summary, values, within=None):
    mean, low, high = ci(values)
    if within is not None:
        low, high = max(low, within[0]), min(high, within[1])
    assert (summary.mean, summary.ci_low, summary.ci_high) == pytest.approx((mean, low, high))


def values_at(store, keys, split, metric, epoch=None, size=None):
    """``{key: [value, ...]}`` straight from the tidy rows."""
    out: dict[str, list[float]] = {}
    for r in store.rows():
        if (r["key"] in keys and r["split"] == split and r["metric"] == metric
                and (epoch is None or r["epoch"] == epoch)
                and (size is None or r["test_samples"] == size)):
            out.setdefault(r["key"], []).append(r["value"])
    return out


# -- stats ----------------------------------------------------------------------------------
#: t_{0.975, df} from a printed table (six decimals), by degrees of freedom.
T975 = {1: 12.706205, 2: 4.302653, 3: 3.182446, 4: 2.776445, 9: 2.262157, 30: 2.042272,
        120: 1.979930}


def test_t_quantiles_and_a_summary_by_hand():
    for df, t in T975.items():
        assert t_quantile(df) == pytest.approx(t, abs=1e-6)
    # towards the normal's 1.959964 as the degrees of freedom grow
    assert t_quantile(10**6) == pytest.approx(1.959964, abs=1e-5)
    s = summarize([1.0, 2.0, 6.0, float("nan"), float("inf")])
    assert (s.n, s.excluded, s.mean) == (3, 2, 3.0)
    assert s.sd == pytest.approx(math.sqrt(7))  # squares 4 + 1 + 9 over n - 1 = 2
    assert s.ci_high - s.mean == pytest.approx(4.302653 * math.sqrt(7) / math.sqrt(3))
    assert math.isnan(summarize([5.0]).ci_low) and summarize([]).n == 0
    with pytest.raises(ValueError, match="at least 1 degree"):
        t_quantile(0)


def test_compare_calls_a_difference_only_when_the_cis_separate():
    a, b = summarize([0.50, 0.51, 0.52]), summarize([0.70, 0.71, 0.72])
    assert (compare(a, b), compare(b, a)) == ("higher", "lower")
    assert compare(a, summarize([0.45, 0.60])) == "overlap"
    assert compare(a, summarize([0.9])) == "unknown"
    assert fmt(a) == "0.510 [0.485, 0.535]"


# -- tables ---------------------------------------------------------------------------------
def test_load_gives_the_tidy_frame_of_a_study(study, tmp_path):
    store, _, trials, out = study
    frame = load(out)
    assert tuple(frame.columns) == an.FRAME_COLUMNS
    assert len(frame) == len(list(store.rows())) and frame["key"].nunique() == len(trials)
    assert set(frame["split"]) == {"train", "validation", "test", "test_iid", "test_curve"}
    assert set(frame["metric"]) == {"acc", "loss", "classes", "dead_units"}
    # each diverged run (lr 1e20) is marked on all its rows, and the others nowhere
    diverged = frame.groupby("key")["diverged_at"].agg(lambda d: d.notna().all())
    assert diverged.sum() == 2 and set(frame.loc[frame["diverged_at"].notna(), "lr"]) == {1e20}
    row = next(r for r in store.rows() if r["split"] == "test")
    match = frame[(frame["key"] == row["key"]) & (frame["split"] == "test")
                  & (frame["metric"] == row["metric"])
                  & (frame["test_samples"] == row["test_samples"]) & (frame["rep"] == row["rep"])]
    assert match["value"].tolist() == [row["value"]]
    one = trials[0]
    assert load(out, keys=[one.key])["key"].unique().tolist() == [one.key]
    with pytest.raises(FileNotFoundError, match=r"no results\.sqlite"):
        load(tmp_path / "nowhere")


def test_samples_table_matches_the_rows(study):
    store, base, _, _ = study
    table = an.samples_table(store, base)
    # the base trial (1000/class, run for the lr study) is a point on this axis too
    assert [r["train_samples"] for r in table["rows"]] == [10, 30, 1000]
    for row in table["rows"]:
        keys = {t["key"] for t in store.trials()
                if t["config"]["train_samples"] == row["train_samples"]
                and t["config"]["lr"] == base.lr and t["config"]["epochs"] == base.epochs}
        train = values_at(store, keys, "train", "acc", epoch=base.epochs)
        val = values_at(store, keys, "validation", "acc", epoch=base.epochs)
        loss = values_at(store, keys, "validation", "loss", epoch=base.epochs)
        assert row["n"] == len(keys) == 2 and row["diverged"] == 0
        close(row["train_acc"], [v[0] for v in train.values()], RATE)
        close(row["val_acc"], [v[0] for v in val.values()], RATE)
        close(row["val_loss"], [v[0] for v in loss.values()], NON_NEGATIVE)
        close(row["gap"], [train[k][0] - val[k][0] for k in keys])
        # the fresh test sets the answers quote: the largest size, mean over its repeats
        test = {k: np.mean(v) for k, v in values_at(store, keys, "test", "acc",
                                                     size=50).items()}
        close(row["test_acc"], list(test.values()), RATE)
        close(row["test_gap"], [train[k][0] - test[k] for k in keys])
    assert table["test_samples"] == 50


def test_test_size_table_matches_the_rows(study):
    store, base, _, _ = study
    table = an.test_size_table(store, base)
    keys = {t["key"] for t in store.trials() if t["config"]["train_samples"] == 1000
            and t["config"]["lr"] == 0.05 and t["config"]["epochs"] == base.epochs}
    ref = values_at(store, keys, "test", "acc", size=50)
    assert table["reference"] == 50 and table["trials"] == len(keys) == 2
    assert table["p"] == pytest.approx(np.mean([np.mean(v) for v in ref.values()]))
    for row in table["rows"]:
        n = row["test_samples"]
        acc = values_at(store, keys, "test", "acc", size=n)
        # the quick grid's 300 points per class: 30 sets of 10/class, 6 of 50/class
        reps = {10: 30, 50: 6}[n]
        assert row["repeats"] == reps and all(len(v) == reps for v in acc.values())
        close(row["acc"], [np.mean(v) for v in acc.values()], RATE)
        pooled = math.sqrt(np.mean([np.var(v, ddof=1) for v in acc.values()]))
        assert row["acc_sd"] == pytest.approx(pooled)
        p = table["p"]
        assert row["binomial_sd"] == pytest.approx(math.sqrt(p * (1 - p) / (3 * n)))
        if n != 50:
            close(row["acc_bias"], [np.mean(acc[k]) - np.mean(ref[k]) for k in keys])
            # one size below the reference: Holm over one comparison is its paired p
            ordered = sorted(keys)
            expected = paired([np.mean(ref[k]) for k in ordered],
                              [np.mean(acc[k]) for k in ordered]).p
            assert row["acc_bias_holm"] == pytest.approx(expected)
        else:
            assert math.isnan(row["acc_bias_holm"]) and math.isnan(row["loss_bias_holm"])


def test_lr_table_counts_diverged_runs_and_leaves_them_out(study):
    store, base, _, _ = study
    table = an.lr_table(store, base)
    by_lr = {r["lr"]: r for r in table["rows"]}
    assert set(by_lr) == {0.05, 1e20}
    wild = by_lr[1e20]
    assert (wild["n"], wild["diverged"]) == (0, 2) and len(wild["diverged_at"]) == 2
    assert wild["val_acc"].n == 0 and wild["best_val_acc"].n == 0
    # its rows before diverging are stored, but no mean includes them
    diverged = {t["key"] for t in store.trials() if t["diverged_at"] is not None}
    assert len(diverged) == 2 and values_at(store, diverged, "validation", "acc")
    good = {t["key"] for t in store.trials() if t["config"]["lr"] == 0.05
            and t["config"]["train_samples"] == 1000 and t["config"]["epochs"] == base.epochs}
    curves = values_at(store, good, "validation", "acc")
    close(by_lr[0.05]["best_val_acc"], [max(v) for v in curves.values()], RATE)
    close(by_lr[0.05]["val_acc"], [v[0] for v in values_at(
        store, good, "validation", "acc", epoch=base.epochs).values()], RATE)
    assert table["best_lr"] == 0.05


def test_epochs_table_matches_the_rows(study):
    store, base, _, _ = study
    table = an.epochs_table(store, base)
    keys = {t["key"] for t in store.trials() if t["config"]["epochs"] == base.long_epochs
            and t["config"]["train_samples"] == base.train_samples}
    assert table["n"] == len(keys) == 2 and table["rows"][-1]["epoch"] == 200
    for row in table["rows"][::7]:
        val = values_at(store, keys, "validation", "loss", epoch=row["epoch"])
        close(row["val_loss"], [v[0] for v in val.values()], NON_NEGATIVE)
    means = {r["epoch"]: r["val_acc"].mean for r in table["rows"]}
    assert table["best_acc_epoch"] == max(means, key=means.__getitem__)
    losses = {r["epoch"]: r["val_loss"].mean for r in table["rows"]}
    assert table["best_loss_epoch"] == min(losses, key=losses.__getitem__)


def synthetic(losses_by_seed, epochs=(1, 10, 100, 1000), test=None):
    """A frame like load()'s: one long run per seed, with these validation losses (and
    these fresh-test-curve losses, ``test``, where given)."""
    by_split = {"train": losses_by_seed, "validation": losses_by_seed}
    if test is not None:
        by_split["test_curve"] = test
    rows = [{"key": f"k{seed}", "preset": "ch15", "seed": seed, "train_samples": 1000,
             "lr": 0.05, "epochs": epochs[-1], "arm": "book", "diverged_at": pd.NA, "epoch": e,
             "split": split, "metric": metric, "test_samples": 0, "rep": 0,
             "value": loss if metric == "loss" else 0.7}
            for split, curves in by_split.items()
            for seed, losses in enumerate(curves)
            for e, loss in zip(epochs, losses, strict=True)
            for metric in ("acc", "loss")]
    return pd.DataFrame(rows, columns=list(an.FRAME_COLUMNS)).astype({"diverged_at": "Int64"})


def test_overfitting_onset_needs_a_rise_beyond_the_ci():
    base = an.Base(1000, 0.05, 10, long_epochs=1000)
    rising = synthetic([[1.0, 0.50, 0.60, 0.90], [1.0, 0.52, 0.63, 0.95],
                        [1.0, 0.49, 0.58, 0.91]])
    table = an.epochs_table(rising, base)
    assert (table["best_loss_epoch"], table["onset"], table["rise_epoch"]) == (10, 10, 100)
    noisy = synthetic([[1.0, 0.50, 0.45, 0.60], [1.0, 0.52, 0.60, 0.40],
                       [1.0, 0.49, 0.50, 0.52]])
    table = an.epochs_table(noisy, base)
    assert table["onset"] is None and table["loss_rise"].ci_low < 0 < table["loss_rise"].ci_high


def test_an_onset_needs_the_rise_to_last_to_the_end():
    """The teacher's quick-run case: a rise beyond the noise at one epoch that is gone by the
    end is no onset (the sheet printed an onset beside an end interval holding 0)."""
    base = an.Base(1000, 0.05, 10, long_epochs=1000)
    passing = synthetic([[1.0, 0.50, 0.60, 0.40], [1.0, 0.52, 0.63, 0.75],
                         [1.0, 0.49, 0.58, 0.60]])
    table = an.epochs_table(passing, base)
    assert table["best_loss_epoch"] == 10
    assert fr.change(fr.curves(passing)["val_loss"], 100, 10).ci_low > 0
    assert table["loss_rise"].ci_low < 0 < table["loss_rise"].ci_high
    assert table["onset"] is None and table["rise_epoch"] is None


def test_the_rise_after_the_minimum_is_measured_on_the_fresh_test_curve():
    """The minimum is picked on validation and the rise measured on the fresh test curve."""
    base = an.Base(1000, 0.05, 10, long_epochs=1000)
    flat_val = [[1.0, 0.50, 0.52, 0.53], [1.0, 0.52, 0.54, 0.55], [1.0, 0.49, 0.51, 0.52]]
    rising_test = [[1.0, 0.60, 0.70, 0.90], [1.0, 0.62, 0.73, 0.95], [1.0, 0.59, 0.68, 0.91]]
    table = an.epochs_table(synthetic(flat_val, test=rising_test), base)
    assert table["split"] == "test_curve" and table["best_loss_epoch"] == 10
    assert table["loss_epochs"] == [10, 10, 10]
    assert table["loss_rise"].mean == pytest.approx((0.30 + 0.33 + 0.32) / 3)
    assert table["val_loss_rise"].mean == pytest.approx(0.03)
    assert (table["onset"], table["rise_epoch"]) == (10, 100)
    assert an.epochs_table(synthetic(flat_val), base)["split"] == "validation"


def test_each_run_is_measured_from_the_epoch_the_other_runs_pick():
    """The teacher's point: a run's validation and test curves share its wobble, so a dip
    picked on its own validation is a dip of its test curve too and flatters the rise.
    Run k0 dips at epoch 100 on both; picked on the others, it is measured from epoch 10."""
    val = pd.DataFrame([[0.5, 0.30, 0.6], [0.5, 0.55, 0.6], [0.5, 0.56, 0.6]],
                       index=["k0", "k1", "k2"], columns=[10, 100, 1000])
    assert an.held_out_epochs(val, "min").to_dict() == {"k0": 10, "k1": 100, "k2": 100}
    assert an.held_out_epochs(-val, "max").to_dict() == {"k0": 10, "k1": 100, "k2": 100}
    base = an.Base(1000, 0.05, 10, long_epochs=1000)
    shared = [[1.0, 0.5, 0.30, 0.6], [1.0, 0.5, 0.55, 0.6], [1.0, 0.5, 0.56, 0.6]]
    table = an.epochs_table(synthetic(shared, epochs=(1, 10, 100, 1000), test=shared), base)
    own = (0.6 - 0.30 + 0.6 - 0.55 + 0.6 - 0.56) / 3  # each run from its own minimum
    held_out = (0.6 - 0.5 + 0.6 - 0.55 + 0.6 - 0.56) / 3
    assert table["loss_rise"].mean == pytest.approx(held_out)
    assert table["loss_rise"].mean < own


# -- plots and report -------------------------------------------------------------------------
def drawn(monkeypatch):
    """Record each figure's axes as {title: {label: y-data}} instead of only a PNG."""
    figures: list[dict[str, dict[str, list[float]]]] = []
    save = plots._save

    def record(fig, path):
        figures.append({ax.get_title(): {
            **{line.get_label(): [float(y) for y in line.get_ydata()]
               for line in ax.get_lines()},
            **{c.get_label(): [] for c in ax.containers}} for ax in fig.axes})
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", record)
    return figures


def test_the_figures_show_what_the_answers_quote(study, tmp_path, monkeypatch):
    """The samples and lr figures plot the fresh test sets the answer sheets quote (and the
    gap against them); the epochs figure has a row per training size the answer discusses."""
    store, base, _, _ = study
    tables = an.analyze(store, "all", base)
    points = an.seed_points(load(store), base)
    figures = drawn(monkeypatch)
    plots.plot_samples(tables["samples"], tmp_path / "s.png", points["samples"])
    plots.plot_epochs(tables["crossed"]["rows"], tmp_path / "e.png", points["epochs"])
    plots.plot_lr(tables["lr"], tmp_path / "l.png", points["lr"])
    plots.plot_test_size(tables["test_size"], tmp_path / "t.png", tables["test_size_iid"])
    samples, epochs, lr, test_size = figures
    spread = test_size["spread vs the 1/sqrt(n) law (book's spiral: fitted slope "
                       f"{tables['test_size']['slope']:.2f})"]
    assert spread["independent points: sd across test sets"] == pytest.approx(
        [r["acc_sd"] for r in tables["test_size_iid"]["rows"]])
    rows = tables["samples"]["rows"]
    assert samples["final accuracy"]["fresh test (50/class)"] == pytest.approx(
        [r["test_acc"].mean for r in rows])
    assert samples["generalization gap"]["train acc - fresh test (50/class) acc"] == \
        pytest.approx([r["test_gap"].mean for r in rows])
    assert list(epochs) == ["30/class: accuracy", "30/class: loss", "1000/class: accuracy",
                            "1000/class: loss"]
    crossed = {t["train_samples"]: t for t in tables["crossed"]["rows"]}
    assert epochs["30/class: loss"]["fresh test (50/class)"] == pytest.approx(
        [r["test_loss"].mean for r in crossed[30]["rows"]])
    assert "final, fresh test (50/class)" in lr["final accuracy"]
    ok = next(r for r in tables["lr"]["rows"] if r["n"])
    assert lr["fresh test (50/class) accuracy over epochs"][f"lr {ok['lr']:g}"] == \
        pytest.approx([c["test_acc"].mean for c in ok["curve"]])


def test_plots_write_pngs(study, tmp_path):
    store, base, _, _ = study
    tables = an.analyze(store, "all", base)
    paths = [plots.plot_samples(tables["samples"], tmp_path / "s.png"),
             plots.plot_test_size(tables["test_size"], tmp_path / "t.png"),
             plots.plot_epochs(tables["epochs"], tmp_path / "e.png"),
             plots.plot_lr(tables["lr"], tmp_path / "l.png"),
             plots.plot_boundaries(store, base, tables["panels"], tmp_path / "b.png")]
    assert [p["row"] for p in tables["panels"]] == ["training samples"] * 2 + ["epochs"] * 2
    for path in paths:
        assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_boundary_panel_has_one_accuracy_for_picture_and_text(study):
    """The teacher's point: the text said 'not logged' where the picture measured the kept
    model; panel_accuracy serves both, and measures as the logged ones were."""
    store, base, _, _ = study
    tables = an.analyze(store, "all", base)
    for panel in tables["panels"]:
        logged = panel["val_acc"]
        if not math.isnan(logged):
            assert plots.panel_accuracy(store, panel) == logged
            # the same epoch as if the log grid had skipped it: measured from the kept model
            skipped = dict(panel, val_acc=math.nan)
            assert plots.panel_accuracy(store, skipped) == pytest.approx(logged, abs=1e-6)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.open: list[str] = []
        self.seen: set[str] = set()
        self.mismatched = 0

    def handle_starttag(self, tag, attrs):
        self.seen.add(tag)
        if tag not in {"img", "meta"}:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if self.open and self.open[-1] == tag:
            self.open.pop()
        else:
            self.mismatched += 1


def _summaries(obj):
    """Every Summary inside the tables, however deep."""
    if isinstance(obj, tuple) and hasattr(obj, "ci_low"):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _summaries(v)
    elif isinstance(obj, list | tuple):  # a Paired holds its differences' Summary
        for v in obj:
            yield from _summaries(v)


def test_report_answers_from_the_tables(study):
    store, base, trials, out = study
    md, page = write_report(store, out, "all", base, keys=[t.key for t in trials])
    text = md.read_text()
    for question in QUESTIONS.values():
        assert f"## {question}" in text
    tables = an.analyze(store, "all", base)
    for row in tables["samples"]["rows"] + tables["lr"]["rows"]:
        assert fmt(row["val_acc"]) in text
    assert "2 of 2 runs diverged" in text
    # every "mean [low, high]" a sentence quotes is one of the tables' summaries
    known = {fmt(s, d) for s in _summaries(tables) for d in (3, 4)}
    quoted = [q for line in text.splitlines() if line.startswith("- ")
              for q in re.findall(r"-?\d+\.\d+ \[-?\d+\.\d+, -?\d+\.\d+\]", line)]
    assert quoted and set(quoted) <= known
    tags = _Tags()
    tags.feed(page.read_text())
    assert {"table", "img", "h2", "li"} <= tags.seen
    assert tags.open == [] and tags.mismatched == 0
    for name in ("samples", "test_size", "epochs", "lr", "boundaries"):
        assert (out / f"{name}.png").exists() and f"{name}.png" in text
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(list(store.rows()))


# -- paired scans of neighbouring settings ---------------------------------------------------
@pytest.mark.parametrize(("study_name", "varied"), [("samples", "train_samples"), ("lr", "lr")])
def test_neighbours_table_pairs_seeds_on_the_largest_test_sets(study, study_name, varied):
    store, base, _, _ = study
    frame = load(store)
    t = an.neighbours_table(frame, base, study_name)
    test = frame[(frame["split"] == "test") & (frame["metric"] == "acc")
                 & (frame["test_samples"] == max(TINY["test_samples"]))
                 & frame["diverged_at"].isna() & (frame["epochs"] == base.epochs)]
    other = "lr" if varied == "train_samples" else "train_samples"
    test = test[np.isclose(test[other], getattr(base, other))]
    per = test.groupby([varied, "seed"])["value"].mean().unstack(varied)
    assert t["test_samples"] == max(TINY["test_samples"])
    assert len(t["rows"]) == per.shape[1] - 1  # lr 1e20 never finished: no test sets
    for row in t["rows"]:
        d = (per[row["b"]] - per[row["a"]]).to_numpy()
        assert row["acc"].diff.mean == pytest.approx(d.mean())
        assert row["acc"].diff.n == len(d)
    ps = [r["acc"].p for r in t["rows"]]
    if len(ps) == 2:  # Holm by hand: the smaller p times 2, the larger times 1, no lower
        lo, hi = sorted(ps)
        expected = [min(1, 2 * lo), min(1, max(2 * lo, hi))]
        assert sorted(r["acc_holm"] for r in t["rows"]) == pytest.approx(expected)
    else:
        assert [r["acc_holm"] for r in t["rows"]] == pytest.approx(ps)
    with pytest.raises(ValueError, match="'samples' or 'lr'"):
        an.neighbours_table(frame, base, "epochs")


def test_report_states_paired_comparisons_and_detectable_differences(study, tmp_path):
    store, base, trials, _ = study
    md, _ = write_report(store, tmp_path, "all", base, keys=[t.key for t in trials])
    text = md.read_text()
    assert "#### Neighbouring training-set sizes, paired by seed" in text
    assert "accuracy differences survive Holm's correction" in text
    scan = an.neighbours_table(load(store), base, "samples")
    row = scan["rows"][0]
    assert fmt(row["acc"].diff, 4) in text
    if row["acc_holm"] >= 0.05:
        assert f"detects only differences of {row['acc'].mde:.4f} or more" in text
    assert "#### Independent test points" in text and "times the binomial law" in text
    assert "How many test samples a ±1-point estimate needs" in text
    # one measurement's binomial margin and the two measurements' difference, one basis
    margin = re.search(r"binomial 95% margin of about ±(\d\.\d{3})", text)
    apart = re.search(r"so by the binomial law two measurements differ by up to (\d\.\d{3})", text)
    assert margin and apart
    assert float(apart.group(1)) == pytest.approx(float(margin.group(1)) * 2 ** 0.5, abs=1.5e-3)


def test_no_onset_states_the_smallest_rise_the_design_detects():
    base = an.Base(1000, 0.05, 10, long_epochs=1000)
    noisy = synthetic([[1.0, 0.50, 0.45, 0.60], [1.0, 0.52, 0.60, 0.40],
                       [1.0, 0.49, 0.50, 0.52]])
    table = an.epochs_table(noisy, base)
    rise = table["loss_rise"]
    text = build_report({"epochs": table}, ["epochs"], base, seeds=3).markdown()
    assert "No rise of the validation loss was shown" in text
    assert (f"With 3 runs and sd {rise.sd:.4f} of the per-run changes, the design detects only "
            f"rises of {detectable(rise.sd, 3):.4f} or more") in text


def test_a_minimum_at_the_last_epoch_reads_n_a_not_an_empty_interval():
    from xpnet.experiments.document import Document
    from xpnet.experiments.sections import crossed_section

    base = an.Base(1000, 0.05, 10, long_epochs=1000)
    falling = an.epochs_table(synthetic([[1.0, 0.8, 0.6, 0.5], [1.0, 0.7, 0.6, 0.52],
                                         [1.0, 0.75, 0.55, 0.49]]), base)
    late = an.epochs_table(synthetic([[1.0, 0.50, 0.50, 0.90], [1.0, 0.52, 0.53, 0.95],
                                      [1.0, 0.49, 0.50, 0.91]]), base)
    assert late["rise_epoch"] == 1000
    doc = Document()
    crossed_section(doc, {"rows": [falling, late]})
    text = doc.markdown()
    assert "validation loss lowest at epoch 1000, the last one" in text
    assert "| 1000 | 3 | 1000 | n/a (lowest at the last epoch) | " in text
    assert "the validation loss changed to the end by" in text
    assert "above the picked epochs' beyond the noise at the last epoch only" in text


def test_the_loss_panel_says_not_detected_rather_than_none():
    """A rise the runs cannot show is 'not beyond the noise', with its Holm p, not 'no
    onset observed' beside a mean curve that visibly rises."""
    from xpnet.experiments.plots import no_rise_label

    assert no_rise_label({"split": "test_curve", "loss_rise_p": 0.02,
                          "loss_rise_holm": 0.104}) == \
        "no fresh-test loss rise beyond the noise (Holm p = 0.104)"
    assert no_rise_label({"split": "validation", "loss_rise_p": 0.01}) == \
        "validation loss above the picks' at the end (Holm p = 0.010), not at every epoch before"
    assert no_rise_label({"split": "test_curve", "loss_rise_p": float("nan")}) == \
        "fresh-test loss rise: one run, not judged"


def test_curve_figures_say_their_bands_are_pointwise():
    from xpnet.experiments.answers import _epochs_sheet
    from xpnet.experiments.sections import POINTWISE

    change = summarize([-0.01, 0.0, 0.01])
    epochs = {"rows": [{"epoch": 100}, {"epoch": 1000}], "best_acc_epoch": 100,
              "acc_change": change, "best_loss_epoch": 100, "onset": None, "rise_epoch": None,
              "loss_rise": change, "loss_rise_p": 1.0, "acc_epochs": [100] * 3,
              "train_samples": 1000, "n": 3, "split": "test_curve"}
    caption = _epochs_sheet({"epochs": epochs}).figures[0][1]
    assert caption.endswith(POINTWISE) and "pointwise 95% intervals" in POINTWISE


def test_lr_runs_refined_around_an_earlier_best_are_found_and_named(tmp_path):
    """--resume extended an lr study (0.2 added) and its best rate moved from 0.05 to 0.2:
    the grid refined around 0.05 stays stored but out of the report, which now says so."""
    from dataclasses import replace

    from xpnet.experiments.document import Document
    from xpnet.experiments.plan import Trial
    from xpnet.experiments.sections import lr_late_section

    def trial(seed, lr, **kw):
        return Trial(seed=seed, lr=lr, epochs=10, test_points=300 if lr == 0.05 else 0, **kw)

    coarse = [trial(s, lr) for s in range(3) for lr in (0.001, 0.01, 0.05, 0.2, 0.5)]
    new = [trial(s, lr) for s in range(3) for lr in (0.1, 0.316)]
    old = [trial(s, lr) for s in range(2) for lr in (0.0224, 0.158)]  # 2 of the 3 seeds
    other = [replace(coarse[0], lr=0.07, train_samples=30),  # another size: not lr alone
             replace(coarse[0], lr=0.07, epochs=20)]  # another length
    with Store(tmp_path) as store:
        for t in coarse + new + old + other:
            store.add({"key": t.key, "config": t.config, "rows": [], "snapshots": {},
                       "seconds": 0.1, "diverged_at": None})
        aside = an.lr_set_aside(store, [t.key for t in coarse + new])
    assert aside == [{"lr": 0.0224, "seeds": 2}, {"lr": 0.158, "seeds": 2}]
    one = summarize([0.0, 0.0, 0.0])
    table = {"rows": [{"lr": lr, "n": 3, "diverged": 0, "late_from": None, "late_loss": one,
                       "late_acc": one} for lr in (0.001, 0.01, 0.05, 0.1, 0.2, 0.316, 0.5)],
             "set_aside": aside}
    doc = Document()
    lr_late_section(doc, table, an.Base(1000, 0.05, 10, refined=(0.1, 0.316)))
    text = doc.markdown()
    assert ("- Stored but not used: the runs at lr 0.0224, 0.158, a grid refined around lr "
            "0.05, the best of the first pass before --resume extended the study; the "
            "extended first pass finds lr 0.2 best, and the grid was refined around it "
            "instead. These 2 rates are left out because an earlier pick placed them, one the "
            "extended runs no longer make, and this report describes the grid its own first "
            "pass calls for (they also cover only 2 of the 3 seeds, so beside the other rates "
            "they would compare means over different seeds); they stay in results.sqlite, not "
            "in results.csv.") in text
    assert "refined around its best rate, lr 0.2, with 0.1, 0.316" in text


def kept(monkeypatch):
    """The figures the plot functions draw, drawn and kept open for inspection (a list
    filled as they are saved)."""
    figures = []
    save = plots._save

    def record(fig, path):
        fig.canvas.draw()
        figures.append({ax.get_title(): {
            "axes": ax.get_window_extent(), "ylim": ax.get_ylim(),
            "legend": ax.get_legend().get_window_extent(),
            "labels": [t.get_text() for t in ax.get_legend().get_texts()],
            "bands": [p.vertices for c in ax.collections
                      if type(c).__name__ in ("PolyCollection", "FillBetweenPolyCollection")
                      for p in c.get_paths()]} for ax in fig.axes})
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", record)
    return figures


def test_a_loss_band_reaching_zero_is_cut_above_the_log_axis_end(tmp_path, monkeypatch):
    """The quick study's lr 0.5: its loss interval reached 0 at a few epochs and its band
    ran off the bottom of the log axis; it now ends at half the lowest mean, above the
    axis' end, and the legend says it is cut."""
    def s(values):
        return summarize(values, within=(0.0, math.inf))

    def row(lr, losses):
        curve = [{"epoch": e, "test_acc": s([0.5, 0.6, 0.55]), "test_loss": s(v)}
                 for e, v in zip((1, 2, 3), losses, strict=True)]
        final = {f"{p}_{m}": s([0.6, 0.62, 0.61]) for p in ("test", "val", "best_val")
                 for m in ("acc", "loss")}
        return {"lr": lr, "n": 3, "diverged": 0, "curve": curve, **final}

    calm = [[1.1, 1.1, 1.1], [0.8, 0.82, 0.81], [0.6, 0.61, 0.62]]
    wild = [[1.1, 1.1, 1.1], [0.3, 8.0, 14.0], [1.0, 1.2, 1.1]]  # interval reaches 0
    assert s(wild[1]).ci_low == 0.0
    figures = kept(monkeypatch)
    plots.plot_lr({"rows": [row(0.05, calm), row(0.5, wild)], "test_samples": 1000},
                  tmp_path / "l.png")
    loss = figures[0]["fresh test (1000/class) loss over epochs"]
    floor = min(summarize(v).mean for v in calm + wild) / 2  # 0.305
    lowest = min(float(v[:, 1].min()) for v in loss["bands"])
    assert lowest == pytest.approx(floor)
    assert loss["ylim"][0] == pytest.approx(floor / 1.25) and loss["ylim"][0] < lowest
    assert "band cut at 0.3: its 95% interval reaches lower" in loss["labels"]
    # nothing reaches the floor without the wild rate: no cut, no legend entry
    figures = kept(monkeypatch)
    plots.plot_lr({"rows": [row(0.05, calm)], "test_samples": 1000}, tmp_path / "l.png")
    assert not any("band cut" in t for t in
                   figures[0]["fresh test (1000/class) loss over epochs"]["labels"])


def test_the_epochs_legends_sit_below_their_panels(tmp_path, monkeypatch):
    """The full study's 1000/class loss legend covered its curve: legends go below."""
    one = summarize([0.5, 0.52, 0.51])
    rows = [{"epoch": e, **{f"{p}_{m}": summarize([x * (1 + 0.01 * i) for i in range(3)])
                            for p in ("train", "val", "test") for m, x in
                            (("acc", 0.3 + 0.1 * k), ("loss", 1.1 - 0.1 * k))}}
            for k, e in enumerate((1, 10, 100, 1000))]
    table = {"rows": rows, "train_samples": 1000, "n": 3, "best_acc_epoch": 1000,
             "best_loss_epoch": 1000, "onset": None, "rise_epoch": None,
             "loss_rise_p": 0.5, "split": "test_curve",
             "early_stopping": {"test_samples": 1000, "acc_gain": one}}
    figures = kept(monkeypatch)
    plots.plot_epochs([table, {**table, "train_samples": 30}], tmp_path / "e.png")
    assert len(figures[0]) == 4
    for title, ax in figures[0].items():
        assert ax["legend"].y1 < ax["axes"].y0, title  # wholly below the plotting area
        assert "validation" in ax["labels"]
