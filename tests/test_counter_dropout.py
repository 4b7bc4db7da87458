"""Counter-based dropout masks: Philox4x32-10 written in Array API operations
(xpnet.philox), its CUDA kernel (xpnet.engine.masks) and models trained with
``dropout_masks="counter"``.

The generator is checked against Random123's known answers and against a scalar reference
written here from the algorithm's definition; the kernel's source is compiled with the host's
C++ compiler and checked against the Array API code bit for bit; CuPy tests (skipped without
a GPU) compare the device's masks with NumPy's bits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import xpnet
from _util import host
from xpnet import gradcheck, philox, presets
from xpnet.backend import Backend, resolve
from xpnet.engine import mask_source, masks
from xpnet.engine.buffered import BufferedOps, Mask
from xpnet.engine.fused import Kernels
from xpnet.many import ManyModels
from xpnet.nn.activations import ReLU, Softmax
from xpnet.nn.layers import Dense, Dropout
from xpnet.nn.losses import CategoricalCrossentropy
from xpnet.nn.ops import Ops
from xpnet.nn.optimizers import SGD, Adam
from xpnet.random import Generator

# Random123's kat_vectors for philox4x32 with 10 rounds: counter, key, output (the same
# vectors are in TensorFlow's stateful random tests, from Random123-Boost's test_philox.cpp)
KNOWN_ANSWERS = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


# -- an independent reference: the algorithm on Python integers ------------------------------
def philox_reference(counter, key, rounds=10):
    """Philox4x32-R as Salmon et al. define it: bijection rounds of two 32x32->64 products,
    the key bumped by the Weyl constants between rounds."""
    mul = (0xD2511F53, 0xCD9E8D57)
    weyl = (0x9E3779B9, 0xBB67AE85)
    x0, x1, x2, x3 = counter
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + weyl[0]) % 2**32, (k1 + weyl[1]) % 2**32
        p, q = mul[0] * x0, mul[1] * x2
        x0, x1, x2, x3 = (q >> 32) ^ x1 ^ k0, q % 2**32, (p >> 32) ^ x3 ^ k1, p % 2**32
    return x0, x1, x2, x3


def mask_reference(shape, keep, key, position):
    """The documented mask, element by element: element e is kept when word e % 4 of counter
    (e // 4, 0, position's low word, its high word) under key (low word, high word) is below
    round(keep * 2**32)."""
    threshold = round(keep * 2**32)
    n = math.prod(shape)
    out = np.empty(n, dtype=bool)
    for e in range(n):
        if e % 4 == 0:
            words = philox_reference((e // 4, 0, position % 2**32, position >> 32),
                                     (key % 2**32, key >> 32))
        out[e] = words[e % 4] < threshold
    return out.reshape(shape)


def words(backend, arrays):
    return tuple(int(w) for w in (np.asarray(host(a)).reshape(-1)[0] for a in arrays))


# -- the generator ---------------------------------------------------------------------------
@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_known_answers(backend, counter, key, expected):
    assert words(backend, philox.philox4x32(backend, counter, key)) == expected
    assert philox_reference(counter, key) == expected


@pytest.mark.parametrize("kind", philox.KINDS)
def test_every_way_of_multiplying_gives_the_known_answers(np_backend, kind):
    for counter, key, expected in KNOWN_ANSWERS:
        assert words(np_backend, philox.philox4x32(np_backend, counter, key, kind=kind)) \
            == expected


def test_each_backend_finds_a_way_that_gives_the_known_answers(backend):
    assert philox.arithmetic(backend) in philox.KINDS
    if backend.name == "torch" and str(backend.device) == "cpu":
        # its unsigned types have no shifts or sums on the CPU
        assert philox.arithmetic(backend) == "int64"


@pytest.mark.parametrize("kind", philox.KINDS)
def test_arrays_of_counters_match_the_scalar_reference(np_backend, kind):
    rng = np.random.default_rng(1)
    counters = rng.integers(0, 2**32, size=(4, 200), dtype=np.uint64)
    key = tuple(int(k) for k in rng.integers(0, 2**32, size=2, dtype=np.uint64))
    dtype = philox.words_dtype(np_backend, kind)
    counter = [np_backend.asarray(c.astype(np.int64 if kind == "int64" else np.uint32),
                                  dtype=dtype) for c in counters]
    got = np.stack([host(w).astype(np.uint64)
                    for w in philox.philox4x32(np_backend, counter, key, kind=kind)])
    expected = np.array([philox_reference(tuple(int(c) for c in counters[:, i]), key)
                         for i in range(counters.shape[1])], dtype=np.uint64).T
    np.testing.assert_array_equal(got, expected)


# -- keep masks --------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(7, 9), (4,), (2, 3, 5), (1, 1)])
def test_keep_mask_is_the_documented_layout(backend, shape):
    key, position = 0x0123456789ABCDEF, 2**32 + 5  # both words of each matter
    got = host(philox.keep_mask(backend, shape, 0.7, key, position))
    assert got.dtype == np.bool_ and got.shape == shape
    np.testing.assert_array_equal(got, mask_reference(shape, 0.7, key, position))


@pytest.mark.parametrize("kind", philox.KINDS)
def test_keep_mask_bits_do_not_depend_on_the_arithmetic(np_backend, kind):
    expected = philox.keep_mask(np_backend, (33, 17), 0.6, 99, 3)
    np.testing.assert_array_equal(
        philox.keep_mask(np_backend, (33, 17), 0.6, 99, 3, kind=kind), expected)


def test_every_backend_draws_the_numpy_bits(backend, np_backend):
    for shape, keep, key, position in [((33, 17), 0.9, 7, 0), ((64, 64), 0.5, 2**63 + 1, 41)]:
        np.testing.assert_array_equal(
            host(philox.keep_mask(backend, shape, keep, key, position)),
            philox.keep_mask(np_backend, shape, keep, key, position))


def test_copies_draw_what_each_draws_alone(backend, np_backend):
    keys = np.array([5, 2**64 - 1, 123456789012345], dtype=np.uint64)
    positions = np.array([0, 7, 2**33], dtype=np.uint64)
    stacked = host(philox.keep_mask(backend, (3, 5, 7), 0.8, keys, positions))
    for m in range(3):
        np.testing.assert_array_equal(
            stacked[m], philox.keep_mask(np_backend, (5, 7), 0.8, int(keys[m]),
                                         int(positions[m])))


def test_keep_probability_is_exact_at_the_extremes(np_backend):
    assert host(philox.keep_mask(np_backend, (3, 4), 1.0, 1, 0)).all()
    assert host(philox.keep_mask(np_backend, (3, 4), 1 - 2**-40, 1, 0)).all()
    assert not host(philox.keep_mask(np_backend, (300, 40), 2**-40, 1, 0)).any()
    assert philox.keep_threshold(0.9) == xpnet.random.keep_threshold(0.9) == 3865470566


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_keep_fraction_is_within_binomial_bounds(np_backend, keep):
    n = 10**6
    kept = host(philox.keep_mask(np_backend, (1000, 1000), keep, 2024, 0))
    sd = math.sqrt(keep * (1 - keep) / n)
    assert abs(kept.mean() - keep) < 5 * sd


def _correlation(a, b):
    return float(np.corrcoef(a.reshape(-1).astype(np.float64),
                             b.reshape(-1).astype(np.float64))[0, 1])


def test_masks_of_consecutive_calls_layers_and_lanes_are_uncorrelated(np_backend):
    shape, keep = (1000, 1000), 0.5
    bound = 5 / math.sqrt(math.prod(shape) / 4)  # the fewest pairs compared below
    first = host(philox.keep_mask(np_backend, shape, keep, 11, 0))
    later = host(philox.keep_mask(np_backend, shape, keep, 11, 1))  # the next step
    other = host(philox.keep_mask(np_backend, shape, keep, 12, 0))  # another layer's key
    assert not np.array_equal(first, later)
    assert abs(_correlation(first, later)) < bound
    assert abs(_correlation(first, other)) < bound
    lanes = first.reshape(-1, 4)  # the four words of one counter
    for a, b in [(0, 1), (1, 2), (2, 3), (0, 3)]:
        assert abs(_correlation(lanes[:, a], lanes[:, b])) < bound
    # the last word of one counter and the first of the next
    assert abs(_correlation(lanes[:-1, 3], lanes[1:, 0])) < bound


# -- keys from the seed ----------------------------------------------------------------------
def test_spawned_keys_are_reproducible_distinct_and_draw_nothing():
    a, b = Generator(7), Generator(7)
    keys = [a.spawn_key() for _ in range(4)]
    assert keys == [b.spawn_key() for _ in range(4)]
    assert len(set(keys)) == 4 and all(0 <= k < 2**64 for k in keys)
    assert keys[0] != Generator(8).spawn_key() != Generator("nnfs").spawn_key()
    np.testing.assert_array_equal(a.randn(5), Generator(7).randn(5))  # nothing was drawn
    np.testing.assert_array_equal(Generator("nnfs").randn(3),
                                  np.random.RandomState(0).randn(3).astype(np.float32))


@pytest.mark.parametrize("seed", [3, "nnfs", None])
def test_state_round_trip_continues_the_keys(seed):
    rng = Generator(seed)
    rng.spawn_key()
    state = rng.get_state()
    expected = rng.spawn_key()
    other = Generator(0)
    other.set_state(state)
    assert other.spawn_key() == expected


def test_a_state_saved_before_counter_keys_still_loads():
    state = Generator(3).get_state()
    del state["counter_keys"]
    rng = Generator(0)
    rng.set_state(state)
    assert rng.spawn_key() != Generator(0).spawn_key()  # keyed by the stream's own state


def test_dropout_stream_state_rewinds_the_host_and_the_counter():
    stream = Generator(0).dropout_stream()
    state = stream.get_state()
    first = (stream.keep_mask(0.5, (4, 4)), stream.next_counter())
    stream.set_state(state)
    again = (stream.keep_mask(0.5, (4, 4)), stream.next_counter())
    np.testing.assert_array_equal(first[0], again[0])
    assert first[1] == again[1] and stream.next_counter()[1] == 1


# -- the engines and the model ------------------------------------------------------------
def test_the_mask_source_is_chosen_once_per_model(np_backend):
    assert xpnet.Model(seed=0).dropout_masks == "host"
    assert xpnet.Model(seed=0, dropout_masks="counter").dropout_masks == "counter"
    assert xpnet.Model(seed="nnfs").dropout_masks == "host"
    fake_cupy = Backend(np_backend.xp, "cupy", "cpu")  # only its name is read
    assert mask_source("auto", fake_cupy, "default") == "counter"
    assert mask_source("host", fake_cupy, "default") == "host"
    assert mask_source("auto", fake_cupy, "nnfs") == "host"


def test_bad_mask_sources_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"dropout_masks must be one of 'auto', 'host', "
                                         r"'counter', got the string 'device'.*'counter' "
                                         r"computes them on the device"):
        xpnet.Model(dropout_masks="device")
    with pytest.raises(ValueError, match=r"faithful mode.*use an integer seed"):
        xpnet.Model(seed="nnfs", dropout_masks="counter")
    ops = Ops(resolve("numpy"), masks="counter")
    with pytest.raises(TypeError, match=r"DropoutStream.*rng.dropout_stream\(\)"):
        ops.dropout_mask(Generator(0), 0.5, np.ones((2, 2), dtype=np.float32))


def test_plain_and_buffered_engines_draw_the_same_masks(np_backend):
    x = np.ones((50, 30), dtype=np.float32)
    plain = Ops(np_backend, masks="counter")
    buffered = BufferedOps(np_backend, masks="counter")
    a, b = Generator(4).dropout_stream(), Generator(4).dropout_stream()
    for _ in range(3):
        np.testing.assert_array_equal(plain.keep_mask(a, 0.7, x),
                                      buffered.dropout_mask(b, 0.7, x).kept)
    assert a.position == b.position == 3


def _ch15(seed, masks, epochs):
    model, (X, y), _ = presets.build(presets.get("ch15"), seed=seed, dropout_masks=masks)
    before = {k: host(v).copy() for k, v in model.parameters().items()}
    drawn_before = model.rng.get_state()
    model.train(X, y, epochs=epochs, log_every=None)
    return model, host(X), before, drawn_before


def test_counter_masks_are_reproducible_and_change_only_the_masks():
    a, X_a, init_a, state_a = _ch15(5, "counter", 15)
    b, *_ = _ch15(5, "counter", 15)
    h, X_h, init_h, state_h = _ch15(5, "host", 15)
    for name, value in a.parameters().items():  # one seed, one run
        np.testing.assert_array_equal(host(value), host(b.parameters()[name]))
    np.testing.assert_array_equal(X_a, X_h)  # the same data and initial weights ...
    for name in init_a:
        np.testing.assert_array_equal(init_a[name], init_h[name])
    assert any(not np.array_equal(host(v), host(h.parameters()[k]))  # ... other masks
               for k, v in a.parameters().items())
    # the counter-based masks drew nothing from the host stream; the host ones did
    assert a.rng.get_state()["pcg64"] == state_a["pcg64"]
    assert h.rng.get_state()["pcg64"] != state_h["pcg64"]
    dropout = next(layer for layer in a.layers if isinstance(layer, Dropout))
    assert dropout.rng.position == 15


def _small(backend, masks, fast=False, optimizer=None):
    model = xpnet.Model(backend=backend, seed=3, fast=fast, dropout_masks=masks)
    for layer in (Dense(2, 32), ReLU(), Dropout(0.2), Dense(32, 3), Softmax()):
        model.add(layer)
    model.set(loss=CategoricalCrossentropy(),
              optimizer=optimizer or Adam(learning_rate=0.02))
    return model


def _kept(model):
    """Where the last training step's mask kept a unit (the engines keep it as booleans or
    as the scaled float mask)."""
    mask = next(layer for layer in model.layers if isinstance(layer, Dropout)).mask
    return host(mask.kept) if hasattr(mask, "kept") else host(mask) > 0


def test_every_backend_trains_with_the_counter_masks_numpy_draws(backend):
    X, y = xpnet.datasets.spiral(samples=100, classes=3, seed=1)
    here = _small(backend, "counter", optimizer=SGD(learning_rate=0.5))
    on_numpy = _small("numpy", "counter", optimizer=SGD(learning_rate=0.5))
    h = here.train(X, y, epochs=5, log_every=None)
    n = on_numpy.train(X, y, epochs=5, log_every=None)
    np.testing.assert_array_equal(_kept(here), _kept(on_numpy))  # the same masks, step 5
    # ... and the same data and weights: the runs differ only by rounding
    assert h["loss"][-1] == pytest.approx(n["loss"][-1], rel=1e-5)
    for name, value in here.parameters().items():
        np.testing.assert_allclose(host(value), host(on_numpy.parameters()[name]),
                                   rtol=1e-4, atol=1e-6)


def test_the_fused_engine_draws_the_counter_masks_of_the_buffered_one(np_backend):
    X, y = xpnet.datasets.spiral(samples=100, classes=3, seed=1)
    fused, buffered = _small("numpy", "counter", Kernels(np_backend)), _small("numpy", "counter")
    assert fused.engine == "fused" and buffered.engine == "buffered"
    fused.train(X, y, epochs=5, log_every=None)
    buffered.train(X, y, epochs=5, log_every=None)
    for name, value in fused.parameters().items():
        np.testing.assert_array_equal(host(value), host(buffered.parameters()[name]))


def test_two_dropout_layers_get_independent_streams():
    model = xpnet.Model(seed=0, dropout_masks="counter")
    first, second = model.add(Dropout(0.5)), model.add(Dropout(0.5))
    assert first.rng.key != second.rng.key
    x = np.ones((200, 100), dtype=np.float32)
    m1, m2 = host(first.forward(x)) > 0, host(second.forward(x)) > 0
    assert abs(_correlation(m1, m2)) < 5 / math.sqrt(m1.size)


def test_many_models_with_counter_masks_equal_each_trained_alone():
    seeds, lrs = [3, 7, 11], [0.01, 0.02, 0.05]
    many = ManyModels("ch15", seeds=seeds, lr=lrs, block=2, dropout_masks="counter")
    logs = many.train(epochs=15)
    for m, seed in enumerate(seeds):
        model, (X, y), _ = presets.build(many.preset_of(m), seed=seed,
                                         dropout_masks="counter")
        history = model.train(X, y, epochs=15, log_every=None)
        alone, batched = model.parameters(), many.parameters(m)
        for name in alone:
            np.testing.assert_array_equal(host(batched[name]), host(alone[name]),
                                          err_msg=name)
        assert logs["loss"][m] == history["loss"][-1]


def test_many_models_refuse_copies_with_different_mask_sources():
    built = [presets.build(presets.get("ch15"), seed=s, dropout_masks=m)
             for s, m in ((0, "host"), (1, "counter"))]
    with pytest.raises(ValueError, match="draw dropout masks alike"):
        ManyModels.from_models([b[0] for b in built], [b[1] for b in built])


def test_dropout_gradients_check_with_the_counter_mask_frozen(backend):
    layer = Dropout(0.5)
    layer.build(Ops(backend, masks="counter"), Generator(0), "float64")
    report = gradcheck.check(layer, backend=backend)
    assert report.passed and report.checks[0].checked == 20


# -- the CUDA kernel's source, compiled for the host ---------------------------------------
@pytest.mark.parametrize(("shape", "keep", "key", "position"), [
    ((33, 17), 0.9, 7, 0), ((5,), 0.5, 2**64 - 1, 2**32 + 3), ((64, 128), 0.1, 42, 9),
    ((2, 1), 0.75, 1, 1)])
def test_cuda_kernel_source_gives_the_array_api_bits(host_cupy, np_backend, shape, keep, key,
                                                     position):
    device = masks.CupyMasks(host_cupy)
    out = np.zeros(shape, dtype=bool)
    assert device.keep_mask(keep, key, position, out) is out
    np.testing.assert_array_equal(out, philox.keep_mask(np_backend, shape, keep, key,
                                                        position))


def test_cuda_kernel_draws_many_copies_in_one_launch(host_cupy, np_backend):
    device = masks.CupyMasks(host_cupy)
    keys = np.array([3, 2**40 + 9, 77], dtype=np.uint64)
    out = np.zeros((3, 10, 7), dtype=bool)
    device.keep_mask(0.6, keys, np.array([4, 4, 4], dtype=np.uint64), out)
    np.testing.assert_array_equal(out, philox.keep_mask(np_backend, (3, 10, 7), 0.6, keys, 4))
    assert device.kernel().launches == 1
    # copies at different positions are left to the Array API code
    assert device.keep_mask(0.6, keys, np.array([4, 5, 4], dtype=np.uint64), out) is None
    assert device.keep_mask(1.0, 1, 0, out).all()


# -- applying a mask in one pass: the kernel's source, compiled for the host ----------------
def awkward(shape, dtype, seed):
    """Random values of both signs over many magnitudes, with zeros of both signs, NaN, both
    infinities, subnormals and values whose scaled product overflows, and a mask."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-6, 6, shape)).astype(dtype)
    info = np.finfo(dtype)
    specials = np.array([0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, info.smallest_subnormal,
                         -info.smallest_subnormal, info.max, -info.max, info.tiny],
                        dtype=dtype)
    where = rng.random(shape) < 0.2
    x[where] = rng.choice(specials, size=int(where.sum()))
    kept = rng.random(shape) < 0.7
    n = specials.size  # each special value both dropped and kept, whatever the draws
    x.reshape(-1)[:2 * n] = np.concatenate([specials, specials])
    kept.reshape(-1)[:2 * n] = np.arange(2 * n) >= n
    return x, kept


def two_passes(x, kept, scale):
    """The NumPy path: the buffered engine's two passes (``x * scale``, then ``* kept``)."""
    with np.errstate(all="ignore"):  # overflow and inf * 0 are the point of the inputs
        return BufferedOps(resolve("numpy"))._scale_and_mask(x, Mask(kept, scale),
                                                             np.empty_like(x))


def assert_same_bits(got, expected):
    ints = {4: np.uint32, 8: np.uint64}[expected.dtype.itemsize]
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got.view(ints), expected.view(ints))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "keep"), [((257, 129), 0.9), ((1100, 600), 0.3), ((5, 9), 0.5)])
def test_apply_kernel_source_gives_the_two_pass_bits(host_cupy, dtype, shape, keep):
    x, kept = awkward(shape, dtype, seed=shape[0])
    expected = two_passes(x, kept, 1 / keep)
    device = masks.CupyMasks(host_cupy)
    out = np.full_like(x, 7)
    assert device.scale_and_mask(x, 1 / keep, kept, out) is out
    assert_same_bits(out, expected)
    again = x.copy()  # written over its input, as the engine may
    assert_same_bits(device.scale_and_mask(again, 1 / keep, kept, again), expected)
    # the cases that decide the formula occur: dropped units give -0.0 and NaN (inf * 0) ...
    dropped = expected[~kept]
    assert np.signbit(dropped[dropped == 0]).any() and np.isnan(dropped).any()
    # ... which a select, kept ? x * scale : 0, would not give
    with np.errstate(all="ignore"):
        select = np.where(kept, x * dtype(1 / keep), dtype(0))
    assert not np.array_equal(select.view(np.uint8), expected.view(np.uint8))


def test_buffered_dropout_on_cupy_is_one_kernel_per_pass(host_cupy, np_backend):
    x, kept = awkward((300, 40), np.float32, seed=1)
    dy, _ = awkward((300, 40), np.float32, seed=2)
    mask = Mask(kept, 1 / 0.8)
    expected = two_passes(x, kept, mask.scale), two_passes(dy, kept, mask.scale)
    ops = BufferedOps(np_backend, overwrite_input=True)
    ops.one_pass_dropout = True  # what a CuPy backend sets, with the host's compiled kernel
    ops._device_masks = masks.CupyMasks(host_cupy)
    x_in, dy_in = x.copy(), dy.copy()
    y = ops.dropout(x_in, mask)
    assert y is x_in  # written over its input
    assert_same_bits(y, expected[0])
    dx = ops.dropout_backward(dy_in, mask)
    assert dx is not dy_in  # overwrite_dy is off
    assert_same_bits(dx, expected[1])
    assert ops._device_masks.apply_kernel().launches == 2
    # other dtypes keep the two passes
    with np.errstate(all="ignore"):
        half = ops.dropout(x.astype(np.float16), mask)
        expected_half = x.astype(np.float16) * np.float16(mask.scale) * kept
    assert ops._device_masks.apply_kernel().launches == 2
    np.testing.assert_array_equal(half, expected_half)


# -- CuPy: the device's masks against NumPy's bits (skipped without a GPU) -----------------
def test_cupy_masks_are_the_numpy_bits(cupy_backend, np_backend):
    import cupy

    keys = np.array([3, 2**40 + 9, 77], dtype=np.uint64)
    cases = [((1000, 333), 0.9, 2**63 + 5, 2**32 + 1), ((7,), 0.5, 1, 0),
             ((3, 200, 65), 0.8, keys, 6)]
    kernel = masks.CupyMasks(cupy)
    for shape, keep, key, position in cases:
        expected = philox.keep_mask(np_backend, shape, keep, key, position)
        np.testing.assert_array_equal(
            cupy.asnumpy(philox.keep_mask(cupy_backend, shape, keep, key, position)), expected)
        out = cupy.empty(shape, dtype=bool)
        kernel.keep_mask(keep, key, position, out)
        np.testing.assert_array_equal(cupy.asnumpy(out), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_applies_masks_in_one_pass_with_the_numpy_bits(cupy_backend, dtype):
    import cupy

    x, kept = awkward((1000, 333), dtype, seed=3)
    expected = two_passes(x, kept, 1 / 0.9)
    out = masks.CupyMasks(cupy).scale_and_mask(cupy.asarray(x), 1 / 0.9, cupy.asarray(kept),
                                               cupy.empty(x.shape, dtype=dtype))
    got = cupy.asnumpy(out)
    # every bit but NaN payloads (CUDA's arithmetic returns its canonical NaN)
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(got), nan)
    assert_same_bits(np.where(nan, 0, got), np.where(nan, 0, expected))
    ops = BufferedOps(cupy_backend)
    assert ops.one_pass_dropout
    y = cupy.asnumpy(ops.dropout(cupy.asarray(x), Mask(cupy.asarray(kept), 1 / 0.9)))
    assert_same_bits(np.where(nan, 0, y), np.where(nan, 0, expected))


def test_cupy_trains_with_counter_masks_by_default_and_as_numpy_does(cupy_backend):
    model, (X, y), _ = presets.build(presets.get("ch15"), backend="cupy", seed=5)
    assert model.dropout_masks == "counter"
    on_cpu, (X_cpu, y_cpu), _ = presets.build(presets.get("ch15"), seed=5,
                                              dropout_masks="counter")
    # the layered path on the GPU keeps its last mask (the whole step, the default, never
    # forms one: it draws each mask bit where it applies it)
    layered, (X_l, y_l), _ = presets.build(presets.get("ch15"), backend="cupy", seed=5,
                                           fast=False)
    gpu = model.train(X, y, epochs=3, log_every=None)
    cpu = on_cpu.train(X_cpu, y_cpu, epochs=3, log_every=None)
    layered.train(X_l, y_l, epochs=3, log_every=None)
    # the same data, weights and masks (drawn by the kernel on the GPU); the arithmetic
    # rounds differently there (test_every_backend_trains_... compares the parameters)
    np.testing.assert_array_equal(_kept(layered), _kept(on_cpu))
    assert gpu["loss"][-1] == pytest.approx(cpu["loss"][-1], rel=1e-4)


def test_a_loaded_model_goes_on_with_its_dropout_streams_and_keys_new_layers_apart(tmp_path):
    model, (X, y), _ = presets.build(presets.get("ch15"), seed=2, dropout_masks="counter")
    model.train(X, y, epochs=2, log_every=None)
    model.save(tmp_path / "m.npz")
    loaded = xpnet.Model.load(tmp_path / "m.npz")
    saved = next(layer.rng for layer in model.layers if isinstance(layer, Dropout))
    again = next(layer.rng for layer in loaded.layers if isinstance(layer, Dropout))
    # the saved stream goes on: its next mask is the one the saved model would draw next
    assert (again.key, again.position) == (saved.key, saved.position) == (saved.key, 2)
    # a layer added later gets a key of its own
    assert loaded.rng.spawn_key() != saved.key
    # the host stream resumes where it was saved, as before
    assert loaded.rng.get_state()["pcg64"] == model.rng.get_state()["pcg64"]


@pytest.mark.parametrize("masks", ["host", "counter"])
def test_many_models_with_two_dropout_layers_of_one_shape(masks):
    # each Dropout twin has the copies' streams of its own: a host mask drawn for the second
    # layer no longer lands in the array the first layer's backward pass reads
    def built(seed):
        model = xpnet.Model(seed=seed, dropout_masks=masks)
        for layer in (Dense(2, 16), ReLU(), Dropout(0.3), Dropout(0.3), Dense(16, 3),
                      Softmax()):
            model.add(layer)
        model.set(loss=CategoricalCrossentropy(), optimizer=Adam(learning_rate=0.02))
        return model, xpnet.datasets.spiral(samples=50, classes=3, seed=seed)

    pairs = [built(s) for s in (1, 2)]
    many = ManyModels.from_models([m for m, _ in pairs], [d for _, d in pairs])
    many.train(epochs=5)
    for i, seed in enumerate((1, 2)):
        alone, (X, y) = built(seed)
        alone.train(X, y, epochs=5, log_every=None)
        for name, value in alone.parameters().items():
            np.testing.assert_array_equal(host(many.parameters(i)[name]), host(value))
