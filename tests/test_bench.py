"""The benchmark suite (xpnet.bench, ``xpnet bench``): the cost model against hand counts, the
harness's result schema on a tiny workload, and the command. No timing is asserted."""

from __future__ import annotations

import io
import json
import math

import pytest

from xpnet.bench import contenders, harness, workloads
from xpnet.bench.ceilings import Ceilings, measure
from xpnet.bench.report import render
from xpnet.bench.workloads import Workload
from xpnet.cli import main

# N=6 samples (2 per class), D=2 features, H=4 hidden units, C=3 classes
TINY = Workload("tiny", samples_per_class=2, hidden=4, dropout=0.0)
TINY_DROPOUT = Workload("tiny_dropout", samples_per_class=2, hidden=4, dropout=0.5)
#: the result's per-contender keys
ROW = {"median_ms", "min_ms", "max_ms", "spread", "samples_ms", "final_loss", "final_acc",
       "gflops", "gbps", "gflops_fraction", "gbps_fraction", "peak_bytes", "needed_bytes",
       "peak_over_needed", "vs_book", "vs_book_nnfs", "vs_torch_eager", "vs_torch_compile"}


def test_flops_by_hand():
    # forward X@W1 2*6*2*4=96, h@W2 2*6*4*3=144; backward dW2 144, dh 144, dW1 96
    assert workloads.flops(TINY) == 96 + 144 + 144 + 144 + 96 == 624
    # dropout adds no matrix products
    assert workloads.flops(TINY_DROPOUT) == 624


def test_traffic_by_hand():
    # parameters: W1 8 + b1 4 + W2 12 + b2 3 = 27
    assert TINY.n_parameters == 27
    t = workloads.traffic(TINY)
    assert t == {
        "forward_hidden": 4 * (12 + 8 + 4 + 24),           # X, W1, b1 read; h written
        "forward_output": 4 * (24 + 12 + 3 + 18) + 8 * 6,   # h, W2, b2, p; y (int64)
        "backward_output": 4 * 18 + 8 * 6 + 4 * 18,         # p, y read; dz2 written
        "backward_dW2": 4 * (24 + 18 + 12 + 3),             # h, dz2 read; dW2, db2 written
        "backward_hidden": 4 * (18 + 12 + 24 + 24),         # dz2, W2, h read; dz1 written
        "backward_dW1": 4 * (12 + 24 + 8 + 4),              # X, dz1 read; dW1, db1 written
        "adam": 7 * 4 * 27,                                 # p, g, m, v read; p, m, v written
    }
    assert workloads.bytes_moved(TINY) == sum(t.values()) == 2148
    d = workloads.traffic(TINY_DROPOUT)
    assert d["forward_dropout"] == 4 * 24 + 1 * 24 + 4 * 24  # h read; mask (1 B), d written
    assert d["backward_hidden"] == t["backward_hidden"] + 24  # and the mask read
    assert workloads.bytes_moved(TINY_DROPOUT) == 2148 + 216 + 24


def test_needed_bytes_by_hand():
    assert workloads.needed_arrays(TINY) == {
        "X": 4 * 12, "y": 8 * 6, "parameters": 4 * 4 * 27, "hidden": 4 * 24,
        "probabilities": 4 * 18, "gradient": 4 * 24}
    assert workloads.needed_bytes(TINY) == 48 + 48 + 432 + 96 + 72 + 96 == 792
    # dropout keeps its output (float32) and its mask (1 byte per entry)
    assert workloads.needed_bytes(TINY_DROPOUT) == 792 + 4 * 24 + 24


def test_the_six_cases_and_their_epochs():
    assert list(workloads.CASES) == ["reference", "reference_dropout", "wide",
                                     "wide_dropout", "big", "big_dropout"]
    assert workloads.get("reference").N == 3000 and workloads.get("big").N == 30000
    assert {w.hidden for w in workloads.CASES.values()} == {64, 512}
    for w in workloads.CASES.values():
        assert 2 <= workloads.default_epochs(w, quick=True) <= workloads.default_epochs(w)
    with pytest.raises(ValueError, match="unknown benchmark case 'huge'; choose from reference"):
        workloads.get("huge")
    with pytest.raises(ValueError, match="dropout rate"):
        Workload("bad", 10, 8, 1.5)


def test_ceilings_are_positive():
    c = measure(matmul_n=32, copy_bytes=2**16, tries=1)
    assert c.matmul_gflops > 0 and c.bandwidth_gbps > 0
    assert set(c.to_dict()) >= {"matmul_gflops", "bandwidth_gbps"}


def _suite(names, w=None):
    fake = Ceilings(matmul_gflops=100.0, bandwidth_gbps=10.0)
    return harness.run_suite([w or Workload("small", 10, 8, 0.1)], names, epochs=2,
                             repeats=2, warmup=1, ceilings=fake)


def test_run_suite_schema_and_ratios():
    names = ["book", "xpnet"]
    if _torch_available():
        names.append("torch_eager")
    result = _suite(names)
    json.dumps(result, allow_nan=False)  # serialisable as strict JSON
    assert set(result) == {"benchmark", "environment", "threads", "ceilings", "config",
                           "cases"}
    assert result["threads"]["requested"] == 1
    case = result["cases"]["small"]
    assert case["skipped"] == {}
    assert case["workload"]["N"] == 30
    rows = case["results"]
    assert list(rows) == names
    for name, row in rows.items():
        assert set(row) == ROW
        assert len(row["samples_ms"]) == 2
        assert 0 < row["min_ms"] <= row["median_ms"] <= row["max_ms"]
        assert row["gflops"] > 0 and row["gbps"] > 0
        assert row["gflops_fraction"] == pytest.approx(row["gflops"] / 100.0)
        assert row["needed_bytes"] == workloads.needed_bytes(Workload("small", 10, 8, 0.1))
        assert 0 <= row["final_acc"] <= 1 and math.isfinite(row["final_loss"])
        assert row["vs_book"] == pytest.approx(row["median_ms"] / rows["book"]["median_ms"])
        assert row["vs_book_nnfs"] is None  # not run
        if name in contenders.NUMPY_CONTENDERS:
            assert row["peak_bytes"] > 0
            assert row["peak_over_needed"] == pytest.approx(
                row["peak_bytes"] / row["needed_bytes"])
        else:
            assert row["peak_bytes"] is None and row["peak_over_needed"] is None
    if "torch_eager" in rows:
        assert rows["xpnet"]["vs_torch_eager"] == pytest.approx(
            rows["xpnet"]["median_ms"] / rows["torch_eager"]["median_ms"])
        assert rows["book"]["vs_torch_eager"] is None  # torch ratios: xpnet rows only


def _torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def test_a_contender_that_cannot_run_is_skipped_with_its_reason(monkeypatch):
    def unavailable(w, X, y):
        raise contenders.Unavailable("no compiler here")

    monkeypatch.setitem(contenders.CONTENDERS, "torch_compile", unavailable)
    result = _suite(["xpnet", "torch_compile"], Workload("small", 10, 8, 0.0))
    case = result["cases"]["small"]
    assert case["skipped"] == {"torch_compile": "no compiler here"}
    assert list(case["results"]) == ["xpnet"]
    assert case["results"]["xpnet"]["vs_torch_compile"] is None
    assert "skipped torch_compile: no compiler here" in render(result)


def test_run_suite_rejects_unknown_contenders():
    with pytest.raises(ValueError, match=r"unknown contenders.*choose from book, book_nnfs"):
        harness.run_suite(["reference"], ["numpy"])


def test_cli_writes_json(tmp_path, capsys):
    path = tmp_path / "out" / "bench.json"
    out = io.StringIO()
    code = main(["bench", "--cases", "reference,wide_dropout", "--contenders", "book,xpnet",
                 "--samples-per-class", "10", "--hidden", "8", "--epochs", "2",
                 "--repeats", "1", "--warmup", "1", "--no-ceilings", "--json", str(path)],
                out=out)
    assert code == 0
    text = out.getvalue()
    assert "reference: N=30, H=8, no dropout" in text
    assert "wide_dropout: N=30, H=8, Dropout(0.1)" in text
    assert f"wrote {path}" in text
    result = json.loads(path.read_text())
    assert list(result["cases"]) == ["reference", "wide_dropout"]
    assert result["config"]["contenders"] == ["book", "xpnet"]
    assert result["ceilings"] is None
    assert result["cases"]["wide_dropout"]["workload"]["hidden"] == 8


@pytest.mark.parametrize(("argv", "message"), [
    (["--cases", "reference,huge"], "unknown case 'huge'; choose from reference, "
     "reference_dropout, wide, wide_dropout, big, big_dropout"),
    (["--contenders", "jax"], "unknown contender 'jax'; choose from book,"),
    (["--repeats", "0"], "expected a positive integer"),
    (["--warmup", "-1"], "expected a non-negative integer"),
])
def test_cli_bad_values_exit_2_naming_the_choices(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
