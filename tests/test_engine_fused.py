"""The fused engine (xpnet.engine.fused): update kernels compiled from the optimizers' own
rules, and graph replay, give the plain engine's values.

On the CPU, ``fused.Kernels`` (the reference: the kernels' translated text run as Python on
NumPy) stands in for the GPU, so everything but the CUDA compilation is checked here. The
tests at the end run CuPy's kernels against the plain CuPy path and skip without a GPU.
"""

from __future__ import annotations

import collections
import contextlib

import numpy as np
import pytest

import xpnet
from xpnet import trace
from xpnet.backend import resolve
from xpnet.engine import fused as fast
from xpnet.engine.rules import compile_rule
from xpnet.errors import BackendError
from xpnet.nn.activations import ReLU, Softmax
from xpnet.nn.layers import Dense, Dropout
from xpnet.nn.losses import CategoricalCrossentropy, MeanSquaredError
from xpnet.nn.ops import Ops
from xpnet.nn.optimizers import SGD, Adagrad, Adam, Optimizer, RMSprop

OPTIMIZERS = {
    "adam": lambda: Adam(learning_rate=0.02, decay=1e-3),
    "sgd": lambda: SGD(learning_rate=0.5, decay=1e-2),
    "sgd_momentum": lambda: SGD(learning_rate=0.5, decay=1e-3, momentum=0.9),
    "adagrad": lambda: Adagrad(learning_rate=0.3, decay=1e-4),
    "rmsprop": lambda: RMSprop(learning_rate=0.01, decay=1e-4, rho=0.99),
}
#: each optimizer's rule, as the kernels name it
RULE_NAMES = {"adam": "Adam_update", "sgd": "SGD_update", "sgd_momentum": "SGD_momentum_update",
              "adagrad": "Adagrad_update", "rmsprop": "RMSprop_update"}


class Counting(fast.Kernels):
    """The reference kernels, counting what the model asked of them."""

    def __init__(self, backend):
        super().__init__(backend)
        self.calls: collections.Counter = collections.Counter()

    def update(self, rule, scalars, p, g, state):
        self.calls[rule.name, "table" if self.table is not None else "value"] += 1
        super().update(rule, scalars, p, g, state)

    def capture(self, step):
        self.calls["capture"] += 1
        return super().capture(step)


@pytest.fixture(scope="module")
def data():
    return xpnet.datasets.spiral(samples=60, classes=3, seed=1)


def build(fast_paths, optimizer, *, dropout=False, l2=0.0, backend="numpy"):
    model = xpnet.Model(backend=backend, seed=3, fast=fast_paths)
    model.add(Dense(2, 16, weight_l2=l2, bias_l2=l2))
    model.add(ReLU())
    if dropout:
        model.add(Dropout(0.1))
    model.add(Dense(16, 3))
    model.add(Softmax())
    model.set(loss=CategoricalCrossentropy(), optimizer=optimizer)
    return model


def assert_same_params(a, b):
    pa, pb = a.parameters(), b.parameters()
    assert pa.keys() == pb.keys()
    for key in pa:
        np.testing.assert_array_equal(xpnet.backend.to_numpy(pa[key]),
                                      xpnet.backend.to_numpy(pb[key]), err_msg=key)


# -- the update rules ----------------------------------------------------------------------
def run_rule(name, kernels, shape, dtype, steps, to_device=np.asarray):
    """Train one parameter array ``steps`` times with optimizer ``name``'s rule on the plain
    engine and compiled on ``kernels``; returns both ``(p, state)`` pairs."""
    rng = np.random.default_rng(0)
    generic, fused = OPTIMIZERS[name](), OPTIMIZERS[name]()
    ops = Ops(resolve("cupy" if to_device is not np.asarray else "numpy"))
    rule = compile_rule(fused.rule())
    assert rule is not None and rule.name == RULE_NAMES[name]
    p0 = rng.standard_normal(shape).astype(dtype)
    p_generic, p_fused = to_device(p0.copy()), to_device(p0.copy())
    s_generic = {k: to_device(np.zeros_like(p0)) for k in generic.state_names}
    s_fused = {k: to_device(np.zeros_like(p0)) for k in fused.state_names}
    for _ in range(steps):  # decay and Adam's bias corrections change with the step
        g = to_device(rng.standard_normal(shape).astype(dtype) * dtype(rng.uniform(1e-3, 10)))
        generic.pre_update_params()
        p_generic = ops.update(generic, p_generic, g, s_generic)
        generic.post_update_params()
        fused.pre_update_params()
        kernels.update(rule, rule.scalar_values(fused.hyperparameters()), p_fused, g,
                       [s_fused[k] for k in rule.state])
        fused.post_update_params()
    return (p_fused, {k: s_fused[k] for k in rule.state}), (p_generic, s_generic)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_rule_gives_the_generic_update_bit_for_bit(name, dtype):
    kernels = fast.Kernels(resolve("numpy"))
    (p_fused, s_fused), (p_generic, s_generic) = run_rule(name, kernels, (5, 7), dtype, 30)
    assert p_fused.dtype == dtype
    np.testing.assert_array_equal(p_fused, p_generic)
    for k in s_fused:
        np.testing.assert_array_equal(s_fused[k], s_generic[k], err_msg=k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_rules_cuda_kernel_gives_the_generic_bits_compiled_for_the_host(host_cupy, name,
                                                                           dtype):
    # the CUDA kernel's source (fused.update_kernel), compiled by the host's C++ compiler
    kernels = fast.CupyKernels(resolve("numpy"), module=host_cupy)
    (p_fused, s_fused), (p_generic, s_generic) = run_rule(name, kernels, (5, 7), dtype, 30)
    np.testing.assert_array_equal(p_fused, p_generic)
    for k in s_fused:
        np.testing.assert_array_equal(s_fused[k], s_generic[k], err_msg=k)


@pytest.mark.parametrize("copies", [1, 3])
def test_the_table_kernel_reads_each_copys_scalars_of_the_counters_row(host_cupy, copies):
    # a graph run's kernel: the scalars of row counter[0], one value per model copy, read on
    # the device; the reference reads the same table on the host
    rule = compile_rule(Adam().rule())
    rng = np.random.default_rng(5)
    steps, shape = 4, (copies, 4, 6)
    rows = [[rng.uniform(0.5, 1.5, copies) if copies > 1 else rng.uniform(0.5, 1.5)
             for _ in rule.scalars] for _ in range(steps)]
    runs = []
    for kernels in (fast.CupyKernels(resolve("numpy"), module=host_cupy),
                    fast.Kernels(resolve("numpy"))):
        kernels.table = fast.ScalarTable(resolve("numpy"), rows, np.float32)
        p, m, v = (np.ones(shape, np.float32) for _ in range(3))
        grads = np.random.default_rng(6).standard_normal((steps, *shape)).astype(np.float32)
        for g in grads:
            kernels.update(rule, (0.0,) * len(rule.scalars), p, g, [m, v])
            kernels.table.advance()
        runs.append((p, m, v))
    for on_device, reference in zip(*runs, strict=True):
        np.testing.assert_array_equal(on_device, reference)
    # each copy's values were read: a copy alone gives its own slice's result
    if copies > 1:
        assert not np.array_equal(runs[0][0][0], runs[0][0][1])


def test_per_copy_scalars_broadcast_over_the_copies_without_a_table(host_cupy):
    # many models' eager updates: a learning rate per copy, uploaded as a (copies, 1, 1) array
    rule = compile_rule(SGD(momentum=0.9).momentum_update)
    lr = np.array([0.1, 0.2, 0.4]).reshape(-1, 1, 1)
    outs = []
    for kernels in (fast.CupyKernels(resolve("numpy"), module=host_cupy),
                    fast.Kernels(resolve("numpy"))):
        p, u = np.zeros((3, 2, 2), np.float32), np.ones((3, 2, 2), np.float32)
        kernels.update(rule, (0.5, lr), p, np.ones((3, 2, 2), np.float32), [u])
        outs.append((p, u))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    np.testing.assert_allclose(outs[0][0][:, 0, 0], 0.5 - lr.ravel(), rtol=1e-6)


def test_a_compiled_rule_hoists_every_scalar_and_assigns_its_outputs():
    rule = compile_rule(Adam().update)
    # the state and p are assigned; m_hat, v_hat and step are declared temporaries in C
    assert rule.state == ("m", "v")
    assert [line.split(" = ")[0] for line in rule.python.splitlines()] == [
        "m", "v", "m_hat", "v_hat", "step", "p"]
    assert [line.split(" = ")[0] for line in rule.c.splitlines()] == [
        "m", "v", "T m_hat", "T v_hat", "T step", "p"]
    # no number and no hyperparameter is left in the body: C would compute them in double
    for name in ("beta_1", "beta_2", "lr", "epsilon", "**"):
        assert name not in rule.c and name not in rule.python, name
    adam = Adam(learning_rate=0.05, beta_1=0.8)
    adam.iterations = 4
    values = dict(zip(rule.scalars, rule.scalar_values(adam.hyperparameters()), strict=True))
    assert 1 - 0.8 in values.values() and -0.05 in values.values()
    assert 1 - 0.8**5 in values.values()  # the bias correction of step t = 5


def test_a_users_optimizer_is_compiled_and_an_unusual_one_falls_back(data):
    class Momentumless(Optimizer):
        def update(self, xp, p, g, *, lr):
            return (p - lr * g / (xp.sqrt(g * g) + 1e-3),)

    class Clipped(Optimizer):
        def update(self, xp, p, g, *, lr):
            return (p - lr * xp.clip(g, -1.0, 1.0),)  # clip: not in the kernels' subset

    assert compile_rule(Momentumless(0.1).update) is not None
    assert compile_rule(Clipped(0.1).update) is None
    X, y = data
    for make, used in ((lambda: Momentumless(0.05), True), (lambda: Clipped(0.05), False)):
        kernels = Counting(resolve("numpy"))
        fused, plain = build(kernels, make()), build(False, make())
        assert fused.train(X, y, epochs=5).records == plain.train(X, y, epochs=5).records
        assert_same_params(fused, plain)
        assert bool(kernels.calls) is used


def test_a_table_of_step_scalars_is_read_at_its_counter():
    table = fast.ScalarTable(resolve("numpy"), [(1.0, 2.0), (3.0, 4.0)], np.float32)
    kernels = fast.Kernels(resolve("numpy"))
    kernels.table = table
    rule = compile_rule(SGD(momentum=0.9).momentum_update)  # u = _k0 * u - _k1 * g; p = p + u
    assert rule.python.splitlines()[0] == "u = _k0 * u - _k1 * g"
    p, u, g = np.zeros(2, np.float32), np.ones(2, np.float32), np.ones(2, np.float32)
    kernels.update(rule, (0.0, 0.0), p, g, [u])  # the passed scalars are not used
    assert u.tolist() == [1 * 1 - 2, 1 * 1 - 2] and p.tolist() == [-1, -1]
    table.advance()
    kernels.update(rule, (0.0, 0.0), p, g, [u])
    assert u.tolist() == [3 * -1 - 4] * 2 and p.tolist() == [-8, -8]


# -- models ----------------------------------------------------------------------------------
@pytest.mark.parametrize("graph", [False, True], ids=["eager", "graph"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_with_the_fast_paths_gives_the_generic_values(data, name, graph):
    X, y = data
    generic = build(False, OPTIMIZERS[name](), l2=5e-4)
    kernels = Counting(resolve("numpy"))
    fused = build(kernels, OPTIMIZERS[name](), l2=5e-4)
    logs = [1, 2, 3, 17, 40]  # the first, the recorded and replayed ones, the last
    h_generic = generic.train(X, y, epochs=40, log_every=logs)
    h_fused = fused.train(X, y, epochs=40, log_every=logs, graph=graph)
    assert h_fused.records == h_generic.records
    assert_same_params(fused, generic)
    mode = "table" if graph else "value"
    assert kernels.calls == {(RULE_NAMES[name], mode): 4 * 40,
                             **({"capture": 1} if graph else {})}
    # the optimizer's host state moved on as usual, so training goes on seamlessly
    for attr in ("iterations", "current_learning_rate"):
        assert getattr(fused.optimizer, attr) == getattr(generic.optimizer, attr)
    assert (fused.train(X, y, epochs=5, start_epoch=41).records
            == generic.train(X, y, epochs=5, start_epoch=41).records)
    assert_same_params(fused, generic)


def test_fast_paths_with_dropout_and_mini_batches(data):
    X, y = data
    generic = build(False, Adam(learning_rate=0.01), dropout=True)
    kernels = Counting(resolve("numpy"))
    fused = build(kernels, Adam(learning_rate=0.01), dropout=True)
    kw = {"epochs": 6, "batch_size": 64, "shuffle": True, "log_every": 2}
    assert fused.train(X, y, **kw).records == generic.train(X, y, **kw).records
    assert_same_params(fused, generic)
    assert kernels.calls["Adam_update", "value"] == 4 * 6 * 3  # three batches of 180 samples


def test_a_regression_model_uses_only_the_update_kernels(data):
    X, _ = data
    target = X[:, :1] * 0.5
    models = []
    for fast_paths in (False, Counting(resolve("numpy"))):
        m = xpnet.Model(seed=0, fast=fast_paths)
        for layer in (Dense(2, 8), ReLU(), Dense(8, 1)):
            m.add(layer)
        m.set(loss=MeanSquaredError(), optimizer=RMSprop(learning_rate=0.01))
        m.train(X, target, epochs=15, log_every=None, graph=bool(fast_paths))
        models.append(m)
    assert_same_params(*models)
    assert set(models[1].fast.calls) == {("RMSprop_update", "table"), "capture"}


def test_explain_mode_runs_the_generic_path(data):
    X, y = data
    kernels = Counting(resolve("numpy"))
    model = build(kernels, Adam(learning_rate=0.01))
    with trace.Tracer(quantities={"m_hat"}) as t:
        model.train(X, y, epochs=2, log_every=None)
    assert not kernels.calls
    assert any(e.quantity == "m_hat" for e in t.events)  # the intermediates it needs exist


def test_fast_true_on_numpy_is_the_generic_path(data):
    X, y = data
    a, b = build(True, Adam(learning_rate=0.01)), build(False, Adam(learning_rate=0.01))
    assert a.train(X, y, epochs=5).records == b.train(X, y, epochs=5).records
    assert fast.kernels_for(resolve("numpy"), True) is None


# -- errors ------------------------------------------------------------------------------------
def test_graph_refusals_say_why(data):
    X, y = data
    with pytest.raises(ValueError, match=r"fast=True on backend 'cupy'.*'numpy'"):
        build(False, Adam()).train(X, y, graph=True)
    kernels = fast.Kernels(resolve("numpy"))
    with pytest.raises(ValueError, match="full-batch step: drop batch_size and shuffle"):
        build(kernels, Adam()).train(X, y, batch_size=10, graph=True)
    with pytest.raises(ValueError, match="Dropout draws a new mask each step"):
        build(kernels, Adam(), dropout=True).train(X, y, graph=True)

    class Plain(Optimizer):
        def update(self, xp, p, g, *, lr):
            return (xp.where(g > 0, p - lr, p + lr),)  # where: not in the kernels' subset

    with pytest.raises(ValueError, match="Plain's update rule cannot be compiled"):
        build(kernels, Plain(0.1)).train(X, y, graph=True)


def test_fast_argument_errors():
    with pytest.raises(ValueError, match="faithful mode"):
        xpnet.Model(seed="nnfs", fast=True)
    with pytest.raises(TypeError,
                       match=r"fast must be True, False or 'auto', got the string 'yes'"):
        xpnet.Model(fast="yes")
    pytest.importorskip("array_api_strict")
    with pytest.raises(BackendError, match=r"built for backend 'numpy'.*'array_api_strict'"):
        fast.kernels_for(resolve("array_api_strict"), fast.Kernels(resolve("numpy")))


def fake_cupy():
    """What CupyKernels asks of ``cupy.cuda`` to record a step, as CuPy 14 does it: streams
    as contexts (the current one, 0 for the default stream, which ``begin_capture``
    refuses), a capture that a failed step invalidates, graphs launched on a stream."""
    import types

    log = []

    class Stream:
        current = None

        def __init__(self, non_blocking=False, ptr=None):
            self.ptr = 10 + len(log) if ptr is None else ptr
            self.non_blocking = non_blocking
            self.capturing = self.invalid = False

        def __enter__(self):
            self.before, Stream.current = Stream.current, self
            return self

        def __exit__(self, *exc):
            Stream.current = self.before

        def begin_capture(self):
            if self.ptr in (0, 1):
                raise RuntimeError("cannot capture on the default (legacy) stream")
            log.append(("begin", self.ptr))
            self.capturing = True

        def end_capture(self):
            log.append(("end", self.ptr))
            self.capturing = False
            if self.invalid:
                raise RuntimeError("cudaErrorStreamCaptureInvalidated")
            return types.SimpleNamespace(launch=lambda stream: log.append(("launch", stream.ptr)))

        def synchronize(self):
            log.append(("sync", self.ptr))

    Stream.current = Stream(ptr=0)
    cuda = types.SimpleNamespace(
        Stream=Stream, get_current_stream=lambda: Stream.current,
        MemoryPool=lambda: types.SimpleNamespace(malloc=None),
        using_allocator=lambda malloc: contextlib.nullcontext())
    return types.SimpleNamespace(cuda=cuda), log


def test_cupy_records_a_step_on_a_stream_of_its_own_and_tells_the_steps_error():
    module, log = fake_cupy()
    kernels = fast.CupyKernels(resolve("numpy"), module=module)
    current = module.cuda.get_current_stream

    def step():
        assert current().capturing and current().ptr != 0  # recorded where it launches
        return "out"

    launch = kernels.capture(step)  # called on the default stream: recorded on its own
    assert current().ptr == 0 and launch() == "out"
    own = log[0][1]
    assert log == [("begin", own), ("end", own), ("launch", own)]
    with kernels.replaying():  # the stream a graph run records and replays on
        assert current().ptr == own and not current().non_blocking
        kernels.capture(step)()
    assert log[-1] == ("sync", own)

    def failing():
        current().invalid = True  # what a forbidden call does to the capture
        raise NotImplementedError("cuBLAS during capture")

    with pytest.raises(NotImplementedError, match="cuBLAS during capture"):
        kernels.capture(failing)
    assert log[-1] == ("end", own)  # the capture was ended all the same


# -- CuPy: the compiled kernels against the generic CuPy path -------------------------------
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_cupy_update_kernels_give_the_generic_bits(cupy_backend, name):
    import cupy

    kernels = fast.CupyKernels(cupy_backend)
    (p_fused, s_fused), (p_generic, s_generic) = run_rule(
        name, kernels, (300, 70), np.float32, 20, to_device=cupy.asarray)
    np.testing.assert_array_equal(cupy.asnumpy(p_fused), cupy.asnumpy(p_generic))
    for k in s_fused:
        np.testing.assert_array_equal(cupy.asnumpy(s_fused[k]), cupy.asnumpy(s_generic[k]))


def test_cupy_training_fast_and_replayed(cupy_backend, data):
    import cupy

    from _util import UnrecordedCupyKernels

    X, y = (cupy.asarray(a) for a in data)
    generic = build(False, Adam(learning_rate=0.02, decay=1e-3), backend="cupy")
    # launched one by one (graph=True compiles the kernels a replay runs, none recorded)
    fused = build(UnrecordedCupyKernels(cupy_backend), Adam(learning_rate=0.02, decay=1e-3),
                  backend="cupy")
    replayed = build(True, Adam(learning_rate=0.02, decay=1e-3), backend="cupy")
    h_generic = generic.train(X, y, epochs=100, log_every=25)
    h_fused = fused.train(X, y, epochs=100, log_every=25, graph=True)
    h_replayed = replayed.train(X, y, epochs=100, log_every=25, graph=True)
    # the model is one the whole-step engine takes: its sums run in another order than
    # cuBLAS's, so it follows the generic path as closely as test_engine_step's CPU check
    for a, b in zip(h_fused.records, h_generic.records, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=2e-3)
    # the graph replays the very kernels of the fast path: the same bits
    assert h_replayed.records == h_fused.records
    assert_same_params(replayed, fused)
    # and the model trains on after the graph as if there had been none
    assert replayed.optimizer.iterations == 100
    replayed.train(X, y, epochs=3)
    fused.train(X, y, epochs=3)
    assert_same_params(replayed, fused)


def test_a_model_with_fast_paths_can_be_copied(data):
    import copy

    X, y = data
    kernels = fast.Kernels(resolve("numpy"))
    model = build(kernels, Adam(learning_rate=0.01))
    model.train(X, y, epochs=3, graph=True)
    twin = copy.deepcopy(model)
    assert twin.fast is kernels
    assert (twin.train(X, y, epochs=3, start_epoch=4, graph=True).records
            == model.train(X, y, epochs=3, start_epoch=4, graph=True).records)
