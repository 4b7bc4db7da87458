"""The benchmark suite (xpnet.bench, ``xpnet bench``): the cost model and the floor against hand
counts, the harness's result schema on a tiny workload, the command, and a GPU run's logic
(devices, synchronization, skips) on the CPU by standing NumPy in for CuPy. The tests at the
end need CuPy and a GPU and skip without them. No timing is asserted."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import re
import sys

import numpy as np
import pytest

import xpnet
from xpnet.backend import resolve
from xpnet.bench import contenders, harness, machine, nnfs_book, workloads
from xpnet.bench.ceilings import Ceilings, measure
from xpnet.bench.report import render
from xpnet.bench.workloads import Workload
from xpnet.cli import main
from xpnet.errors import BackendError

# N=6 samples (2 per class), D=2 features, H=4 hidden units, C=3 classes
TINY = Workload("tiny", samples_per_class=2, hidden=4, dropout=0.0)
TINY_DROPOUT = Workload("tiny_dropout", samples_per_class=2, hidden=4, dropout=0.5)
#: the result's per-contender keys
ROW = {"device", "median_ms", "min_ms", "max_ms", "spread", "samples_ms", "setup_s",
       "final_loss", "final_acc", "gflops", "gbps", "gflops_fraction", "gbps_fraction",
       "floor_ms", "vs_floor", "peak_bytes", "peak_method", "needed_bytes", "peak_over_needed",
       "vs_book", "vs_book_nnfs", "vs_torch_eager", "vs_torch_compile", "vs_torch_cuda_graph",
       "vs_jax_jit"}
#: the result's top-level keys
TOP = {"benchmark", "complete", "device", "environment", "threads", "ceilings", "host_ceilings",
       "memory_methods", "config", "cases"}
#: the ceilings the fake-GPU tests use: a CPU and a GPU ten times faster
CPU_CEILINGS = Ceilings(matmul_gflops=100.0, bandwidth_gbps=10.0)
GPU_CEILINGS = Ceilings(matmul_gflops=1000.0, bandwidth_gbps=100.0, device="cuda")


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
    with pytest.raises(ValueError, match="unknown benchmark case 'giant'; choose from "
                       "reference, reference_dropout, wide, wide_dropout, big, big_dropout, "
                       "huge, huge_dropout"):
        workloads.get("giant")
    with pytest.raises(ValueError, match="dropout rate"):
        Workload("bad", 10, 8, 1.5)


def test_the_huge_case_by_hand():
    w = workloads.get("huge")
    assert list(workloads.GPU_CASES) == ["huge", "huge_dropout"]
    assert "huge" not in workloads.CASES and "huge_dropout" not in workloads.CASES
    assert workloads.get("huge_dropout") == dataclasses.replace(w, name="huge_dropout",
                                                               dropout=0.1)
    assert (w.samples_per_class, w.classes, w.N, w.features, w.hidden, w.dropout) == (
        100000, 3, 300000, 2, 1024, 0.0)
    N, D, H, C = 300000, 2, 1024, 3
    # forward X@W1, h@W2; backward dW2, dh, dW1: 2*N*(2*D*H + 3*H*C)
    assert workloads.flops(w) == 2 * N * D * H * 2 + 2 * N * H * C * 3 == 7_987_200_000
    assert w.n_parameters == D * H + H + H * C + C == 6147
    t = workloads.traffic(w)
    assert t["forward_hidden"] == 4 * (N * D + D * H + H + N * H) == 1_231_212_288
    assert t["backward_hidden"] == 4 * (N * C + H * C + 2 * N * H) == 2_461_212_288
    assert t["adam"] == 7 * 4 * 6147
    # six float32 N*H transfers (7.37 GB) dominate the 7.40 GB an epoch must move
    assert workloads.bytes_moved(w) == 7_400_633_580
    assert 6 * 4 * N * H == 7_372_800_000
    assert workloads.needed_bytes(w) == 4 * N * D + 8 * N + 16 * 6147 + 2 * 4 * N * H + 4 * N * C
    assert workloads.default_epochs(w) == 3 and workloads.default_epochs(w, quick=True) == 2


def test_default_cases_and_contenders_per_device():
    assert workloads.default_cases("cpu") == list(workloads.CASES.values())
    assert [w.name for w in workloads.default_cases("cuda")] == [
        "reference", "reference_dropout", "huge", "huge_dropout", "wide", "wide_dropout", "big",
        "big_dropout"]
    assert [w.name for w in workloads.default_cases("cuda", quick=True)] == [
        "reference", "reference_dropout", "huge", "huge_dropout", "wide"]
    with pytest.raises(ValueError, match="unknown device 'tpu'; choose from cpu, cuda"):
        workloads.default_cases("tpu")
    assert contenders.default_contenders("cpu") == [
        "book", "book_nnfs", "xpnet", "xpnet_faithful", "torch_eager", "jax_jit", "jax_scan",
        "torch_compile"]
    assert contenders.default_contenders("cuda") == list(contenders.CONTENDERS) == [
        "book", "book_nnfs", "xpnet", "xpnet_faithful", "xpnet_fast", "xpnet_layered",
        "xpnet_graph", "torch_eager", "torch_cuda_graph", "jax_jit", "jax_scan", "torch_compile"]
    # --quick: the small cases, and nothing that compiles first
    assert [w.name for w in workloads.default_cases("cpu", quick=True)] == [
        "reference", "reference_dropout", "wide"]
    assert contenders.default_contenders("cpu", quick=True) == [
        "book", "book_nnfs", "xpnet", "xpnet_faithful", "torch_eager"]
    assert contenders.default_contenders("cuda", quick=True) == [
        "book", "book_nnfs", "xpnet", "xpnet_faithful", "xpnet_fast", "xpnet_layered",
        "xpnet_graph", "torch_eager", "torch_cuda_graph"]


def test_the_tables_fit_in_100_columns_and_verbose_adds_the_details():
    result = _suite(["book", "xpnet"], Workload("reference_dropout", 10, 8, 0.1))
    result["config"]["quick"] = True
    text = render(result)
    assert max(len(line) for line in text.splitlines()) <= 100
    header = next(line for line in text.splitlines() if line.startswith("contender"))
    assert header.split() == ["contender", "ms/epoch", "+-%", "vs", "book", "GB/s", "x", "floor",
                              "peak", "MB", "acc"]  # vs nnfs, vs eager: not run here
    assert "--quick: fewer epochs" in text and "--verbose adds" in text
    rows = result["cases"]["reference_dropout"]["results"]
    line = next(line for line in text.splitlines() if line.startswith("xpnet "))
    assert line.split()[1] == f"{rows['xpnet']['median_ms']:.3f}"
    wide = render(result, verbose=True)
    assert "min-max" in wide and "GFLOP/s" in wide and "peak MB (x need)" in wide
    assert max(len(line) for line in wide.splitlines()) > 100


def test_floor_by_hand():
    # TINY: 624 FLOP at 100 GFLOP/s = 6.24 ns; 2148 B at 10 GB/s = 214.8 ns
    f = workloads.floor_ms(TINY, matmul_gflops=100.0, bandwidth_gbps=10.0)
    assert f["matmul_ms"] == pytest.approx(6.24e-6, rel=1e-12)
    assert f["traffic_ms"] == pytest.approx(2.148e-4, rel=1e-12)
    assert f["floor_ms"] == pytest.approx(6.24e-6 + 2.148e-4, rel=1e-12)
    # huge at an H100's float32 rate and bandwidth (about 50 TFLOP/s, 3 TB/s): 0.16 ms of
    # products + 2.47 ms of traffic = 2.63 ms; the GPU target is within 2x of it
    h = workloads.floor_ms(workloads.get("huge"), matmul_gflops=50_000.0, bandwidth_gbps=3000.0)
    assert h["matmul_ms"] == pytest.approx(7_987_200_000 / 50e12 * 1e3, rel=1e-12)
    assert h["traffic_ms"] == pytest.approx(7_400_633_580 / 3e12 * 1e3, rel=1e-12)
    assert h["floor_ms"] == pytest.approx(2.62662186, rel=1e-9)
    with pytest.raises(ValueError, match="positive ceilings"):
        workloads.floor_ms(TINY, 0.0, 10.0)


def test_ceilings_are_positive():
    c = measure(matmul_n=32, copy_bytes=2**16, tries=1)
    assert c.matmul_gflops > 0 and c.bandwidth_gbps > 0
    assert set(c.to_dict()) >= {"matmul_gflops", "bandwidth_gbps"}


def _suite(names, w=None, progress=None):
    fake = Ceilings(matmul_gflops=100.0, bandwidth_gbps=10.0)
    return harness.run_suite([w or Workload("small", 10, 8, 0.1)], names, epochs=2,
                             repeats=2, warmup=1, ceilings=fake, progress=progress)


def test_run_suite_schema_and_ratios():
    names = ["book", "xpnet"]
    if _torch_available():
        names.append("torch_eager")
    steps = []
    result = _suite(names, progress=lambda message, done, total: steps.append((done, total)))
    json.dumps(result, allow_nan=False)  # serialisable as strict JSON
    assert set(result) == TOP
    # per contender: build and warm up, 2 timed repeats, and a memory pass where measurable
    total = sum(3 + (contenders.memory_method(n, "cpu") is not None) for n in names)
    assert steps == [(done, total) for done in range(total)]
    assert result["complete"] is True and result["device"] == "cpu"
    assert result["environment"]["device"] == "cpu" and result["environment"]["cuda"] is None
    assert result["ceilings"]["device"] == "cpu" and result["host_ceilings"] is None
    assert result["threads"]["requested"] == 1
    case = result["cases"]["small"]
    assert case["skipped"] == {}
    assert case["workload"]["N"] == 30
    floor = workloads.floor_ms(Workload("small", 10, 8, 0.1), 100.0, 10.0)
    assert case["floor"] == {"cpu": floor} and case["floor_ms"] == floor["floor_ms"]
    rows = case["results"]
    assert list(rows) == names
    for name, row in rows.items():
        assert set(row) == ROW
        assert row["device"] == "cpu"
        assert len(row["samples_ms"]) == 2
        assert 0 < row["min_ms"] <= row["median_ms"] <= row["max_ms"]
        assert row["setup_s"] > 0
        assert row["gflops"] > 0 and row["gbps"] > 0
        assert row["gflops_fraction"] == pytest.approx(row["gflops"] / 100.0)
        assert row["floor_ms"] == floor["floor_ms"]
        assert row["vs_floor"] == pytest.approx(row["median_ms"] / floor["floor_ms"])
        assert row["needed_bytes"] == workloads.needed_bytes(Workload("small", 10, 8, 0.1))
        assert 0 <= row["final_acc"] <= 1 and math.isfinite(row["final_loss"])
        assert row["vs_book"] == pytest.approx(row["median_ms"] / rows["book"]["median_ms"])
        assert row["vs_book_nnfs"] is None  # not run
        if name in contenders.NUMPY_CONTENDERS:
            assert row["peak_method"] == "tracemalloc" and row["peak_bytes"] > 0
            assert row["peak_over_needed"] == pytest.approx(
                row["peak_bytes"] / row["needed_bytes"])
        else:
            assert row["peak_bytes"] is None and row["peak_over_needed"] is None
            assert row["peak_method"] is None
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


def _oracle_losses(w, X, y, epochs):
    """The book's classes (xpnet.bench.nnfs_book) run directly, as chapter 15's script runs
    them, with float32 parameters: the loss of each epoch."""
    np.random.seed(0)  # noqa: NPY002 (the book's global stream, as the contender)
    dense1 = nnfs_book.Layer_Dense(w.features, w.hidden)
    activation1 = nnfs_book.Activation_ReLU()
    dropout1 = nnfs_book.Layer_Dropout(w.dropout)
    dense2 = nnfs_book.Layer_Dense(w.hidden, w.classes)
    for dense in (dense1, dense2):
        dense.weights = dense.weights.astype(np.float32)
        dense.biases = dense.biases.astype(np.float32)
    loss_activation = nnfs_book.Activation_Softmax_Loss_CategoricalCrossentropy()
    optimizer = nnfs_book.Optimizer_Adam(learning_rate=workloads.LEARNING_RATE,
                                         decay=workloads.DECAY)
    losses = []
    for _ in range(epochs):
        dense1.forward(X)
        activation1.forward(dense1.output)
        hidden = activation1
        if w.dropout:
            dropout1.forward(activation1.output)
            hidden = dropout1
        dense2.forward(hidden.output)
        loss = (loss_activation.forward(dense2.output, y)
                + loss_activation.loss.regularization_loss(dense1)
                + loss_activation.loss.regularization_loss(dense2))
        losses.append(float(loss))
        loss_activation.backward(loss_activation.output, y)
        dense2.backward(loss_activation.dinputs)
        if w.dropout:
            dropout1.backward(dense2.dinputs)
            activation1.backward(dropout1.dinputs)
        else:
            activation1.backward(dense2.dinputs)
        dense1.backward(activation1.dinputs)
        optimizer.pre_update_params()
        optimizer.update_params(dense1)
        optimizer.update_params(dense2)
        optimizer.post_update_params()
    return losses


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_the_book_contender_is_the_oracle_run_directly(dropout):
    w = Workload("small", 10, 8, dropout)
    X, y = harness._data(w)
    run = contenders.make("book", w, X, y)
    assert [run(1)[0] for _ in range(5)] == _oracle_losses(w, X, y, 5)


def test_book_nnfs_leaves_numpy_and_the_shared_oracle_alone():
    dot = np.dot
    X, y = harness._data(TINY_DROPOUT)
    nnfs_loss = contenders.make("book_nnfs", TINY_DROPOUT, X, y)(3)[0]
    assert np.dot is dot and nnfs_book.np is np
    # its products are float64 cast back to float32: the loss is float32's, unlike book's
    # (the float64 dropout mask makes book's second product float64)
    assert nnfs_loss == float(np.float32(nnfs_loss))
    assert contenders.make("book", TINY_DROPOUT, X, y)(3)[0] != nnfs_loss


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
    (["--cases", "reference,giant"], "unknown case 'giant'; choose from reference, "
     "reference_dropout, wide, wide_dropout, big, big_dropout, huge, huge_dropout"),
    (["--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    (["--contenders", "jax"], "unknown contender 'jax'; choose from book,"),
    (["--repeats", "0"], "expected a positive integer"),
    (["--warmup", "-1"], "expected a non-negative integer"),
])
def test_cli_bad_values_exit_2_naming_the_choices(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# A GPU run's logic, on the CPU.
# ---------------------------------------------------------------------------------------

def _host_data(w=TINY):
    X, y = harness._data(w)
    return X, y


def test_every_timed_region_starts_and_ends_with_a_synchronize():
    events = []

    def run(epochs):
        events.append(f"run {epochs}")
        return 0.5, 0.25

    ms, last = harness._time(run, 4, lambda: events.append("sync"))
    assert events == ["sync", "run 4", "sync"]
    assert last == (0.5, 0.25) and ms >= 0


def test_where_each_contender_computes_synchronizes_and_is_measured():
    assert [contenders.placement(n, "cuda") for n in contenders.CONTENDERS] == [
        "cpu", "cpu", "cuda", "cuda", "cuda", "cuda", "cuda", "cuda", "cuda", "cuda", "cuda",
        "cuda"]
    assert {contenders.placement(n, "cpu") for n in contenders.CONTENDERS} == {"cpu"}
    methods = {n: contenders.memory_method(n, "cuda") for n in contenders.CONTENDERS}
    assert methods == {"book": "tracemalloc", "book_nnfs": "tracemalloc",
                       "xpnet": "cupy_pool", "xpnet_faithful": "cupy_pool",
                       "xpnet_fast": "cupy_pool", "xpnet_layered": "cupy_pool",
                       "xpnet_graph": "cuda_free_memory",
                       "torch_eager": "torch_cuda", "torch_cuda_graph": "torch_cuda",
                       "jax_jit": None, "jax_scan": None, "torch_compile": None}
    assert set(methods.values()) - {None} <= set(harness.MEMORY_METHODS)
    assert contenders.memory_method("torch_eager", "cpu") is None
    assert contenders.memory_method("jax_jit", "cpu") is None
    # host work has nothing to wait for
    assert contenders.synchronizer("book", "cuda") is contenders._no_op
    assert contenders.synchronizer("xpnet", "cpu") is contenders._no_op


def test_cuda_without_cupy_is_a_usage_error_naming_the_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` fails, as without CuPy
    with pytest.raises(BackendError, match=r"--device cuda needs CuPy and a CUDA GPU"):
        harness.run_suite(["reference"], ["xpnet"], device="cuda")
    out = io.StringIO()
    code = main(["bench", "--device", "cuda", "--cases", "reference", "--contenders", "xpnet",
                 "--no-ceilings"], out=out)
    assert code == 2
    assert out.getvalue() == ""  # nothing was run
    err = capsys.readouterr().err
    assert err.startswith("xpnet bench: error: --device cuda needs CuPy and a CUDA GPU, and "
                          "CuPy cannot be used here: CuPy is not installed (")
    assert "Install it with pip install 'xpnet[cupy-cuda12]' for CUDA 12" in err
    assert err.rstrip().endswith("Without a GPU, use --device cpu.")
    assert "Traceback" not in err


def test_cuda_without_a_gpu_says_so(monkeypatch):
    def no_gpu(name, device=None):
        raise BackendError("backend 'cupy' needs a CUDA GPU, but none could be used: "
                           "cudaErrorNoDevice: no CUDA-capable device is detected")

    monkeypatch.setattr(machine, "resolve", no_gpu)
    with pytest.raises(BackendError) as exc:
        harness.require_device("cuda")
    assert str(exc.value) == (
        "--device cuda needs CuPy and a CUDA GPU, and CuPy cannot be used here: backend 'cupy' "
        "needs a CUDA GPU, but none could be used: cudaErrorNoDevice: no CUDA-capable device "
        "is detected. If CuPy was built for another CUDA version than the driver's, install the "
        "matching build: pip install 'xpnet[cupy-cuda12]' for CUDA 12, pip install "
        "'xpnet[cupy-cuda13]' for CUDA 13 (nvidia-smi shows the driver's CUDA version). "
        "Without a GPU, use --device cpu.")
    harness.require_device("cpu")  # nothing to check


def test_gpu_only_contenders_are_skipped_on_the_cpu():
    X, y = _host_data()
    with pytest.raises(contenders.Unavailable, match="xpnet_fast runs on a GPU only"):
        contenders.make("xpnet_fast", TINY, X, y)
    result = harness.run_suite([TINY], ["xpnet", "xpnet_graph"], epochs=2, repeats=1,
                               warmup=1, memory=False, ceilings=False)
    case = result["cases"]["tiny"]
    assert list(case["results"]) == ["xpnet"]
    assert case["skipped"] == {
        "xpnet_graph": "xpnet_graph runs on a GPU only (CuPy's fused kernels): use --device cuda"}


@pytest.fixture
def numpy_as_gpu(monkeypatch):
    """A GPU run's code paths on the CPU: xpnet's 'cuda' contenders on NumPy, torch's on the
    CPU (synchronize is then a no-op and memory is measured with tracemalloc)."""
    monkeypatch.setitem(contenders.XPNET_BACKEND, "cuda", "numpy")
    monkeypatch.setitem(contenders.TORCH_DEVICE, "cuda", "cpu")
    monkeypatch.setitem(contenders.JAX_PLATFORM, "cuda", "cpu")


def test_fast_and_graph_are_skipped_with_the_reason_when_the_api_is_absent(numpy_as_gpu,
                                                                           monkeypatch):
    X, y = _host_data()

    class WithoutFast(xpnet.Model):  # an xpnet from before fast= and graph=
        def __init__(self, *, backend="numpy", seed=0):
            super().__init__(backend=backend, seed=seed)

    monkeypatch.setattr(contenders, "Model", WithoutFast)
    with pytest.raises(contenders.Unavailable,
                       match=r"Model\(backend='numpy', fast=True\) is not available: "
                       r"TypeError: .*unexpected keyword argument 'fast'"):
        contenders.make("xpnet_fast", TINY, X, y, device="cuda")

    class WithoutGraph(xpnet.Model):  # fast= accepted, train() without graph=
        def __init__(self, *, backend="numpy", seed=0, fast=False):
            super().__init__(backend=backend, seed=seed)

        def train(self, X, y, *, epochs=1, log_every=1):
            return super().train(X, y, epochs=epochs, log_every=log_every)

    monkeypatch.setattr(contenders, "Model", WithoutGraph)
    run = contenders.make("xpnet_graph", TINY, X, y, device="cuda")
    with pytest.raises(contenders.Unavailable,
                       match=r"train\(graph=True\) is not available: TypeError: .*'graph'"):
        run(2)
    # the plain contender is unaffected and really trains on the device's copy of the data
    loss, acc = contenders.make("xpnet", TINY, X, y, device="cuda")(3)
    assert math.isfinite(loss) and 0 <= acc <= 1


def test_a_gpu_run_on_numpy_labels_devices_floors_and_skips(numpy_as_gpu, monkeypatch):
    def no_compiler(w, X, y, device="cpu"):
        raise contenders.Unavailable("no compiler here")

    monkeypatch.setitem(contenders.CONTENDERS, "torch_compile", no_compiler)
    small, huge = Workload("small", 10, 8, 0.0), Workload("huge", 10, 8, 0.0)  # huge's name
    saved = []
    result = harness.run_suite([small, huge], device="cuda", epochs=2, repeats=2, warmup=1,
                               ceilings=[CPU_CEILINGS, GPU_CEILINGS],
                               checkpoint=lambda r: saved.append(json.loads(json.dumps(r))))
    json.dumps(result, allow_nan=False)
    assert set(result) == TOP and result["device"] == "cuda" and result["complete"] is True
    # one checkpoint per case, the partial result marked incomplete
    assert [(s["complete"], list(s["cases"])) for s in saved] == [
        (False, ["small"]), (False, ["small", "huge"])]
    assert result["ceilings"] == GPU_CEILINGS.to_dict()
    assert result["host_ceilings"] == CPU_CEILINGS.to_dict()
    env = result["environment"]
    assert env["device"] == "cuda" and set(env["cuda"]) >= {"gpu", "cupy_tf32", "errors"}
    assert result["config"]["contenders"] == list(contenders.CONTENDERS)

    case = result["cases"]["small"]
    cpu_floor = workloads.floor_ms(small, 100.0, 10.0)["floor_ms"]
    gpu_floor = workloads.floor_ms(small, 1000.0, 100.0)["floor_ms"]
    assert case["device"] == "cuda" and case["floor_ms"] == gpu_floor
    assert case["floor"]["cpu"]["floor_ms"] == cpu_floor
    assert gpu_floor == pytest.approx(cpu_floor / 10)
    rows, skipped = case["results"], case["skipped"]
    assert skipped["torch_compile"] == "no compiler here"
    # graph=True refuses a model without fused kernels (here: NumPy), with the reason
    assert skipped["xpnet_graph"].startswith("train(graph=True) is not available: ValueError: "
                                             "graph=True cannot be used here")
    assert skipped["torch_cuda_graph"].startswith("torch_cuda_graph needs CUDA") or (
        skipped["torch_cuda_graph"].startswith("torch is not installed"))
    for name, row in rows.items():
        assert set(row) == ROW
        on_host = name in contenders.HOST_ONLY
        assert row["device"] == ("cpu" if on_host else "cuda")
        assert row["floor_ms"] == (cpu_floor if on_host else gpu_floor)
        assert row["vs_floor"] == pytest.approx(row["median_ms"] / row["floor_ms"])
        ceiling = CPU_CEILINGS if on_host else GPU_CEILINGS
        assert row["gbps_fraction"] == pytest.approx(row["gbps"] / ceiling.bandwidth_gbps)
    for name in ("xpnet", "xpnet_faithful"):
        assert rows[name]["peak_method"] == "tracemalloc" and rows[name]["peak_bytes"] > 0
        assert rows[name]["vs_book"] == pytest.approx(
            rows[name]["median_ms"] / rows["book"]["median_ms"])

    # the CPU baselines sit out the GPU case unless named, with the reason
    huge_case = result["cases"]["huge"]
    for name in contenders.HOST_ONLY:
        assert huge_case["skipped"][name].startswith(
            f"{name} runs on the CPU; a GPU run times it on the CPU-sized cases only")
        assert name not in huge_case["results"]
    assert "xpnet" in huge_case["results"]

    for name in ("jax_jit", "jax_scan"):  # JAX's CPU standing in for its GPU
        assert name in rows or skipped[name].startswith("jax is not installed")
    if "jax_jit" in rows:
        assert rows["xpnet"]["vs_jax_jit"] == pytest.approx(
            rows["xpnet"]["median_ms"] / rows["jax_jit"]["median_ms"])
        assert rows["jax_scan"]["vs_jax_jit"] is None  # peer ratios: xpnet rows only
        assert rows["jax_jit"]["peak_method"] is None
    assert max(len(line) for line in render(result).splitlines()) <= 100

    text = render(result, verbose=True)
    assert re.search(r"^book \(cpu\) ", text, re.MULTILINE)
    assert re.search(r"^xpnet +\d", text, re.MULTILINE)  # on the run's device: no label
    assert " floor ms x floor " in text and "; floor on cuda " in text
    assert "on cuda: xpnet on CuPy" in text and "GPU ceilings, CUDA events" in text


def test_cli_json_is_written_after_every_case(tmp_path, monkeypatch):
    path = tmp_path / "bench.json"
    seen = []
    real_save = harness.save

    def save(result, where):
        seen.append((result["complete"], list(result["cases"])))
        real_save(result, where)

    monkeypatch.setattr(harness, "save", save)
    code = main(["bench", "--cases", "reference,wide", "--contenders", "xpnet",
                 "--samples-per-class", "10", "--hidden", "8", "--epochs", "2", "--repeats", "1",
                 "--warmup", "0", "--no-ceilings", "--no-memory", "--json", str(path)],
                out=io.StringIO())
    assert code == 0
    assert seen == [(False, ["reference"]), (False, ["reference", "wide"]),
                    (True, ["reference", "wide"])]
    result = json.loads(path.read_text())
    assert result["complete"] is True and result["config"]["device"] == "cpu"
    assert result["cases"]["wide"]["floor"] == {} and result["cases"]["wide"]["floor_ms"] is None


def test_cli_cases_all_means_the_devices_cases(monkeypatch):
    seen = {}

    def fake_suite(cases, contenders_, **kwargs):
        seen["cases"] = [w.name for w in cases]
        seen["contenders"], seen["device"] = contenders_, kwargs["device"]
        raise KeyboardInterrupt  # stop before anything is timed

    monkeypatch.setattr(harness, "run_suite", fake_suite)
    assert main(["bench", "--cases", "all", "--contenders", "all"], out=io.StringIO()) == 130
    assert seen == {"cases": list(workloads.CASES), "contenders": None, "device": "cpu"}
    assert main(["bench", "--cases", "huge"], out=io.StringIO()) == 130  # named: it runs
    assert seen["cases"] == ["huge"]


# ---------------------------------------------------------------------------------------
# The JAX contenders and PyTorch's CUDA-graph step, on the CPU.
# ---------------------------------------------------------------------------------------

def _xpnet_model(w):
    """The ``xpnet`` contender's model (``Model(backend="numpy", seed=0)``, the same layers),
    as contenders._xpnet builds it."""
    return contenders.build_workload(xpnet.Model(backend="numpy", seed=0), w)


@pytest.mark.parametrize("scan", [False, True], ids=["jax_jit", "jax_scan"])
def test_jax_contenders_follow_xpnet_from_its_weights(scan):
    # the reference workload without dropout, from xpnet's first weights: the loss of each
    # of 20 epochs within 1e-4 (relative) of xpnet's, in float32 (about 1e-5 is seen; Adam's
    # early steps, about lr whatever the gradient's size, make two float32 runs drift apart
    # later: 1e-3 by epoch 50)
    pytest.importorskip("jax")
    w = workloads.get("reference")
    X, y = harness._data(w)
    m = _xpnet_model(w)
    first = tuple(np.array(p) for p in m.parameters().values())  # W1, b1, W2, b2
    expected = m.train(X, y, epochs=20, log_every=1)["loss"]
    run = contenders._jax(w, X, y, "cpu", scan=scan, params=first)
    losses = [run(1)[0] for _ in range(20)]
    assert losses[0] == pytest.approx(expected[0], rel=1e-6)  # the same weights
    assert losses == pytest.approx(expected, rel=1e-4)
    assert losses[-1] < losses[0]


def test_jax_contenders_start_from_the_books_weights():
    pytest.importorskip("jax")
    w = Workload("small", 10, 8, 0.0)
    X, y = harness._data(w)
    book, jit = contenders.make("book", w, X, y), contenders.make("jax_jit", w, X, y)
    assert [jit(1)[0] for _ in range(5)] == pytest.approx([book(1)[0] for _ in range(5)],
                                                          rel=1e-5)


def test_jax_scan_is_jax_jit_several_epochs_per_launch():
    # with dropout: the same key split per step, so the same masks; 37 epochs = 2 x 16 + 4 + 1
    # launches of the scan against 37 calls of the step
    pytest.importorskip("jax")
    w = Workload("small", 10, 8, 0.5)
    X, y = harness._data(w)
    jit, scan = contenders.make("jax_jit", w, X, y), contenders.make("jax_scan", w, X, y)
    assert contenders.SCAN_LENGTHS == (64, 16, 4, 1)
    by_step = [jit(1) for _ in range(37)][-1]
    assert scan(37) == pytest.approx(by_step, rel=1e-5)
    assert jit(3) == pytest.approx(scan(3), rel=1e-5)  # and training goes on in both


def test_jax_dropout_draws_a_new_mask_every_step():
    jax = pytest.importorskip("jax")
    w = Workload("small", 10, 8, 0.5)
    X, y = harness._data(w)
    step = contenders._jax_step(jax, w)
    state, Xj, yj = contenders._jax_state(jax, w, X, y, jax.devices("cpu")[0])
    params = state[0]
    # the same parameters, two consecutive keys: different masks, so different losses
    (_, _, _, _, key), (loss_1, _) = step(state, Xj, yj)
    _, (loss_2, _) = step((params, *state[1:4], key), Xj, yj)
    _, (again, _) = step(state, Xj, yj)
    assert float(loss_1) != float(loss_2) and float(again) == float(loss_1)
    # without dropout the key changes nothing
    plain = contenders._jax_step(jax, Workload("small", 10, 8, 0.0))
    _, (loss_a, _) = plain(state, Xj, yj)
    _, (loss_b, _) = plain((params, *state[1:4], key), Xj, yj)
    assert float(loss_a) == float(loss_b)


def test_jax_without_the_device_is_unavailable(monkeypatch):
    jax = pytest.importorskip("jax")
    X, y = _host_data()
    if not any(d.platform == "gpu" for d in jax.devices()):
        with pytest.raises(contenders.Unavailable, match=r"jax .* cannot use a gpu device here"):
            contenders.make("jax_jit", TINY, X, y, device="cuda")
    monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` fails, as without JAX
    with pytest.raises(contenders.Unavailable, match="jax is not installed"):
        contenders.make("jax_scan", TINY, X, y)
    with pytest.raises(contenders.Unavailable, match="jax is not installed"):
        contenders.synchronizer("jax_jit", "cpu")


def test_torch_cuda_graph_needs_cuda(monkeypatch):
    pytest.importorskip("torch")
    X, y = _host_data()
    assert "torch_cuda_graph" in contenders.CONTENDERS
    assert "torch_cuda_graph" in contenders.GPU_ONLY
    assert "torch_cuda_graph" not in contenders.default_contenders("cpu")
    with pytest.raises(contenders.Unavailable, match=r"torch_cuda_graph needs CUDA: it "
                       r"captures PyTorch's training step as a CUDA graph"):
        contenders.make("torch_cuda_graph", TINY, X, y)
    monkeypatch.setitem(contenders.TORCH_DEVICE, "cuda", "cpu")  # a GPU run without CUDA
    with pytest.raises(contenders.Unavailable, match="torch_cuda_graph needs CUDA"):
        contenders.make("torch_cuda_graph", TINY, X, y, device="cuda")
    result = harness.run_suite([TINY], ["xpnet", "torch_cuda_graph"], epochs=2, repeats=1,
                               warmup=1, memory=False, ceilings=False)
    assert result["cases"]["tiny"]["skipped"]["torch_cuda_graph"].startswith(
        "torch_cuda_graph needs CUDA")
    assert "skipped torch_cuda_graph: torch_cuda_graph needs CUDA" in render(result)


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_torch_cuda_graph_step_uncaptured_is_torch_eager(dropout):
    # the step the graph records, run eagerly on the CPU: torch_eager's numbers (the same
    # weights, the same dropout masks from the same generator; the decayed rate computed in
    # a float32 tensor instead of a Python float)
    pytest.importorskip("torch")
    w = Workload("small", 50, 16, dropout)
    X, y = harness._data(w)
    eager = contenders.make("torch_eager", w, X, y)
    expected = [eager(1) for _ in range(6)]  # one after the other: they share torch's stream
    step = contenders._torch_uncaptured(w, X, y)
    got = [step(1) for _ in range(6)]
    assert np.array(got) == pytest.approx(np.array(expected), rel=1e-5)


def test_torch_whole_step_reset_undoes_the_warmup():
    torch = pytest.importorskip("torch")
    w = Workload("small", 50, 16, 0.0)
    X, y = harness._data(w)
    parts = contenders._torch_whole_step(torch, w, X, y, torch.device("cpu"))
    first = [float(parts.step()[0]) for _ in range(3)]
    parts.reset()
    assert [float(parts.step()[0]) for _ in range(3)] == pytest.approx(first, rel=1e-6)


# ---------------------------------------------------------------------------------------
# On a GPU (skipped without CuPy and a CUDA device).
# ---------------------------------------------------------------------------------------

@pytest.fixture
def gpu():
    cupy = pytest.importorskip("cupy")
    try:
        resolve("cupy")
    except BackendError as exc:
        pytest.skip(f"no usable CUDA GPU: {exc}")
    return cupy


def test_gpu_ceilings_and_facts(gpu):
    from xpnet.bench.ceilings import measure_cuda

    c = measure_cuda(matmul_n=1024, copy_bytes=2**26, tries=2)
    assert c.device == "cuda" and c.matmul_gflops > 0 and c.bandwidth_gbps > 0
    facts = harness.cuda_facts()
    assert isinstance(facts["gpu"], str) and facts["gpu"]
    assert re.fullmatch(r"\d+\.\d+", facts["cuda_runtime"])
    assert re.fullmatch(r"\d+\.\d+", facts["cuda_driver"])
    assert facts["cupy"] == gpu.__version__ and facts["memory_bytes"] > 0


def test_a_small_gpu_run(gpu):
    names = ["book", "xpnet", "xpnet_fast", "xpnet_layered", "xpnet_graph", "torch_eager",
             "torch_cuda_graph", "jax_jit", "jax_scan"]
    w = Workload("small", 100, 16, 0.0)
    result = harness.run_suite([w], names, device="cuda", epochs=5, repeats=2, warmup=2,
                               ceilings=[CPU_CEILINGS, GPU_CEILINGS])
    json.dumps(result, allow_nan=False)
    case = result["cases"]["small"]
    rows, skipped = case["results"], case["skipped"]
    assert set(rows) | set(skipped) == set(names) and all(skipped.values())
    assert rows["book"]["device"] == "cpu" and rows["book"]["peak_method"] == "tracemalloc"
    xp_row = rows["xpnet"]
    assert xp_row["device"] == "cuda" and xp_row["peak_method"] == "cupy_pool"
    # at least the data and the parameters live in the pool
    assert xp_row["peak_bytes"] >= w.N * (4 * w.features + 8)
    assert xp_row["vs_floor"] == pytest.approx(xp_row["median_ms"] / case["floor_ms"])
    assert 0 <= xp_row["final_acc"] <= 1 and math.isfinite(xp_row["final_loss"])
    for name in ("torch_eager", "torch_cuda_graph"):
        if name in rows:
            assert rows[name]["peak_method"] == "torch_cuda" and rows[name]["peak_bytes"] > 0
            assert 0 <= rows[name]["final_acc"] <= 1 and math.isfinite(rows[name]["final_loss"])
    for name in ("jax_jit", "jax_scan"):
        if name in rows:
            assert rows[name]["device"] == "cuda" and rows[name]["peak_method"] is None
            assert 0 <= rows[name]["final_acc"] <= 1 and math.isfinite(rows[name]["final_loss"])
    if "torch_cuda_graph" in rows:
        assert xp_row["vs_torch_cuda_graph"] == pytest.approx(
            xp_row["median_ms"] / rows["torch_cuda_graph"]["median_ms"])
    assert result["environment"]["cuda"]["gpu"]
    assert np.isfinite(result["ceilings"]["matmul_gflops"])


@pytest.fixture
def torch_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip(f"torch {torch.__version__} cannot use CUDA here")
    return torch


def test_torch_cuda_graph_replays_torch_eager(torch_cuda):
    # without dropout the replays give torch_eager's numbers (the warmup before the capture
    # undone; the capturable Adam and the rate computed on the device round differently)
    w = Workload("small", 100, 16, 0.0)
    X, y = harness._data(w)
    eager = contenders.make("torch_eager", w, X, y, device="cuda")
    expected = [eager(1) for _ in range(10)]
    graph = contenders.make("torch_cuda_graph", w, X, y, device="cuda")
    got = [graph(1) for _ in range(10)]
    assert np.array(got) == pytest.approx(np.array(expected), rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_torch_cuda_graph_draws_new_masks_every_replay(torch_cuda, dropout):
    # from the same weights (reset between two replays): the same loss without dropout, a
    # different one with it, since each replay advances the generator's Philox offset
    torch = torch_cuda
    w = Workload("small", 100, 16, dropout)
    X, y = harness._data(w)
    parts = contenders._torch_whole_step(torch, w, X, y, torch.device("cuda"))
    graph, (loss, _) = contenders._captured(torch, parts)
    graph.replay()
    first = float(loss)
    parts.reset()
    graph.replay()
    assert (float(loss) == first) == (not dropout)


def test_jax_on_the_gpu_follows_jax_on_the_cpu():
    jax = pytest.importorskip("jax")
    try:
        jax.devices("gpu")
    except RuntimeError as exc:
        pytest.skip(f"JAX has no GPU here: {exc}")
    w = workloads.get("reference")
    X, y = harness._data(w)
    on_cpu = contenders.make("jax_jit", w, X, y)
    expected = [on_cpu(1)[0] for _ in range(20)]
    on_gpu = contenders.make("jax_jit", w, X, y, device="cuda")
    assert [on_gpu(1)[0] for _ in range(20)] == pytest.approx(expected, rel=1e-4)
    scan = contenders.make("jax_scan", w, X, y, device="cuda")
    assert scan(20)[0] == pytest.approx(expected[-1], rel=1e-4)


def test_bench_fails_when_no_contender_ran(capsys, monkeypatch):
    """A width that cannot fit makes every contender fail: nothing measured is exit 1."""
    import os

    pages = {"SC_PHYS_PAGES": 2**16, "SC_PAGE_SIZE": 4096}  # a 256 MiB machine
    monkeypatch.setattr(os, "sysconf", lambda name: pages[name])
    code = main(["bench", "--cases", "reference", "--contenders", "xpnet", "--hidden",
                 "100000", "--epochs", "1", "--repeats", "1", "--warmup", "0",
                 "--no-ceilings", "--no-memory"], out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 1 and "no contender ran, so nothing was measured: failed: ValueError: " \
        "training on 3,000 samples" in err


def test_a_thread_count_the_libraries_or_the_machine_cannot_give_is_said():
    """--threads 1000 ran with OpenBLAS's 64 threads (its build's maximum) without a word."""
    with machine.limit_threads(1000) as info:
        capped = {f"{p.get('prefix') or p['internal_api']} runs {p['num_threads']} threads, "
                  "not the 1000 asked: its build allows no more"
                  for p in info["pools"] if p["num_threads"] < 1000}
    assert set(info["warnings"][:-1]) == capped and len(info["warnings"]) == len(capped) + 1
    assert info["warnings"][-1] == (f"1000 threads asked on {os.cpu_count()} CPUs: they take "
                                    "turns on the cores, which slows every contender")
    with machine.limit_threads(1) as info:
        assert info["warnings"] == []
