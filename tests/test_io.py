"""Saving and loading: round trips across backends, resumed training, corrupt files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import xpnet
from _util import host
from test_model import classifier
from xpnet import Model, datasets
from xpnet.errors import ModelFileError
from xpnet.nn.layers import Dense, Layer


def test_save_on_numpy_load_on_any_backend_predicts_the_same(tmp_path, backend):
    X, y = xpnet.datasets.spiral(30, 3, seed=0)
    model = classifier("numpy", dropout=0.1)
    model.train(X, y, epochs=20)
    model.save(tmp_path / "m.npz")
    loaded = xpnet.Model.load(tmp_path / "m.npz", backend=backend)
    assert [type(layer).__name__ for layer in loaded.layers] == [
        type(layer).__name__ for layer in model.layers]
    assert loaded.optimizer.iterations == 20
    assert loaded.optimizer.current_learning_rate == model.optimizer.current_learning_rate
    out = loaded.predict(backend.asarray(X))
    np.testing.assert_allclose(host(out), model.predict(X), rtol=1e-5, atol=1e-7)


def test_save_on_any_backend_load_on_numpy_keeps_every_array(tmp_path, backend):
    X, y = xpnet.datasets.spiral(30, 3, seed=0, backend=backend)
    model = classifier(backend)
    model.train(X, y, epochs=5)
    model.save(tmp_path / "m.npz")
    loaded = xpnet.Model.load(tmp_path / "m.npz")
    assert loaded.backend.name == "numpy" and loaded.optimizer.iterations == 5
    for layer, again in zip(model.layers, loaded.layers, strict=True):
        for name, p in layer.params.items():
            assert again.params[name].dtype == np.float32
            np.testing.assert_array_equal(again.params[name], host(p))
        for name, state in getattr(layer, "optimizer_state", {}).items():
            for slot, value in state.items():
                np.testing.assert_array_equal(again.optimizer_state[name][slot], host(value))


@pytest.mark.parametrize("masks", ["host", "counter"])
def test_training_resumes_exactly_after_a_save(tmp_path, masks):
    X, y = xpnet.datasets.spiral(30, 3, seed=0)
    straight = classifier("numpy", dropout=0.1, dropout_masks=masks)
    straight.train(X, y, epochs=20)
    straight.train(X, y, epochs=10)

    first = classifier("numpy", dropout=0.1, dropout_masks=masks)
    first.train(X, y, epochs=20)
    first.save(tmp_path / "half")  # .npz is appended
    resumed = xpnet.Model.load(tmp_path / "half.npz")
    # the masks come from where they came from; a counter stream goes on from its position
    assert resumed.dropout_masks == masks
    assert resumed.layers[2].rng.position == first.layers[2].rng.position
    resumed.train(X, y, epochs=10)
    for a, b in zip(straight.parameters().values(), resumed.parameters().values(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_counter_masks_resume_on_another_backend(tmp_path, backend):
    # counter-based masks are the same bits on every backend: a run saved on one goes on
    # elsewhere with the masks it would have drawn
    X, y = xpnet.datasets.spiral(30, 3, seed=0)
    straight = classifier("numpy", dropout=0.1, dropout_masks="counter")
    straight.train(X, y, epochs=30)
    first = classifier("numpy", dropout=0.1, dropout_masks="counter")
    first.train(X, y, epochs=20)
    first.save(tmp_path / "m.npz")
    resumed = xpnet.Model.load(tmp_path / "m.npz", backend=backend)
    masks = []
    resumed.layers[2].rng.next_counter = _recording(resumed.layers[2].rng, masks)
    resumed.train(backend.asarray(X), backend.asarray(y), epochs=10)
    assert [p for _, p in masks] == list(range(20, 30))
    assert {k for k, _ in masks} == {straight.layers[2].rng.key}
    for a, b in zip(straight.parameters().values(), resumed.parameters().values(), strict=True):
        np.testing.assert_allclose(host(b), a, rtol=1e-4, atol=1e-6)


def _recording(stream, seen):
    taken = stream.next_counter

    def next_counter():
        seen.append(taken())
        return seen[-1]
    return next_counter


def test_files_without_mask_sources_load_as_before(tmp_path):
    # files written before the mask source and the streams were saved
    model = classifier("numpy", dropout=0.1, dropout_masks="counter")
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays.pop("xpnet.json").tobytes())
    del meta["dropout_masks"]
    for layer in meta["layers"]:
        layer.pop("stream", None)
    np.savez(tmp_path / "old.npz", **arrays,
             **{"xpnet.json": np.frombuffer(json.dumps(meta).encode(), np.uint8)})
    old = xpnet.Model.load(tmp_path / "old.npz")
    assert old.dropout_masks == "host" and old.layers[2].rng.position == 0
    assert xpnet.Model.load(tmp_path / "m.npz", dropout_masks="host").dropout_masks == "host"


def test_save_file_is_plain_npz_without_pickle(tmp_path):
    classifier("numpy").save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        meta = json.loads(f["xpnet.json"].tobytes())
        assert meta["format"] == "xpnet-model"
        assert f["layers.0.W"].shape == (2, 16)
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temporary file


def test_corrupt_truncated_and_foreign_files_are_refused(tmp_path):
    good = tmp_path / "m.npz"
    classifier("numpy").save(good)
    data = good.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="not a readable xpnet model file"):
        xpnet.Model.load(tmp_path / "truncated.npz")
    np.savez(tmp_path / "foreign.npz", weights=np.ones(3))
    with pytest.raises(ModelFileError, match="not one written by xpnet"):
        xpnet.Model.load(tmp_path / "foreign.npz")
    with pytest.raises(ModelFileError, match="no model file"):
        xpnet.Model.load(tmp_path / "missing.npz")
    # a well-formed file whose arrays do not fit the architecture
    with zipfile.ZipFile(good) as z, zipfile.ZipFile(tmp_path / "bad.npz", "w") as out:
        for item in z.namelist():
            if item == "layers.0.W.npy":
                buf = tmp_path / "w.npy"
                np.save(buf, np.ones((5, 5), dtype=np.float32))
                out.write(buf, item)
            else:
                out.writestr(item, z.read(item))
    with pytest.raises(ModelFileError, match=r"has shape \(5, 5\)"):
        xpnet.Model.load(tmp_path / "bad.npz")


def test_a_users_class_named_like_a_builtin_neither_replaces_it_nor_saves(tmp_path):
    import xpnet
    from xpnet.nn import Adam, CategoricalCrossentropy, Dense
    from xpnet.nn import Softmax as BuiltinSoftmax
    from xpnet.nn.layers import Layer

    good = xpnet.Model(seed=0)
    for layer in (Dense(2, 3), BuiltinSoftmax()):
        good.add(layer)
    good.set(loss=CategoricalCrossentropy(), optimizer=Adam())
    good.save(tmp_path / "good.npz")

    class Softmax(Layer):  # a notebook's own, named like the built-in
        def forward(self, x, training=True):
            return x

        def backward(self, dy):
            return dy

    assert Layer.registry["Softmax"] is BuiltinSoftmax
    assert type(xpnet.Model.load(tmp_path / "good.npz").layers[1]) is BuiltinSoftmax
    mine = xpnet.Model(seed=0)
    for layer in (Dense(2, 3), Softmax()):
        mine.add(layer)
    mine.set(loss=CategoricalCrossentropy(), optimizer=Adam())
    with pytest.raises(TypeError, match=r"your class Softmax has the name of xpnet's own "
                                        r"xpnet.nn.activations.Softmax.*another name"):
        mine.save(tmp_path / "mine.npz")


class LeakyReLU(Layer):
    """A user's layer with a setting, kept under its argument's name."""

    def __init__(self, alpha=0.1):
        super().__init__()
        self.alpha = alpha

    def forward(self, x, training=True):
        self.x = x
        return self.xp.where(x > 0, x, self.alpha * x)

    def backward(self, dy):
        return self.xp.where(self.x > 0, dy, self.alpha * dy)


class RenamedLeaky(Layer):
    """The same layer keeping its setting under another name."""

    def __init__(self, alpha=0.1):
        super().__init__()
        self.slope = alpha

    def forward(self, x, training=True):
        self.x = x
        return self.xp.where(x > 0, x, self.slope * x)

    def backward(self, dy):
        return self.xp.where(self.x > 0, dy, self.slope * dy)


def _leaky_model(layer):
    from xpnet.nn import Adam, CategoricalCrossentropy, Softmax

    model = Model(seed=0)
    for each in (Dense(2, 8), layer, Dense(8, 3), Softmax()):
        model.add(each)
    model.set(loss=CategoricalCrossentropy(), optimizer=Adam())
    return model


def test_a_users_layer_keeps_its_settings_through_save_and_load(tmp_path):
    """Layer.get_config reads each __init__ argument from the attribute of its name: a
    LeakyReLU(0.05) saved must not load as LeakyReLU() with alpha 0.1 (it did, silently)."""
    model = _leaky_model(LeakyReLU(0.05))
    X, y = datasets.spiral(samples=20, classes=3, seed=0)
    model.train(X, y, epochs=3)
    model.save(tmp_path / "m")
    loaded = Model.load(tmp_path / "m.npz")
    assert loaded.layers[1].alpha == 0.05 and repr(loaded.layers[1]) == "LeakyReLU(alpha=0.05)"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_a_users_layer_whose_settings_cannot_be_found_is_not_saved(tmp_path):
    with pytest.raises(TypeError, match=r"cannot save RenamedLeaky: its __init__ takes alpha, "
                                        r"which it does not keep under the same name "
                                        r"\(self\.alpha = alpha\).*get_config\(\)"):
        _leaky_model(RenamedLeaky(0.05)).save(tmp_path / "m")
    assert not list(tmp_path.iterdir())
    odd = LeakyReLU(np.float32(0.05))  # a NumPy number is no JSON value
    odd.alpha = object()
    with pytest.raises(TypeError, match=r"cannot save LeakyReLU: its __init__ argument 'alpha' "
                                        r"is read back from self\.alpha, which holds .*\(an "
                                        r"object\), no value a model file keeps"):
        _leaky_model(odd).save(tmp_path / "m")

    class Configured(LeakyReLU):
        def get_config(self):
            return {"alpha": np.float32(0.05)}  # a NumPy number: no JSON value

    with pytest.raises(TypeError, match=r"cannot save Configured: its config .* holds a value a "
                                        r"model file cannot keep .*float\(x\) of a NumPy number"):
        _leaky_model(Configured()).save(tmp_path / "m")
