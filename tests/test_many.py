"""Many models at once: each copy ends bit for bit where training it alone ends."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import xpnet
from _util import host
from xpnet import presets
from xpnet.backend import resolve
from xpnet.engine.fused import Kernels
from xpnet.many import ManyModels


@pytest.mark.parametrize(("preset", "block", "l2"), [("ch14", None, None), ("ch15", None, 1e-3),
                                                     ("ch15", 2, 0.0)])
def test_batched_copies_equal_models_trained_one_by_one(preset, block, l2):
    seeds, lrs = [3, 7, 11], [0.01, 0.02, 0.05]
    many = ManyModels(preset, seeds=seeds, lr=lrs, l2=l2, block=block)
    assert many.block == (2 if block else 3)  # blocks of 2 and 1 copies, or one of 3
    logs = many.train(epochs=30)
    for m, seed in enumerate(seeds):
        model, (X, y), _ = presets.build(many.preset_of(m), seed=seed)
        history = model.train(X, y, epochs=30, log_every=None)
        alone = model.parameters()
        batched = many.parameters(m)
        assert set(batched) == set(alone)
        for name in alone:
            np.testing.assert_array_equal(host(batched[name]), host(alone[name]), err_msg=name)
        assert logs["acc"][m] == history["acc"][-1]
        assert logs["data_loss"][m] == history["data_loss"][-1]
        assert logs["reg_loss"][m] == history["reg_loss"][-1]


@pytest.mark.parametrize("preset", ["ch14", "ch15"])
def test_batched_fused_updates_take_a_learning_rate_per_copy(preset):
    """With the fused kernels (their NumPy reference here), each copy's update reads its own
    learning rate from a column that broadcasts over the copies: still each copy's bits."""
    seeds, lrs = [3, 7], [0.01, 0.05]
    built = [presets.build(replace(presets.get(preset), lr=lr, train_samples=50), seed=s,
                           fast=Kernels(resolve("numpy")))
             for s, lr in zip(seeds, lrs, strict=True)]
    many = ManyModels.from_models([m for m, _, _ in built], [d for _, d, _ in built])
    assert many.blocks[0].fused_kernels() is not None
    assert {type(v).__name__ for v in many.views[0]} == {"FusedOps"}
    many.train(epochs=20)
    for m, (seed, lr) in enumerate(zip(seeds, lrs, strict=True)):
        model, (X, y), _ = presets.build(replace(presets.get(preset), lr=lr, train_samples=50),
                                         seed=seed)
        model.train(X, y, epochs=20, log_every=None)
        for name, value in model.parameters().items():
            np.testing.assert_array_equal(host(many.parameters(m)[name]), host(value),
                                          err_msg=name)


def test_batched_on_other_backends_trains(backend):
    many = ManyModels("ch14", seeds=[0, 1], backend=backend)
    first = many.train(epochs=1)["loss"]
    last = many.train(epochs=100)["loss"]
    assert all(b < a for a, b in zip(first, last, strict=True))


@pytest.mark.parametrize(("kwargs", "error", "pattern"), [
    ({"seeds": 3}, TypeError, r"seeds must be a sequence of integers, one per copy, got 3 "
                              r"\(an int\); e\.g\. seeds=range\(8\)"),
    ({"seeds": None}, TypeError, r"seeds must be a sequence"),
    ({"seeds": []}, ValueError, r"at least one seed"),
    ({"seeds": [0.7, 1.9]}, TypeError, r"seeds\[0\] must be an integer, got 0\.7"),
    ({"seeds": ["nnfs"]}, TypeError, r"seeds\[0\] must be an integer, got the string"),
    ({"seeds": [0, -1]}, ValueError, r"seeds\[1\] must be an integer >= 0, got -1"),
    ({"seeds": [0, 1], "lr": ["0.1", "abc"]}, TypeError, r"lr\[0\] must be a number"),
    ({"seeds": [0], "lr": "0.1"}, TypeError, r"lr must be a number, got the string '0\.1'"),
    ({"seeds": [0], "lr": True}, TypeError, r"lr must be a real number, got True"),
    ({"seeds": [0, 1], "lr": [0.1, 0.0]}, ValueError, r"lr\[1\] must be > 0"),
    ({"seeds": [0], "l2": "x"}, TypeError, r"l2 must be a number"),
])
def test_bad_arguments_are_named_with_the_fix(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        ManyModels("ch14", **kwargs)


def test_bad_epochs_and_models_are_named():
    many = ManyModels("ch14", seeds=[0])
    with pytest.raises(TypeError, match=r"epochs must be an integer, got True"):
        many.train(True)
    many.train(np.int64(1))  # a NumPy integer is an integer
    with pytest.raises(TypeError, match=r"a non-empty list of xpnet\.Model, got an empty"):
        ManyModels.from_models([], [])
    with pytest.raises(ValueError, match="one \\(X, y\\) pair per model: 2 models, 1 pairs"):
        ManyModels.from_models(ManyModels("ch14", seeds=[0, 1]).models,
                               [xpnet.datasets.spiral(10, 3, seed=0)])
    data = [xpnet.datasets.spiral(n, 3, seed=0) for n in (10, 12)]
    with pytest.raises(ValueError, match="data of one shape"):
        ManyModels.from_models(ManyModels("ch14", seeds=[0, 1]).models, data)
    X, y = data[0]
    with pytest.raises(TypeError, match=r"data\[0\] is a tuple of 3 items: pass \[\(X0, y0\)"):
        ManyModels.from_models(many.models, [(X, y, y)])
    with pytest.raises(TypeError, match=r"data\[0\] is an object of type ndarray"):
        ManyModels.from_models(many.models, [X])
    with pytest.raises(TypeError, match=r"got one Model: ManyModels.from_models\(\[model"):
        ManyModels.from_models(many.models[0], [(X, y)])
    with pytest.raises(IndexError, match="copy 5 does not exist: there are 1 copies"):
        many.preset_of(5)


def test_one_rate_as_a_0d_array_is_every_copys_rate():
    many = ManyModels("ch14", seeds=[0, 1], lr=np.array(0.1))
    assert [many.preset_of(i).lr for i in range(2)] == [0.1, 0.1]
    with pytest.raises(TypeError, match=r"^lr must be a number, got the string '0\.1'"):
        ManyModels("ch14", seeds=[0, 1], lr=np.array("0.1"))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="lr has 2 values for 3 seeds"):
        ManyModels("ch14", seeds=[0, 1, 2], lr=[0.1, 0.2])
    with pytest.raises(ValueError, match="spiral classifiers"):
        ManyModels("ch17", seeds=[0])
    with pytest.raises(ValueError, match="block must be a positive integer"):
        ManyModels("ch14", seeds=[0], block=0)


def test_from_models_refuses_copies_that_would_not_train_as_alone():
    """A copy with another optimizer, or trained before, would silently train as the first
    model's optimizer says: refused, each with what differs."""
    import xpnet
    from xpnet.many import ManyModels
    from xpnet.nn import SGD, Adam, CategoricalCrossentropy, Dense, ReLU, Softmax

    X, Y = xpnet.datasets.spiral(10, 3, seed=0)

    def model(seed, optimizer=None):
        m = xpnet.Model(seed=seed)
        for layer in (Dense(2, 4), ReLU(), Dense(4, 3), Softmax()):
            m.add(layer)
        m.set(loss=CategoricalCrossentropy(), optimizer=optimizer or Adam(learning_rate=0.02))
        return m

    with pytest.raises(ValueError, match=r"model 1 differs from model 0 in its optimizer"):
        ManyModels.from_models([model(0), model(1, SGD(learning_rate=0.1))], [(X, Y)] * 2)
    one = model(0)
    with pytest.raises(ValueError, match=r"models 0 and 1 are the same Model object"):
        ManyModels.from_models([one, one], [(X, Y)] * 2)
    wider = xpnet.Model(seed=1)
    for layer in (Dense(2, 8), ReLU(), Dense(8, 3), Softmax()):
        wider.add(layer)
    wider.set(loss=CategoricalCrossentropy(), optimizer=Adam(learning_rate=0.02))
    with pytest.raises(ValueError, match=r"model 1 differs, its layer 0 is Dense\(n_in=2, "
                                         r"n_out=8.*model 0's is Dense\(n_in=2, n_out=4"):
        ManyModels.from_models([model(0), wider], [(X, Y)] * 2)
    trained = model(0)
    trained.train(X, Y, epochs=3)
    with pytest.raises(ValueError, match=r"model 0 has trained before \(its optimizer is at "
                                         r"step 3\)"):
        ManyModels.from_models([trained, model(1)], [(X, Y)] * 2)
    # lists are data too; a rate of its own per copy is what may differ
    many = ManyModels.from_models([model(0), model(1, Adam(learning_rate=0.05))],
                                  [(X.tolist(), Y.tolist())] * 2)
    many.train(epochs=2)
    assert set(many.parameters(-1)) == set(many.parameters(1))
    np.testing.assert_array_equal(many.parameters(-1)["layers.0.W"],
                                  many.parameters(1)["layers.0.W"])
    with pytest.raises(IndexError, match=r"copy 2 does not exist: there are 2 copies"):
        many.parameters(2)
