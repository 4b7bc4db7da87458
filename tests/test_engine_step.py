"""The whole-step engine (xpnet.engine.step): forward and backward of the book's networks as
three kernels, checked against the layered path.

On the CPU the kernels' source is compiled by the host's C++ compiler (``host_cupy``) and
models train with it on NumPy, side by side with the layered path (``fast=False``) drawing
the same counter-based masks: the values agree to rounding (the sums run in another order),
the same units are dropped, and the run repeats bit for bit. The CuPy tests at the end skip
without a GPU.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import xpnet
from _host_kernels import replay
from xpnet import trace
from xpnet.backend import resolve, to_numpy
from xpnet.engine import fused, step
from xpnet.nn.activations import Linear, ReLU, Sigmoid, Softmax
from xpnet.nn.layers import Dense, Dropout
from xpnet.nn.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    MeanSquaredError,
    SoftmaxCrossentropy,
)
from xpnet.nn.optimizers import SGD, Adam, Optimizer

#: After 30 Adam steps of learning rate 0.05 on parameters of size ~1, float32's rounding
#: differences have grown to ~5e-6 (Adam's step hardly depends on a gradient's size, so a
#: rounding difference in a small gradient moves a weight by up to the learning rate's
#: share of it); float64 keeps ~11 digits.
TOLERANCE = {"float32": {"rtol": 2e-4, "atol": 2e-5}, "float64": {"rtol": 1e-10, "atol": 1e-13}}


class HostKernels(fused.Kernels):
    """The fused kernels' reference, with the whole step's kernels compiled for the host;
    counts the steps recorded as graphs, and fails to record when told why.

    A step is recorded as CUDA records it: its kernel launches with their arguments, and the
    step table's move to its next row (a kernel on the device), are kept, not run; a replay
    runs them again as they were and nothing else (no Python of the step runs again)."""

    def __init__(self, backend, module, fail=None):
        super().__init__(backend)
        self.elementwise = module
        self.captures, self.updates, self.fail = 0, 0, fail

    def update(self, rule, scalars, p, g, state):
        assert getattr(self.elementwise, "recorded", None) is None, \
            "a NumPy update cannot be recorded"
        self.updates += 1
        super().update(rule, scalars, p, g, state)

    def capture(self, step):
        self.captures += 1
        if self.fail is not None:
            raise NotImplementedError(self.fail)
        table = self.table
        before = table.counter.copy()
        with self.elementwise.recording() as launches:
            out = step()
        moved = table.counter - before
        table.counter[...] = before  # recorded, not run

        def launch():
            replay(launches)
            table.counter += moved
            return out

        return launch


@pytest.fixture(scope="module")
def data():
    return xpnet.datasets.spiral(samples=70, classes=3, seed=1)


def build(fast, *, dropout=0.1, hidden=16, dtype="float32", softmax_layer=True,
          l1=0.0, l2=5e-4, masks="counter", seed=3, backend="numpy"):
    model = xpnet.Model(backend=backend, seed=seed, fast=fast, dtype=dtype,
                        dropout_masks=masks)
    model.add(Dense(2, hidden, weight_l1=l1, bias_l1=l1, weight_l2=l2, bias_l2=l2))
    model.add(ReLU())
    if dropout:
        model.add(Dropout(dropout))
    model.add(Dense(hidden, 3, weight_l1=l1 / 2))
    if softmax_layer:
        model.add(Softmax())
    loss = CategoricalCrossentropy() if softmax_layer else SoftmaxCrossentropy()
    model.set(loss=loss, optimizer=Adam(learning_rate=0.05, decay=5e-4))
    return model


def host_kernels(host_cupy, backend="numpy", fail=None):
    return HostKernels(resolve(backend), host_cupy, fail)


def assert_close_params(a, b, dtype):
    pa, pb = a.parameters(), b.parameters()
    assert pa.keys() == pb.keys()
    for key in pa:
        np.testing.assert_allclose(to_numpy(pa[key]), to_numpy(pb[key]), err_msg=key,
                                   **TOLERANCE[dtype])


# -- where it applies -----------------------------------------------------------------------
def layers_of(*kinds):
    made = {"dense_in": lambda: Dense(2, 8), "dense_out": lambda: Dense(8, 3),
            "relu": ReLU, "dropout": lambda: Dropout(0.2), "softmax": Softmax,
            "sigmoid": Sigmoid, "linear": Linear, "dense_wide_in": lambda: Dense(17, 8),
            "dense_many_classes": lambda: Dense(8, 17)}
    return [made[k]() for k in kinds]


@pytest.mark.parametrize(("kinds", "loss", "masks", "expected"), [
    (("dense_in", "relu", "dropout", "dense_out", "softmax"), CategoricalCrossentropy(),
     "counter", (2, 8, 3, True, True)),
    (("dense_in", "relu", "dense_out", "softmax"), CategoricalCrossentropy(), "host",
     (2, 8, 3, False, True)),
    (("dense_in", "relu", "dense_out"), SoftmaxCrossentropy(), "host", (2, 8, 3, False, False)),
    # host-drawn masks cannot be drawn inside the kernels
    (("dense_in", "relu", "dropout", "dense_out", "softmax"), CategoricalCrossentropy(),
     "host", None),
    (("dense_in", "relu", "dense_out", "softmax"), MeanSquaredError(), "host", None),
    (("dense_in", "relu", "dense_out", "sigmoid"), BinaryCrossentropy(), "host", None),
    (("dense_in", "sigmoid", "dense_out", "softmax"), CategoricalCrossentropy(), "host", None),
    (("dense_in", "relu", "dense_out", "relu", "dense_out", "softmax"),
     CategoricalCrossentropy(), "host", None),
    (("dense_in", "relu", "dropout", "dropout", "dense_out", "softmax"),
     CategoricalCrossentropy(), "counter", None),
    (("dense_wide_in", "relu", "dense_out", "softmax"), CategoricalCrossentropy(), "host", None),
    (("dense_in", "relu", "dense_many_classes", "softmax"), CategoricalCrossentropy(), "host",
     None),
])
def test_plan_accepts_the_books_classifiers_only(kinds, loss, masks, expected):
    found = step.plan(layers_of(*kinds), loss, masks)
    if expected is None:
        assert found is None
    else:
        assert (found.a, found.hidden, found.c, found.dropout is not None,
                found.probs) == expected


def test_the_whole_step_runs_where_it_applies_and_nowhere_else(host_cupy, data):
    X, y = data
    kernels = host_kernels(host_cupy)
    assert build(kernels).engine == "step"
    assert build(False).engine == "buffered" and build(True).engine == "buffered"
    # host masks, faithful mode and explain mode keep the layered path
    assert build(kernels, masks="host").engine == "fused"
    assert build(kernels, dropout=0, masks="host").engine == "step"
    model = build(kernels)
    with trace.Tracer():
        assert model.engine == "plain"
        model.train(X, y, epochs=1)
    assert model.optimizer.iterations == 1


def test_parameters_out_of_c_order_train_layer_by_layer(host_cupy, data, caplog):
    """The kernels read each parameter as one C-ordered block: a transposed view (a user's
    ``W.T``) trains layer by layer, with the values of a model given a C-ordered copy."""
    X, y = data
    model, alike = build(host_kernels(host_cupy)), build(host_kernels(host_cupy))
    W = np.ascontiguousarray(model.layers[0].params["W"].T).T  # (2, 16), Fortran order
    model.layers[0].params["W"] = W
    assert not W.flags.c_contiguous and model.engine != step.WholeStep.name
    with caplog.at_level("WARNING"):
        h = model.train(X, y, epochs=5)
    assert "did not run" not in caplog.text
    layered = build(False)
    assert h.records == layered.train(X, y, epochs=5).records
    assert alike.engine == step.WholeStep.name  # C order: the whole step

# -- the same training as the layered path ----------------------------------------------------
@pytest.mark.parametrize("case", [
    {},
    {"dtype": "float64"},
    {"dropout": 0},
    {"dropout": 0.3, "dtype": "float64", "hidden": 10},  # counters straddle rows
    {"softmax_layer": False, "dtype": "float64"},  # SoftmaxCrossentropy: the logits out
    {"l1": 1e-3, "l2": 0.0, "dtype": "float64"},
    {"hidden": 130, "dropout": 0.5},
])
def test_training_gives_the_layered_values(host_cupy, data, case):
    X, y = data
    dtype = case.get("dtype", "float32")
    model, layered = build(host_kernels(host_cupy), **case), build(False, **case)
    assert model.engine == "step"
    h = model.train(X, y, epochs=30, log_every=10)
    h_layered = layered.train(X, y, epochs=30, log_every=10)
    for a, b in zip(h.records, h_layered.records, strict=True):
        for k in ("loss", "acc", "data_loss", "reg_loss"):
            assert a[k] == pytest.approx(b[k], **{"rel": TOLERANCE[dtype]["rtol"] * 10,
                                                  "abs": TOLERANCE[dtype]["atol"]}), k
    assert_close_params(model, layered, dtype)
    for lm, ll in zip(model.trainable_layers, layered.trainable_layers, strict=True):
        for k in ("W", "b"):
            np.testing.assert_allclose(lm.grads[k], ll.grads[k], **TOLERANCE[dtype])


def test_one_hot_targets_mini_batches_and_shuffles(host_cupy, data):
    X, y = data
    one_hot = np.eye(3, dtype=np.float64)[y]
    model = build(host_kernels(host_cupy), dtype="float64")
    layered = build(False, dtype="float64")
    h = model.train(X, one_hot, epochs=6, batch_size=64, shuffle=True, log_every=1)
    h_layered = layered.train(X, one_hot, epochs=6, batch_size=64, shuffle=True, log_every=1)
    assert [r["loss"] for r in h.records] == pytest.approx(
        [r["loss"] for r in h_layered.records], rel=1e-11)
    assert_close_params(model, layered, "float64")


def test_each_step_draws_the_layered_paths_next_mask(host_cupy, data):
    X, y = data
    model, layered = build(host_kernels(host_cupy), dtype="float64"), build(False,
                                                                            dtype="float64")
    shifted = build(False, dtype="float64")
    shifted.train(X[:5], y[:5], epochs=0)  # built
    shifted.layers[2].rng.position = 1  # one mask ahead
    for epoch in range(3):
        for m in (model, layered, shifted):
            m.train(X, y, epochs=1)
        assert model.layers[2].rng.position == layered.layers[2].rng.position == epoch + 1
        for k in ("W", "b"):
            np.testing.assert_allclose(model.layers[0].grads[k], layered.layers[0].grads[k],
                                       rtol=1e-10, atol=1e-14)
            # another mask: gradients that differ far beyond rounding
            assert np.max(np.abs(model.layers[0].grads[k] - shifted.layers[0].grads[k])) > \
                1e-4 * np.max(np.abs(layered.layers[0].grads[k]))


def test_the_forward_leaves_the_mask_as_bits_for_the_backward(host_cupy, data):
    """Bit ``j % 32`` of word ``j // 32`` of row ``r``: unit ``j`` kept, the mask of
    ``xpnet.philox.keep_mask`` at the step's key and position."""
    from xpnet import engine, philox

    X, y = data
    for hidden in (16, 40):  # one word a row; two, the second partly used
        model = build(host_kernels(host_cupy), hidden=hidden)
        model.train(X[:3], y[:3], epochs=0)
        whole = engine.whole_step(model.ops, model.layers, model.loss, model.fused_kernels())
        key, position = model.layers[2].rng.key, model.layers[2].rng.position
        whole(X, y)
        words = -(-hidden // 32)
        bits = whole._buffers["bits", (len(X) * words,)].reshape(len(X), words)
        kept = philox.keep_mask(resolve("numpy"), (len(X), hidden), 0.9, key, position)
        padded = np.zeros((len(X), words * 32), dtype=bool)
        padded[:, :hidden] = kept
        expected = np.packbits(padded, axis=1, bitorder="little").view("<u4")
        np.testing.assert_array_equal(bits, expected)


def test_a_run_of_no_epochs_changes_nothing(host_cupy, data):
    X, y = data
    model = build(host_kernels(host_cupy))
    model.train(X, y, epochs=1)
    before = {k: v.copy() for k, v in model.parameters().items()}
    assert model.train(X, y, epochs=0).records == []  # an empty step table
    for key, value in model.parameters().items():
        np.testing.assert_array_equal(value, before[key])


def test_a_run_repeats_bit_for_bit(host_cupy, data):
    X, y = data
    runs = [build(host_kernels(host_cupy)) for _ in range(2)]
    records = [m.train(X, y, epochs=10, log_every=5).records for m in runs]
    assert records[0] == records[1]
    for key, value in runs[0].parameters().items():
        np.testing.assert_array_equal(value, runs[1].parameters()[key])


def test_three_kernels_a_step_the_update_included(host_cupy, data):
    """A full-batch run reads Adam's scalars from the step table, and the reduce kernel
    applies the update: three launches a step, none for the optimizer; mini-batches (no
    table) reduce the gradients only and update with the fused engine's kernels."""
    from xpnet.engine.rules import compile_rule

    X, y = data
    model = build(host_kernels(host_cupy), hidden=12)
    model.train(X, y, epochs=1)  # compiled
    shape = step.plan(model.layers, model.loss, "counter")
    forward, backward, reduce, _ = step.compiled(shape, host_cupy)
    updating = step.compiled(shape, host_cupy, rule=compile_rule(model.optimizer.rule()))[2]
    kernels = model.fused_kernels()
    counted = [forward, backward, reduce, updating]
    before, updates = [k.launches for k in counted], kernels.updates
    model.train(X, y, epochs=4)
    assert [k.launches - b for k, b in zip(counted, before, strict=True)] == [4, 4, 0, 4]
    assert kernels.updates == updates  # no update kernel of the fused engine
    before = [k.launches for k in counted]
    model.train(X, y, epochs=2, batch_size=100)  # 3 batches an epoch
    assert [k.launches - b for k, b in zip(counted, before, strict=True)] == [6, 6, 6, 0]
    assert kernels.updates == updates + 6 * 4  # four parameters a step


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_partial_sums_in_two_levels_give_the_layered_values(host_cupy, data, dtype,
                                                                monkeypatch):
    """From SPLIT_FROM row blocks on, a gather kernel sums runs of blocks before the reduce
    kernel adds the runs: one more launch a step, the same gradients to rounding, eager,
    replayed and for many models."""
    from xpnet.many import ManyModels

    X, y = data  # 210 rows: 14 blocks of 16, in 4 runs of 4
    monkeypatch.setattr(step, "SPLIT_FROM", 2)
    model, layered = build(host_kernels(host_cupy), dtype=dtype), build(False, dtype=dtype)
    whole = model.train(X, y, epochs=1) and model.engine == "step"
    assert whole
    shape = step.plan(model.layers, model.loss, "counter")
    gather = step.compiled(shape, model.fused_kernels().elementwise)[3]
    before = gather.launches
    model.train(X, y, epochs=3, batch_size=100)  # batches of 100, 100, 10: 7, 7, 1 blocks
    assert gather.launches - before == 6  # one level for the batch of one block
    layered.train(X, y, epochs=1)
    layered.train(X, y, epochs=3, batch_size=100)
    assert_close_params(model, layered, dtype)
    replayed, eager = (build(host_kernels(host_cupy), dtype=dtype) for _ in range(2))
    assert replayed.train(X, y, epochs=6, graph=True).records == \
        eager.train(X, y, epochs=6).records
    data3 = [xpnet.datasets.spiral(samples=40, classes=3, seed=s) for s in (3, 7)]
    many = ManyModels.from_models([build(host_kernels(host_cupy), dtype="float64", seed=s)
                                   for s in (3, 7)], data3)
    many.train(epochs=5)
    for m, seed in enumerate((3, 7)):
        alone = build(False, dtype="float64", seed=seed)
        alone.train(*data3[m], epochs=5)
        for name, value in alone.parameters().items():
            np.testing.assert_allclose(many.parameters(m)[name], value, err_msg=name,
                                       **TOLERANCE["float64"])


@pytest.mark.parametrize("dropout", [0, 0.2])
def test_a_graph_run_replays_the_whole_step(host_cupy, data, dropout):
    """The position of the masks lives on the device in a graph run, moved on by the step
    itself; the host's stream follows, so training goes on from where the graph left."""
    X, y = data
    model, eager = (build(host_kernels(host_cupy), dropout=dropout) for _ in range(2))
    assert model.train(X, y, epochs=8, graph=True).records == eager.train(X, y,
                                                                          epochs=8).records
    for m in (model, eager):
        m.train(X, y, epochs=3)
    for key, value in model.parameters().items():
        np.testing.assert_array_equal(value, eager.parameters()[key])
    if dropout:
        assert model.layers[2].rng.position == eager.layers[2].rng.position == 11


def test_too_large_a_mask_is_refused_with_the_fix(host_cupy, data, monkeypatch):
    X, y = data
    monkeypatch.setattr(step, "MAX_MASK", 1000)
    with pytest.raises(ValueError, match=r"at most 1000 elements, got 210 samples x 16 units; "
                       r"train with batch_size="):
        build(host_kernels(host_cupy)).train(X, y, epochs=1)


class Refusing:
    """A compiler that refuses every kernel (as NVRTC would refuse a source it cannot build)."""

    def ElementwiseKernel(self, *args, **kwargs):
        def launch(*a, **k):
            raise RuntimeError("nvrtc: error: identifier 'expf' is undefined")
        return launch


@pytest.mark.parametrize("dropout", [0, 0.1])
def test_kernels_that_fail_to_compile_leave_the_layered_path(data, caplog, dropout):
    X, y = data
    model, layered = build(HostKernels(resolve("numpy"), Refusing()), dropout=dropout), \
        build(False, dropout=dropout)
    with caplog.at_level("WARNING", logger="xpnet.engine"):
        h = model.train(X, y, epochs=6, log_every=2)
    assert "the whole-step kernels did not run: RuntimeError: nvrtc: error" in caplog.text
    assert "trains layer by layer" in caplog.text
    assert h.records == layered.train(X, y, epochs=6, log_every=2).records
    for key, value in model.parameters().items():
        np.testing.assert_array_equal(value, layered.parameters()[key])


# -- many models at once -------------------------------------------------------------------------
@pytest.mark.parametrize("dropout", [0, 0.1])
def test_many_models_train_each_copy_as_the_layered_path_alone(host_cupy, dropout):
    """ManyModels runs the whole step over every copy at once (a leading model axis, each
    copy's own data, key and mask positions on the device); each copy ends where the
    layered path ends alone, to rounding. (float64: in float32, Adam turns the rounding
    differences of gradients near zero into visible ones within tens of steps.)"""
    from xpnet.many import ManyModels

    seeds, lrs = [3, 7, 11], [0.01, 0.02, 0.05]

    def model(seed, lr, fast):
        m = build(fast, dropout=dropout, dtype="float64", hidden=12, seed=seed)
        m.optimizer.learning_rate = m.optimizer.current_learning_rate = lr
        return m

    data = [xpnet.datasets.spiral(samples=30, classes=3, seed=s) for s in seeds]
    many = ManyModels.from_models(
        [model(s, lr, host_kernels(host_cupy)) for s, lr in zip(seeds, lrs, strict=True)], data)
    assert all(w is not None for w in many.wholes) and many.block == 3
    logs = many.train(epochs=25)
    for m, (seed, lr) in enumerate(zip(seeds, lrs, strict=True)):
        alone = model(seed, lr, False)
        history = alone.train(*data[m], epochs=25, log_every=None)
        for name, value in alone.parameters().items():
            np.testing.assert_allclose(many.parameters(m)[name], value, err_msg=name,
                                       **TOLERANCE["float64"])
        assert logs["data_loss"][m] == pytest.approx(history["data_loss"][-1], rel=1e-11)
        if dropout:  # the host streams followed the device's positions
            assert many.blocks[0].layers[2].rng.rngs[m].position == \
                alone.layers[2].rng.position == 25


@pytest.mark.parametrize("dropout", [0, 0.1])
def test_many_models_replay_a_graph_with_a_rate_and_a_position_per_copy(host_cupy, dropout):
    """A graph of all copies reads each copy's learning rate from the step table (one value
    per copy) and each copy's mask position on the device: the same values as without."""
    from xpnet.many import ManyModels

    seeds, lrs = [3, 7, 11], [0.01, 0.02, 0.05]
    data = [xpnet.datasets.spiral(samples=20, classes=3, seed=s) for s in seeds]

    def many():
        models = []
        for seed, lr in zip(seeds, lrs, strict=True):
            m = build(host_kernels(host_cupy), dropout=dropout, hidden=8, seed=seed)
            m.optimizer.learning_rate = m.optimizer.current_learning_rate = lr
            models.append(m)
        return ManyModels.from_models(models, data)

    replayed, eager = many(), many()
    epochs = xpnet.training.GRAPH_MIN_EPOCHS + 10
    assert replayed.train(epochs=epochs) == eager.train(epochs=epochs, graph=False)
    assert replayed.blocks[0].fused_kernels().captures == 1
    assert eager.blocks[0].fused_kernels().captures == 0
    for m in range(3):
        for key, value in replayed.parameters(m).items():
            np.testing.assert_array_equal(value, eager.parameters(m)[key])
    if dropout:
        assert replayed.blocks[0].layers[2].rng.rngs[2].position == epochs
    replayed.train(epochs=5)  # and on without a graph, from where the graph left
    eager.train(epochs=5)
    for key, value in replayed.parameters(1).items():
        np.testing.assert_array_equal(value, eager.parameters(1)[key])


# -- graph="auto" -------------------------------------------------------------------------------
def test_graph_auto_records_long_full_batch_runs_of_the_whole_step(host_cupy, data):
    X, y = data
    epochs = xpnet.training.GRAPH_MIN_EPOCHS
    model, eager = build(host_kernels(host_cupy)), build(host_kernels(host_cupy))
    assert model.train(X, y, epochs=epochs, log_every=25).records == eager.train(
        X, y, epochs=epochs, log_every=25, graph=False).records
    assert (model.fused_kernels().captures, eager.fused_kernels().captures) == (1, 0)
    # shorter runs, mini-batches and the layered path are not recorded
    model.train(X, y, epochs=epochs - 1)
    model.train(X, y, epochs=epochs, batch_size=100)
    assert model.fused_kernels().captures == 1
    layered = build(fused.Kernels(resolve("numpy")))  # fused updates, no whole step
    counted = []
    layered.fused_kernels().capture = lambda step: counted.append(step) or step
    layered.train(X, y, epochs=epochs)
    assert counted == []


def test_graph_true_refuses_a_layered_step_on_cupy_with_the_reason(host_cupy, data):
    """CuPy cannot record cuBLAS: a network the whole step does not take (two hidden
    layers) is refused up front, not after an epoch with CuPy's own error."""
    X, y = data
    kernels = host_kernels(host_cupy)
    kernels.records_matmul = False  # as CupyKernels
    model = xpnet.Model(seed=0, fast=kernels)
    for layer in (Dense(2, 8), ReLU(), Dense(8, 8), ReLU(), Dense(8, 3), Softmax()):
        model.add(layer)
    model.set(loss=CategoricalCrossentropy(), optimizer=Adam(learning_rate=0.05))
    assert model.engine != step.WholeStep.name
    with pytest.raises(ValueError, match=r"graph=True cannot be used here: on CuPy the "
                                         r"layered step multiplies matrices with cuBLAS"):
        model.train(X, y, epochs=3, graph=True)
    assert model.optimizer.iterations == 0  # refused before any step
    model.train(X, y, epochs=3)  # "auto" trains it eagerly
    assert model.optimizer.iterations == 3


def test_graph_auto_goes_on_eagerly_when_recording_fails(host_cupy, data, caplog):
    X, y = data
    model = build(host_kernels(host_cupy, fail="cuBLAS during capture"))
    eager = build(host_kernels(host_cupy))
    with caplog.at_level("WARNING", logger="xpnet.engine.fused"):
        h = model.train(X, y, epochs=120, log_every=40)
    assert "NotImplementedError: cuBLAS during capture" in caplog.text
    assert "goes on without a graph" in caplog.text
    assert h.records == eager.train(X, y, epochs=120, log_every=40, graph=False).records
    assert model.fused_kernels().captures == 1  # tried once
    with pytest.raises(NotImplementedError, match="cuBLAS during capture"):
        model.train(X, y, epochs=5, graph=True)  # asked for: the failure is the user's to see


def test_a_graph_run_follows_callbacks_that_change_the_rate_or_the_weights(host_cupy, data):
    X, y = data

    def meddle(model, epoch, logs):
        if epoch == 40:
            model.optimizer.learning_rate = 0.01  # a schedule of one's own
        if epoch == 70:  # other weights, in new arrays
            dense = model.layers[0]
            dense.params["W"] = dense.params["W"] * 0.5

    runs = [build(host_kernels(host_cupy)) for _ in range(2)]
    histories = [m.train(X, y, epochs=150, log_every=10, callbacks=[meddle], graph=g)
                 for m, g in zip(runs, (True, False), strict=True)]
    assert histories[0].records == histories[1].records
    untouched = build(host_kernels(host_cupy)).train(X, y, epochs=150, log_every=10)
    assert [r["lr"] for r in histories[0].records[3:]] < [r["lr"] for r in untouched.records[3:]]
    assert runs[0].fused_kernels().captures == 2  # recorded again after the new weights
    for key, value in runs[0].parameters().items():
        np.testing.assert_array_equal(value, runs[1].parameters()[key])


def test_a_graph_run_follows_callbacks_that_change_the_dropout_rate_or_a_penalty(host_cupy,
                                                                              data):
    """A recorded step passes the dropout rate by value and reads the penalties from an
    array of its own: a callback that sets either has the step recorded again (a replay
    would go on with the recorded ones), and the run gives the values of one without a
    graph."""
    X, y = data

    def meddle(model, epoch, logs):
        if epoch == 40:
            model.layers[2].rate = 0.3
        if epoch == 70:
            model.layers[0].weight_l2 = 1e-2

    runs = [build(host_kernels(host_cupy)) for _ in range(2)]
    histories = [m.train(X, y, epochs=150, log_every=10, callbacks=[meddle], graph=g)
                 for m, g in zip(runs, (True, False), strict=True)]
    assert histories[0].records == histories[1].records
    assert runs[0].fused_kernels().captures == 3
    for key, value in runs[0].parameters().items():
        np.testing.assert_array_equal(value, runs[1].parameters()[key])
    untouched = build(host_kernels(host_cupy))
    untouched.train(X, y, epochs=150, log_every=10, graph=True)
    assert not np.array_equal(untouched.parameters()["layers.0.W"],
                              runs[0].parameters()["layers.0.W"])


def test_a_graph_run_follows_callbacks_that_set_another_optimizer_or_reset_its_state(host_cupy,
                                                                                    data):
    """A step table serves one optimizer and rule, and a recorded step writes the optimizer
    state arrays it was recorded with: a callback that sets another optimizer, switches
    SGD's momentum off, or resets the state gets a table (and a recording) of its own, and
    the run gives the layered path's values (float64: to its rounding)."""
    X, y = data

    def meddle(model, epoch, logs):
        if epoch == 40:
            model.optimizer = SGD(learning_rate=0.5, momentum=0.9)  # another rule and width
        if epoch == 70:
            model.optimizer.momentum = 0.0  # the same optimizer, another rule
        if epoch == 100:
            for layer in model.trainable_layers:
                layer.optimizer_state = {}  # Adam starts afresh
            model.optimizer = Adam(learning_rate=0.01)

    runs = [build(host_kernels(host_cupy), dtype="float64") for _ in range(2)]
    layered = build(False, dtype="float64")
    histories = [m.train(X, y, epochs=150, log_every=10, callbacks=[meddle], graph=g)
                 for m, g in zip([*runs, layered], (True, False, False), strict=True)]
    for history in histories[:2]:
        for record, expected in zip(history.records, histories[2].records, strict=True):
            assert record["lr"] == expected["lr"]
            np.testing.assert_allclose(record["loss"], expected["loss"], rtol=1e-10)
    rates = {r["epoch"]: r["lr"] for r in histories[0].records}
    assert [rates[e] for e in (50, 100, 110, max(rates))] == [0.5, 0.5, 0.01, 0.01]
    assert runs[0].fused_kernels().captures == 4  # the first, and once after each change
    for run in runs:
        assert_close_params(run, layered, "float64")
        assert set(run.layers[0].optimizer_state["W"]) == {"m", "v"}


def test_a_callback_may_set_an_optimizer_the_kernels_cannot_compile(host_cupy, data, caplog):
    """The rest of the run then updates parameter by parameter, as the layered path does."""
    class Clipped(Optimizer):
        def update(self, xp, p, g, *, lr):
            return (p - lr * xp.clip(g, -1.0, 1.0),)  # clip: not in the kernels' subset

    X, y = data

    def meddle(model, epoch, logs):
        if epoch == 20:
            model.optimizer = Clipped(0.2)

    model, layered = build(host_kernels(host_cupy), dtype="float64"), build(False,
                                                                           dtype="float64")
    with caplog.at_level("WARNING", logger="xpnet.training"):
        histories = [m.train(X, y, epochs=40, log_every=10, callbacks=[meddle], graph=True)
                     if m is model else m.train(X, y, epochs=40, log_every=10,
                                                callbacks=[meddle])
                     for m in (model, layered)]
    assert "a callback set Clipped, whose update rule cannot be compiled" in caplog.text
    for record, expected in zip(*(h.records for h in histories), strict=True):
        np.testing.assert_allclose(record["loss"], expected["loss"], rtol=1e-10)
    assert_close_params(model, layered, "float64")


# -- the identity the backward kernel rests on -------------------------------------------------
floats = st.one_of(st.floats(width=32, allow_subnormal=True),
                   st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45]))


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float32, (4, 8), elements=floats),
       hnp.arrays(np.float32, (4, 8), elements=floats),
       hnp.arrays(np.bool_, (4, 8)), st.sampled_from([0.1, 0.5, 0.9, 1.0]))
def test_relu_and_dropout_gradients_need_no_mask(z, dy, kept, keep):
    """``(dy * scale) * [d > 0]`` from the dropout output ``d`` alone has the bits of the
    layered path's dropout gradient then ReLU gradient, signed zeros and NaN included."""
    ops = xpnet.nn.ops.Ops(resolve("numpy"))
    scale = np.float32(1 / keep)
    with np.errstate(all="ignore"):
        y = ops.relu(z)
        d = y * scale * kept
        layered = ops.relu_backward(dy * scale * kept, y)
        fused_ = (dy * scale) * (d > 0).astype(np.float32)
    np.testing.assert_array_equal(np.signbit(fused_), np.signbit(layered))
    np.testing.assert_array_equal(fused_, layered)


# -- CuPy ----------------------------------------------------------------------------------------
def test_cupy_trains_with_the_whole_step_by_default(cupy_backend, data, caplog):
    import cupy

    X, y = data
    model = build("auto", backend="cupy")
    assert model.fast and model.engine == "step"
    layered = build(False)  # NumPy, layer by layer, the same counter masks
    Xd, yd = cupy.asarray(X), cupy.asarray(y)
    with caplog.at_level("WARNING"):
        h = model.train(Xd, yd, epochs=30, log_every=10)
    assert "did not run" not in caplog.text  # NVRTC compiled the kernels
    h_layered = layered.train(X, y, epochs=30, log_every=10)
    for a, b in zip(h.records, h_layered.records, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    assert_close_params(model, layered, "float32")


def test_cupy_kernels_agree_with_the_host_compiled_source(cupy_backend, host_cupy, data):
    import cupy

    X, y = data
    on_gpu = build(True, dtype="float64", backend="cupy")
    on_host = build(host_kernels(host_cupy), dtype="float64")
    on_gpu.train(cupy.asarray(X), cupy.asarray(y), epochs=20)
    on_host.train(X, y, epochs=20)
    assert_close_params(on_gpu, on_host, "float64")


@pytest.mark.parametrize("dropout", [0, 0.1])
def test_cupy_graph_replay_of_the_whole_step(cupy_backend, data, dropout, caplog):
    import cupy

    from _util import UnrecordedCupyKernels

    X, y = (cupy.asarray(a) for a in data)
    replayed, eager = (build(True, dropout=dropout, backend="cupy") for _ in range(2))
    # the same kernels launched one by one: the replays give their bits
    launched = build(UnrecordedCupyKernels(cupy_backend), dropout=dropout, backend="cupy")
    with caplog.at_level("WARNING"):
        h = replayed.train(X, y, epochs=150, log_every=10)
        assert h.records == launched.train(X, y, epochs=150, log_every=10, graph=True).records
        h_eager = eager.train(X, y, epochs=150, log_every=10, graph=False)
    assert "graph failed" not in caplog.text and "did not run" not in caplog.text
    for key, value in replayed.parameters().items():
        np.testing.assert_array_equal(cupy.asnumpy(value),
                                      cupy.asnumpy(launched.parameters()[key]))
    # without a graph the kernels are compiled from another source (the position passed by
    # value): the same maths, rounded alike only where NVRTC contracts alike
    for a, b in zip(h.records, h_eager.records, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    assert_close_params(replayed, eager, "float32")


def test_cupy_many_models_on_the_whole_step(cupy_backend, caplog):
    import cupy

    from xpnet.many import ManyModels

    seeds, lrs = [3, 7], [0.01, 0.05]
    data = [xpnet.datasets.spiral(samples=30, classes=3, seed=s) for s in seeds]

    def model(seed, lr, backend, fast):
        m = build(fast, dtype="float64", hidden=12, seed=seed, backend=backend)
        m.optimizer.learning_rate = m.optimizer.current_learning_rate = lr
        return m

    many = ManyModels.from_models(
        [model(s, lr, "cupy", "auto") for s, lr in zip(seeds, lrs, strict=True)],
        [tuple(cupy.asarray(a) for a in d) for d in data])
    with caplog.at_level("WARNING"):
        many.train(epochs=25)
    assert many.wholes[0] is not None and "did not run" not in caplog.text
    for m, (seed, lr) in enumerate(zip(seeds, lrs, strict=True)):
        alone = model(seed, lr, "numpy", False)
        alone.train(*data[m], epochs=25, log_every=None)
        for name, value in alone.parameters().items():
            np.testing.assert_allclose(cupy.asnumpy(many.parameters(m)[name]), value,
                                       err_msg=name, **TOLERANCE["float64"])


# -- the profiler of the engine (benchmarks/bench_step.py), dry run ---------------------------
def test_bench_step_runs_without_a_gpu(host_cupy, tmp_path):
    """The GPU session's per-kernel profile runs here on the host-compiled kernels: every
    part timed, the engine the whole step, the training finite."""
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_step.py"
    spec = importlib.util.spec_from_file_location("bench_step", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "step.json"
    assert bench.main(["--device", "cpu", "--quick", "--epochs", "2", "--cases",
                       "reference,reference_dropout", "--sweep-min-rows", "64",
                       "--sweep-split-from", "off,2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    for case in result["cases"].values():  # 300 rows: 19 blocks, one level by default
        assert case["finite"] and case["gather_ms"] == 0
        assert all(case[f"{p}_ms"] > 0 for p in bench.PARTS if p != "gather")
        assert case["kernels_ms"] == pytest.approx(sum(case[f"{p}_ms"] for p in bench.PARTS))
    # every case again with the partial sums in one level and in two, put back after
    sweep = result["split_from_sweep"]
    assert sweep["off"]["reference"]["gather_ms"] == 0 < sweep["2"]["reference"]["gather_ms"]
    assert step.SPLIT_FROM == 64
    # the small cases again with another floor of rows per backward thread, put back after
    assert set(result["min_rows_sweep"]["64"]) == {"reference", "reference_dropout"}
    assert all(v > 0 for k, v in result["min_rows_sweep"]["64"]["reference"].items()
               if k != "gather_ms")
    assert step.MIN_ROWS == 16
    assert step.WholeStep.launch.__qualname__ == "WholeStep.launch"  # put back
