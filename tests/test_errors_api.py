"""Bad input at every public boundary ends in one clear error: the right class, a message
that names what was wrong and the fix. And the conversion rule for data as users pass it."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import xpnet
from _util import book_classifier
from xpnet import datasets, gradcheck, validate
from xpnet.backend import resolve, same_device
from xpnet.errors import BackendError, DivergenceError
from xpnet.nn.activations import Linear, ReLU, Sigmoid, Softmax
from xpnet.nn.layers import Dense, Dropout
from xpnet.nn.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    MeanAbsoluteError,
    MeanSquaredError,
    SoftmaxCrossentropy,
)
from xpnet.nn.optimizers import SGD, Adagrad, Adam, RMSprop


def classifier(backend="numpy", **kwargs):
    model = xpnet.Model(backend=backend, seed=0, **kwargs)
    for layer in (Dense(2, 8), ReLU(), Dense(8, 3), Softmax()):
        model.add(layer)
    model.set(loss=CategoricalCrossentropy(), optimizer=Adam(learning_rate=0.01))
    return model


def regressor(loss=MeanSquaredError, outputs=1):
    model = xpnet.Model(seed=0)
    for layer in (Dense(1, 8), ReLU(), Dense(8, outputs), Linear()):
        model.add(layer)
    model.set(loss=loss(), optimizer=Adam(learning_rate=0.01))
    return model


def binary():
    model = xpnet.Model(seed=0)
    for layer in (Dense(2, 4), ReLU(), Dense(4, 1), Sigmoid()):
        model.add(layer)
    model.set(loss=BinaryCrossentropy(), optimizer=Adam())
    return model


X, Y = datasets.spiral(10, 3, seed=0)
XS, YS = datasets.sine(20)

# -- constructors: (call, error class, what the message must say) -------------------------------
CONSTRUCTORS = [
    # Dense
    (lambda: Dense(0, 3), ValueError, r"^Dense n_in must be a positive integer, got 0; pass "
                                      r"e\.g\. n_in=10\.$"),
    (lambda: Dense(2, -1), ValueError, r"Dense n_out must be a positive integer, got -1"),
    (lambda: Dense(2.5, 3), TypeError, r"n_in must be an integer, got 2\.5 \(a float\); pass a "
                                       r"whole number such as 2 or 3"),
    (lambda: Dense(2.0, 3), TypeError, r"got 2\.0 \(a float\); pass the whole number 2"),
    (lambda: Dense(True, 3), TypeError, r"n_in must be an integer, got True \(a bool\); pass a "
                                        r"whole number, e\.g\. n_in=10\.$"),
    (lambda: Dense("2", 3), TypeError, r"got the string '2'; pass the number 2 \(without quotes\)"),
    (lambda: Dense(None, 3), TypeError, r"n_in must be an integer, got None"),
    (lambda: Dense(2, 3, init_scale=math.nan), ValueError,
     r"init_scale must be a finite number, got nan"),
    (lambda: Dense(2, 3, init_scale=math.inf), ValueError, r"init_scale must be a finite number"),
    (lambda: Dense(2, 3, init_scale=0), ValueError, r"init_scale must be > 0, got 0"),
    (lambda: Dense(2, 3, init_scale=-0.01), ValueError, r"init_scale must be > 0"),
    (lambda: Dense(2, 3, init_scale="0.01"), TypeError, r"pass the number 0\.01"),
    (lambda: Dense(2, 3, weight_l2=-1.0), ValueError, r"weight_l2 must be >= 0 \(0 switches it"),
    (lambda: Dense(2, 3, weight_l1=math.nan), ValueError, r"weight_l1 must be a finite number"),
    (lambda: Dense(2, 3, bias_l2="5e-4"), TypeError, r"bias_l2 must be a number, got the "
                                                     r"string '5e-4'; pass the number 5e-4"),
    (lambda: Dense(2, 3, bias_l1=[0.1]), TypeError, r"bias_l1 must be a real number, got "),
    # Dropout
    (lambda: Dropout(1.0), ValueError, r"Dropout rate must be in \[0, 1\), got 1 \(.*1 drops all"),
    (lambda: Dropout(-0.1), ValueError, r"Dropout rate must be in \[0, 1\)"),
    (lambda: Dropout("0.5"), TypeError, r"got the string '0\.5'; pass the number 0\.5"),
    (lambda: Dropout(math.nan), ValueError, r"rate must be a finite number"),
    (lambda: Dropout(True), TypeError, r"rate must be a real number, got True \(a bool\)"),
    # optimizers
    (lambda: Adam(learning_rate="0.1"), TypeError,
     r"learning_rate must be a number, got the string '0\.1'; pass the number 0\.1"),
    (lambda: Adam(learning_rate=0), ValueError, r"learning_rate must be > 0, got 0"),
    (lambda: SGD(learning_rate=-1), ValueError, r"learning_rate must be > 0, got -1"),
    (lambda: SGD(learning_rate=math.inf), ValueError, r"learning_rate must be a finite number"),
    (lambda: SGD(learning_rate=None), TypeError, r"learning_rate must be a real number, got None"),
    (lambda: SGD(decay=-1e-3), ValueError, r"decay must be >= 0"),
    (lambda: SGD(decay="1e-3"), TypeError, r"pass the number 1e-3"),
    (lambda: SGD(momentum=1.0), ValueError, r"momentum must be in \[0, 1\), got 1"),
    (lambda: SGD(momentum=-0.5), ValueError, r"momentum must be in \[0, 1\)"),
    (lambda: Adagrad(epsilon=0), ValueError, r"epsilon must be > 0"),
    (lambda: RMSprop(rho=1.0), ValueError, r"rho must be in \[0, 1\), got 1 \(an average"),
    (lambda: RMSprop(rho="0.9"), TypeError, r"pass the number 0\.9"),
    (lambda: Adam(beta_1=1.0), ValueError,
     r"beta_1 must be in \[0, 1\), got 1 \(at 1 the bias correction m / \(1 - beta_1\*\*t\) "
     r"divides by zero"),
    (lambda: Adam(beta_2=1.0), ValueError, r"beta_2 must be in \[0, 1\).*divides by zero"),
    (lambda: Adam(beta_2=-0.1), ValueError, r"beta_2 must be in \[0, 1\), got -0\.1\.$"),
    (lambda: Adam(beta_1=-0.1), ValueError, r"beta_1 must be in \[0, 1\)"),
    (lambda: Adam(epsilon=math.nan), ValueError, r"epsilon must be a finite number"),
    # Model
    (lambda: xpnet.Model(dtype="int32"), ValueError,
     r"Model dtype must be 'float32' \(the default\) or 'float64', got the string 'int32'"),
    (lambda: xpnet.Model(dtype="float16"), ValueError, r"must be 'float32' .* or 'float64'"),
    (lambda: xpnet.Model(dtype=None), TypeError, r"Model dtype must be 'float32'"),
    (lambda: xpnet.Model(dtype=np.int64), ValueError, r"Model dtype must be 'float32'"),
    (lambda: xpnet.Model(fast=1), TypeError,
     r"fast must be True, False or .auto., got 1 \(an int\)"),
    (lambda: xpnet.Model(fast="yes"), TypeError, r"fast must be True, False or .auto."),
    (lambda: xpnet.Model(precision="book"), ValueError,
     r"precision must be one of 'default', 'nnfs', got the string 'book'"),
    (lambda: xpnet.Model(backend="numpyy"), BackendError, r"unknown backend 'numpyy'; expected"),
    (lambda: xpnet.Model(backend=5), BackendError,
     r"backend must be a name .*got 5 \(an int\); e\.g\. backend='numpy'"),
    (lambda: xpnet.Model(seed="0"), ValueError, r"seed must be an integer, 'nnfs' or None"),
    (lambda: xpnet.Model(device="cuda"), BackendError,
     r"backend 'numpy' has no device 'cuda' here \(.*\)\. Its devices here: 'cpu'; pass one "
     r"of them, or leave device out for the default\. For a GPU: backend='cupy'"),
    (lambda: xpnet.Model(backend="array_api_strict", device="gpu"), BackendError,
     r"backend 'array_api_strict' has no device 'gpu' here .*CPU_DEVICE"),
    # datasets
    (lambda: datasets.spiral(samples=1, classes=10**7), ValueError,
     r"classes must be at most 100,000, got 10,000,000"),
    (lambda: datasets.spiral(samples=10**6, classes=11), ValueError,
     r"samples \* classes must be at most 10,000,000 points, got 1,000,000 \* 11"),
    (lambda: datasets.vertical(samples=0), ValueError, r"samples must be a positive integer"),
    (lambda: datasets.spiral(samples="100"), TypeError, r"pass the number 100"),
    (lambda: datasets.spiral(classes=True), TypeError, r"classes must be an integer, got True"),
    (lambda: datasets.spiral(classes=3.0), TypeError, r"pass the whole number 3"),
    (lambda: datasets.sine(samples=-5), ValueError, r"samples must be a positive integer"),
    (lambda: datasets.sine(samples=10**8), ValueError, r"at most 10,000,000 points"),
    (lambda: datasets.spiral(dtype="int32"), ValueError, r"dtype must be 'float32'"),
    (lambda: datasets.sine(dtype="float16"), ValueError, r"dtype must be 'float32'"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), CONSTRUCTORS)
def test_bad_constructor_arguments(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# -- building a model ---------------------------------------------------------------------------
def _add_class():
    xpnet.Model().add(Dense)


def _add_mismatch():
    model = xpnet.Model()
    model.add(Dense(2, 8))
    model.add(ReLU())
    model.add(Dense(4, 3))


def _set(**kwargs):
    model = xpnet.Model()
    model.add(Dense(2, 3))
    args = {"loss": CategoricalCrossentropy()}
    args.update(kwargs)
    model.set(**args)


BUILDING = [
    (_add_class, TypeError, r"a layer instance, got the class Dense; call it: model\.add\(Dense"),
    (lambda: xpnet.Model().add("Dense"), TypeError, r"Model\.add expects a layer.*the string"),
    (_add_mismatch, ValueError, r"Dense\(4, 3\) cannot follow a layer with 8 outputs: its n_in "
                                r"must be 8; add Dense\(8, 3\)"),
    (lambda: _set(loss=CategoricalCrossentropy), TypeError,
     r"loss must be an instance, got the class CategoricalCrossentropy; call it: "
     r"loss=CategoricalCrossentropy\(\)"),
    (lambda: _set(loss="mse"), TypeError, r"loss must be an xpnet Loss .*the string 'mse'"),
    (lambda: _set(optimizer=Adam), TypeError, r"optimizer must be an instance.*optimizer=Adam\(\)"),
    (lambda: _set(optimizer=0.01), TypeError, r"optimizer must be an xpnet Optimizer"),
    (lambda: _set(accuracy="acc"), TypeError, r"accuracy must be an xpnet Accuracy"),
    (lambda: xpnet.Model().predict(X), RuntimeError,
     r"the model has no layers; add some first, e\.g\. model\.add\(xpnet\.nn\.Dense"),
    (lambda: xpnet.Model().evaluate(X, Y), RuntimeError, r"the model has no layers"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), BUILDING)
def test_bad_model_building(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def _ending(loss, *last):
    model = xpnet.Model(seed=0)
    for layer in (Dense(2, 3), *last):
        model.add(layer)
    model.set(loss=loss, optimizer=Adam())
    return model


def _add_twice():
    model, twice = xpnet.Model(), Dense(3, 3)
    for layer in (Dense(2, 3), twice, ReLU(), twice):
        model.add(layer)


def test_more_misuse_is_named_with_the_fix():
    with pytest.raises(ValueError, match=r"is already layer 1 of this model; one layer object "
                                         r"is one layer .*add a new one"):
        _add_twice()
    with pytest.raises(ValueError, match=r"Dense\(n_in=100000, n_out=10000000.* needs more "
                                         r"memory than this machine could give for its "
                                         r"1,000,000,000,000 weights"):
        xpnet.Model().add(Dense(10**5, 10**7))
    with pytest.raises(ValueError, match=r"X has values up to 1e\+300, beyond float32's range "
                                         r".*Model\(dtype='float64'\)"):
        classifier().train(X.astype(np.float64) * 1e300, Y)
    with pytest.raises(ValueError, match=r"validate_every evaluates validation_data .* no "
                                         r"validation_data was given"):
        classifier().train(X, Y, epochs=2, validate_every=1)
    only_activations = xpnet.Model()
    for layer in (ReLU(), Softmax()):
        only_activations.add(layer)
    only_activations.set(loss=CategoricalCrossentropy(), optimizer=Adam())
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 1\] for a model with "
                                         r"2 outputs"):
        only_activations.evaluate(X, Y)  # no Dense: as many outputs as inputs
    for component, pattern in (("nonsense", r"check expects a layer or loss .*the string"),
                               (Dense, r"got the class Dense; call it: check\(Dense\(\.\.\.\)\)"),
                               (classifier(), r"got a whole model: .*check\(model\.layers\[0\]\)")):
        with pytest.raises(TypeError, match=pattern):
            gradcheck.check(component)


def test_gradcheck_checks_a_layer_where_it_lives_and_names_odd_arguments():
    pytest.importorskip("torch")
    model = classifier(backend="torch")
    report = gradcheck.check(model.layers[0])  # built on torch: checked there
    assert report.backend == "torch" and report.passed
    with pytest.raises(ValueError, match=r"holds torch arrays, but backend='numpy' was asked "
                                         r"for; leave backend out"):
        gradcheck.check(model.layers[0], backend="numpy")
    for kwargs, error, pattern in (
            ({"mode": "sampled", "samples": 0}, ValueError, r"samples must be a positive "
                                                            r"integer, got 0"),
            ({"mode": "sampled", "samples": 2.5}, TypeError, r"samples must be an integer"),
            ({"rtol": "1e-3"}, TypeError, r"rtol must be a number"),
            ({"atol": -1.0}, ValueError, r"atol must be .*>= 0|atol must be a non-negative")):
        with pytest.raises(error, match=pattern):
            gradcheck.check(Dense(2, 3), **kwargs)


def test_the_books_loss_checks_the_labels_a_script_hands_it():
    from xpnet import book

    book.init()
    for loss in (book.Loss_CategoricalCrossentropy(),
                 book.Activation_Softmax_Loss_CategoricalCrossentropy()):
        with pytest.raises(ValueError, match=r"class labels must lie in \[0, 2\] .* got labels "
                                             r"from 0 to 7"):
            (loss.forward if hasattr(loss, "activation") else loss.calculate)(
                np.full((2, 3), 1 / 3), np.array([0, 7]))


@pytest.mark.parametrize(("make", "pattern"), [
    (lambda: _ending(CategoricalCrossentropy()),
     r"CategoricalCrossentropy takes class probabilities, a Softmax layer's output, but the "
     r"model ends with Dense\. Add Softmax\(\) as the last layer, or use "
     r"SoftmaxCrossentropy\(\)"),
    (lambda: _ending(CategoricalCrossentropy(), ReLU()), r"but the model ends with ReLU"),
    (lambda: _ending(CategoricalCrossentropy(), Sigmoid()),
     r"ends with Sigmoid\. Add Softmax\(\) as the last layer in place of Sigmoid"),
    (lambda: _ending(SoftmaxCrossentropy(), Softmax()),
     r"SoftmaxCrossentropy applies the softmax itself, but the model already ends with "
     r"Softmax\(\).*Remove the Softmax layer, or use CategoricalCrossentropy\(\)"),
])
def test_a_loss_that_cannot_take_the_last_layers_output_is_named(make, pattern):
    model = make()
    for call in (lambda: model.train(X, Y, epochs=1), lambda: model.evaluate(X, Y)):
        with pytest.raises(ValueError, match=pattern):
            call()
    # the fits that are right train
    _ending(CategoricalCrossentropy(), Softmax()).train(X, Y, epochs=1)
    _ending(SoftmaxCrossentropy()).train(X, Y, epochs=1)
    # class probabilities (smoothed labels) are targets too
    classifier().train(X, np.full((30, 3), 1 / 3, dtype=np.float32), epochs=1)


def test_a_loss_added_as_a_layer_or_layers_edited_by_hand_are_named():
    model = classifier()
    with pytest.raises(TypeError, match=r"CategoricalCrossentropy\(\) is a loss, not a layer: "
                                        r"give it to model\.set\(loss=\.\.\.\)"):
        model.add(CategoricalCrossentropy())
    with pytest.raises(TypeError, match=r"Adam\(\) is an optimizer, not a layer"):
        model.add(Adam())
    for edit, pattern in ((lambda m: m.layers.insert(0, Dense(2, 2)),
                           r"layer 0 of the model: Dense\(.*\) was never added with "
                           r"model\.add"),
                          (lambda m: m.layers.append("x"),
                           r"layer 4 of the model: the string 'x' is not a layer")):
        model = classifier()
        edit(model)
        with pytest.raises(RuntimeError, match=pattern + r".*not by changing model\.layers"):
            model.train(X, Y, epochs=1)


def test_a_width_that_cannot_fit_in_memory_is_refused_before_training(monkeypatch):
    import os as os_module
    pages = {"SC_PHYS_PAGES": 2**16, "SC_PAGE_SIZE": 4096}  # a 256 MiB machine
    monkeypatch.setattr(os_module, "sysconf", lambda name: pages[name])
    model = xpnet.Model(seed=0)
    for layer in (Dense(2, 2_000_000), ReLU(), Dense(2_000_000, 3), Softmax()):
        model.add(layer)
    model.set(loss=CategoricalCrossentropy(), optimizer=Adam())
    with pytest.raises(ValueError, match=r"training on 30 samples at a time needs about 0\.9 "
                                         r"GiB .*the widest, Dense\[0\], has 2,000,000 units"
                                         r"\), more than this machine's 0\.2 GiB.*batch_size"):
        model.train(X, Y, epochs=1)


def test_binary_crossentropy_without_a_sigmoid_is_named():
    """The chapter 16 model with its Sigmoid forgotten: the outputs leave [0, 1]."""
    from xpnet.nn import BinaryCrossentropy

    targets = (Y[:, None] > 0).astype(np.int64)
    for last in ((), (ReLU(),)):
        model = xpnet.Model(seed=0)
        for layer in (Dense(2, 1), *last):
            model.add(layer)
        model.set(loss=BinaryCrossentropy(), optimizer=Adam())
        with pytest.raises(ValueError, match=r"BinaryCrossentropy takes a probability per "
                                             r"output, a Sigmoid layer's output, but the model "
                                             r"ends with (Dense|ReLU).*Add Sigmoid\(\)"):
            model.train(X, targets, epochs=1)
    _ending(BinaryCrossentropy(), Sigmoid()).train(X, np.ones((30, 3), dtype=np.int64),
                                                   epochs=1)


def test_the_accuracy_fits_what_the_last_layer_predicts():
    from xpnet.nn import Linear, MeanSquaredError
    from xpnet.nn.metrics import CategoricalAccuracy

    # a softmax classifier trained with squared error on one-hot targets: classes compared
    model = _ending(MeanSquaredError(), Softmax())
    one_hot = np.eye(3, dtype=np.float32)[Y]
    acc = model.train(X, one_hot, epochs=2).records[-1]["acc"]
    assert isinstance(model.accuracy, CategoricalAccuracy)
    assert acc == pytest.approx(float(np.mean(np.argmax(np.asarray(model.predict(X)), 1) == Y)))
    # a class accuracy on a regression model is named, with the one that fits
    XS, YS = xpnet.datasets.sine(20)
    model = xpnet.Model(seed=0)
    for layer in (Dense(1, 4), ReLU(), Dense(4, 1), Linear()):
        model.add(layer)
    model.set(loss=MeanSquaredError(), optimizer=Adam(), accuracy=CategoricalAccuracy())
    with pytest.raises(ValueError, match=r"CategoricalAccuracy compares predicted classes .* "
                                         r"ends with Linear.*accuracy=RegressionAccuracy\(\)"):
        model.train(XS, YS, epochs=1)


# -- train / evaluate / predict arguments ----------------------------------------------------
CALLS = [
    ({"epochs": True}, TypeError, r"epochs must be an integer, got True \(a bool\)"),
    ({"epochs": 2.5}, TypeError, r"epochs must be an integer, got 2\.5 .*not rounded"),
    ({"epochs": "10"}, TypeError, r"got the string '10'; pass the number 10"),
    ({"epochs": -1}, ValueError, r"epochs must be an integer >= 0, got -1"),
    ({"batch_size": 0}, ValueError, r"batch_size must be a positive integer, got 0"),
    ({"batch_size": -1}, ValueError, r"batch_size must be a positive integer, got -1"),
    ({"batch_size": "4"}, TypeError, r"batch_size must be an integer, got the string '4'; pass "
                                     r"the number 4"),
    ({"batch_size": 4.0}, TypeError, r"pass the whole number 4"),
    ({"shuffle": 1}, TypeError, r"shuffle must be True or False, got 1"),
    ({"validation_data": X}, TypeError, r"validation_data must be a pair \(X_val, y_val\), got "
                                        r"an object of type ndarray with shape \(30, 2\)"),
    ({"validation_data": (X, Y, Y)}, TypeError, r"got a tuple of 3 items; pass "
                                                r"validation_data=\(X_val, y_val\)"),
    ({"validation_data": (X[:, :1], Y)}, ValueError, r"validation X has 1 features"),
    ({"validation_data": (X, Y[:-1])}, ValueError, r"validation X has 30 samples but "
                                                   r"validation y has shape \(29,\)"),
    ({"log_every": 0}, ValueError, r"log_every must be a positive integer, got 0"),
    ({"log_every": "10"}, TypeError, r"log_every must be an integer, got the string '10'"),
    ({"log_every": [1, 2.5]}, TypeError, r"an epoch in log_every must be an integer, got 2\.5"),
    ({"log_every": True}, TypeError, r"log_every must be an integer, got True"),
    ({"validate_every": 0}, ValueError, r"validate_every must be a positive integer"),
    ({"start_epoch": -1}, ValueError, r"start_epoch must be an integer >= 0"),
    ({"start_epoch": 1.0}, TypeError, r"start_epoch must be an integer.*whole number 1"),
    ({"callbacks": print}, TypeError, r"callbacks must be a list of functions.*"
                                      r"callbacks=\[my_callback\]"),
    ({"callbacks": [1]}, TypeError, r"each callback must be a function"),
    ({"log_before_update": "no"}, TypeError, r"log_before_update must be True or False"),
    ({"graph": 1}, TypeError, r"graph must be True, False or .auto., got 1"),
]


@pytest.mark.parametrize(("kwargs", "error", "pattern"), CALLS)
def test_bad_train_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        classifier().train(X, Y, **kwargs)


@pytest.mark.parametrize(("method", "batch_size", "error", "pattern"), [
    ("evaluate", -1, ValueError, r"batch_size must be a positive integer, got -1"),
    ("evaluate", 0, ValueError, r"batch_size must be a positive integer, got 0"),
    ("evaluate", "4", TypeError, r"got the string '4'; pass the number 4"),
    ("predict", 2.5, TypeError, r"batch_size must be an integer, got 2\.5"),
    ("predict", True, TypeError, r"batch_size must be an integer, got True \(a bool\)"),
])
def test_bad_batch_size_to_evaluate_and_predict(method, batch_size, error, pattern):
    model = classifier()
    args = (X, Y) if method == "evaluate" else (X,)
    with pytest.raises(error, match=pattern):
        getattr(model, method)(*args, batch_size=batch_size)


# -- data -----------------------------------------------------------------------------------
DATA = [
    (classifier, lambda: ([[0.1, 0.2], [0.3]], [0, 1]), TypeError,
     r"X must be an array or nested lists of numbers of one shape"),
    (classifier, lambda: ([["a", "b"]], [0]), TypeError,
     r"X must hold real numbers.*np\.asarray\(X, dtype=np\.float32\)"),
    (classifier, lambda: (X.astype(np.complex128), Y), TypeError, r"X must hold real numbers"),
    (classifier, lambda: (X, Y.astype(str)), TypeError,
     r"y must hold real numbers.*np\.asarray\(y, dtype=np\.float32\)"),
    (classifier, lambda: (X, Y.astype(np.float64)), TypeError,
     r"integer class labels, got floating-point numbers\. .*np\.asarray\(y, "
     r"dtype=np\.int64\)"),
    (classifier, lambda: (X, np.eye(4)[Y]), ValueError,
     r"one-hot targets have 4 columns but the model has 3 outputs; give the last Dense layer 4"),
    (classifier, lambda: (X, Y[:, None, None]), ValueError,
     r"cross-entropy expects labels of shape \(n_samples,\) or one-hot targets of shape "
     r"\(n_samples, 3\)"),
    (classifier, lambda: (X, Y - 1), ValueError, r"class labels must lie in \[0, 2\]"),
    (classifier, lambda: (X, Y[:, None]), ValueError,
     r"targets of shape \(30, 1\) look like a column of class labels; pass them as a vector "
     r"of shape \(n_samples,\): y\.ravel\(\)"),
    (classifier, lambda: (X, np.ones((30, 3))), ValueError,
     r"one-hot targets must have one 1 per row and 0s elsewhere \(or class probabilities in "
     r"\[0, 1\] summing to 1\), but row 0 is \[1\.0, 1\.0, 1\.0\] \(it sums to 3; 30 of 30"),
    (classifier, lambda: (X, 2 * np.eye(3)[Y]), ValueError, r"row 0 is \[2\.0, 0\.0, 0\.0\]"),
    (classifier, lambda: (X, -np.eye(3)[Y]), ValueError, r"one-hot targets must have one 1"),
    (classifier, lambda: (X, [0.5] * 30), TypeError, r"integer class labels"),
    (classifier, lambda: (np.full((30, 2), np.inf), Y), ValueError,
     r"X contains NaN or infinite values; clean or impute"),
    (classifier, lambda: (X[None], Y), ValueError, r"X must be a non-empty 2-D array"),
    (classifier, lambda: (X, 3), ValueError, r"X has 30 samples but y has shape \(\)"),
    (regressor, lambda: (XS, XS[:, 0]), ValueError,
     r"MeanSquaredError expects targets of the model's output shape \(n_samples, 1\), got shape "
     r"\(20,\)\. Reshape them to a column with y\[:, None\]"),
    (lambda: regressor(MeanAbsoluteError), lambda: (XS, np.c_[XS, XS]), ValueError,
     r"MeanAbsoluteError expects .*\(n_samples, 1\), got shape \(20, 2\).*give the last Dense "
     r"layer 2 outputs"),
    (lambda: regressor(outputs=2), lambda: (XS, XS), ValueError,
     r"expects targets of the model's output shape \(n_samples, 2\), got shape \(20, 1\)"),
    (regressor, lambda: (XS, np.where(XS > 0.5, np.nan, XS)), ValueError,
     r"y contains NaN or infinite values"),
    (binary, lambda: (X, Y % 2), ValueError,
     r"BinaryCrossentropy expects .*got shape \(30,\)\. Reshape them to a column with "
     r"y\[:, None\]"),
    (binary, lambda: (X, Y[:, None]), ValueError, r"BinaryCrossentropy expects targets of 0 or 1"),
]


@pytest.mark.parametrize(("make", "data", "error", "pattern"), DATA)
def test_bad_data_is_refused_before_the_first_epoch(make, data, error, pattern):
    with pytest.raises(error, match=pattern):
        make().train(*data(), epochs=1)


def test_arrays_of_another_backend_get_a_backend_error_saying_how_to_move_them():
    pytest.importorskip("array_api_strict")
    Xs = resolve("array_api_strict").asarray(X)
    with pytest.raises(BackendError, match=r"backend 'array_api_strict'.*cannot be mixed.*"
                                           r"xpnet\.backend\.to_numpy\(x\)"):
        classifier().predict(Xs)


# -- the conversion rule ----------------------------------------------------------------------
def _backend_names():
    return ["numpy", "array_api_strict", "torch", "jax"]


@pytest.mark.parametrize("name", _backend_names())
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_host_data_of_any_real_dtype_becomes_the_models_dtype(name, dtype):
    try:
        backend = resolve(name)
    except BackendError:
        pytest.skip(f"{name} is not installed")
    model = classifier(name, dtype=dtype)
    xp = backend.xp
    reference = xpnet.backend.to_numpy(model.predict(backend.asarray(X, dtype=getattr(xp, dtype))))
    for data in (X.astype(np.float64), X.astype(np.float32), X.tolist()):
        out = model.predict(data)
        assert out.dtype == getattr(xp, dtype)
        assert same_device(xpnet.backend.backend_of(out).device, backend.device)
        np.testing.assert_allclose(xpnet.backend.to_numpy(out), reference, rtol=1e-6)
    ints = np.asarray([[1, -2], [3, 0]], dtype=np.int16)
    out = model.predict(ints)
    assert out.dtype == getattr(xp, dtype)
    np.testing.assert_allclose(xpnet.backend.to_numpy(out),
                               xpnet.backend.to_numpy(model.predict(ints.astype(dtype))),
                               rtol=1e-6)
    history = model.train(X.astype(np.float64), Y.astype(np.uint8).tolist(), epochs=2)
    assert len(history) == 2
    result = model.evaluate(X.tolist(), Y.astype(np.int16))
    assert set(result) == {"acc", "loss"}


def test_the_newcomers_first_prediction_works():
    model = classifier()
    out = model.predict(np.array([[0.1, 0.2]]))  # NumPy's default float64
    assert out.shape == (1, 3) and out.dtype == np.float32


def test_integer_targets_become_int64_labels_and_float_targets_the_models_dtype():
    model = classifier()
    X2, y2 = model.convert_data(X.astype(np.float64), Y.astype(np.uint8))
    assert X2.dtype == np.float32 and y2.dtype == np.int64
    reg = regressor()
    _, ys = reg.convert_data(XS.astype(np.float64), XS.astype(np.float64))
    assert ys.dtype == np.float32
    _, yb = binary().convert_data(X, (Y[:, None] % 2).astype(bool))
    assert yb.dtype == np.int64


def test_faithful_mode_keeps_the_books_dtypes():
    model = xpnet.Model(seed="nnfs")
    model.add(Dense(1, 1))
    model.add(Linear())
    model.set(loss=MeanSquaredError(), optimizer=Adam())
    X64, y64 = datasets.sine(10, dtype="float64")  # nnfs's sine data is float64
    Xc, yc = model.convert_data(X64, y64)
    assert Xc.dtype == np.float64 and yc.dtype == np.float64
    Xc, yc = model.convert_data(X64.astype(np.float32), y64.astype(np.float32))
    assert Xc.dtype == np.float32 and yc.dtype == np.float32
    Xc, _ = model.convert_data(np.arange(10)[:, None], y64)  # integers: the model's dtype
    assert Xc.dtype == np.float32


def test_data_already_in_the_models_dtype_is_not_copied():
    model = classifier()
    assert model.convert_inputs(X) is X


@pytest.mark.parametrize(("a", "b", "same"), [
    ("cuda", "cuda:0", True),
    ("cuda:0", "cuda", True),
    ("cuda:1", "cuda", False),
    ("cpu", "CPU", True),
    ("cpu", "cpu:0", True),
    ("cpu", "cuda", False),
])
def test_devices_compare_by_equivalence(a, b, same):
    assert same_device(a, b) is same


def test_a_torch_device_it_cannot_use_is_named_with_those_it_can():
    torch = pytest.importorskip("torch")
    usable = ["cpu", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]
    for device in ("gpu", f"cuda:{len(usable) + 3}"):
        with pytest.raises(BackendError, match=f"backend 'torch' has no device '{device}' "
                           r"here \(.*\)\. Its devices here: " + repr(usable)[1:-1]):
            xpnet.Model(backend="torch", device=device)


def test_torch_devices_compare_by_equivalence():
    torch = pytest.importorskip("torch")
    assert same_device(torch.device("cuda"), torch.device("cuda:0"))
    assert same_device(torch.device("cuda:0"), "cuda")
    assert same_device(torch.device("cpu"), "cpu")
    assert not same_device(torch.device("cuda:1"), torch.device("cuda:0"))
    assert not same_device(torch.device("cpu"), torch.device("cuda"))


def test_torch_on_cuda_trains_on_its_own_arrays_under_any_spelling_of_the_device():
    """``Model(backend="torch", device=...)`` with ``"cuda"``, ``"cuda:0"`` or a
    ``torch.device``: data made by that backend, or by torch on ``cuda:0``, are its own."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip(f"torch {torch.__version__} cannot use CUDA here")
    for spelling in ("cuda", "cuda:0", torch.device("cuda"), torch.device("cuda", 0)):
        model = classifier("torch", device=spelling)
        for data in (model.backend.asarray(X), torch.tensor(X, device="cuda:0"),
                     resolve("torch", "cuda").asarray(X)):
            history = model.train(data, torch.tensor(Y, device="cuda"), epochs=2)
            assert np.isfinite(history["loss"][-1])
            assert same_device(model.predict(data).device, "cuda:0")


# -- summary --------------------------------------------------------------------------------
def test_summary_lists_layers_shapes_and_parameter_counts():
    model = xpnet.Model(dtype="float64")
    for layer in (Dense(2, 64), ReLU(), Dropout(0.1), Dense(64, 3), Softmax()):
        model.add(layer)
    lines = model.summary().splitlines()
    assert lines[0].split() == ["Layer", "Output", "shape", "Parameters"]
    rows = [line.split() for line in lines[1:-1]]
    assert [r[0] for r in rows] == ["Dense[0]", "ReLU[1]", "Dropout[2]", "Dense[3]", "Softmax[4]"]
    assert [" ".join(r[1:3]) for r in rows] == ["(n, 64)"] * 3 + ["(n, 3)"] * 2
    assert [r[3] for r in rows] == ["192", "0", "0", "195", "0"]
    assert lines[-1] == "Total parameters: 387 (float64, 3,096 bytes)"


def test_summary_of_an_empty_model():
    assert xpnet.Model().summary().splitlines()[-1] == "Total parameters: 0 (float32, 0 bytes)"


# -- divergence diagnoses --------------------------------------------------------------------
def _sine_model(init_scale=1.0, optimizer=None):
    model = xpnet.Model(seed=0)
    for layer in (Dense(1, 8, init_scale=init_scale), ReLU(),
                  Dense(8, 1, init_scale=init_scale), Linear()):
        model.add(layer)
    model.set(loss=MeanSquaredError(), optimizer=optimizer or SGD(learning_rate=1e6))
    return model


def test_a_diverging_learning_rate_is_named_with_the_layer():
    with pytest.raises(DivergenceError, match=r"training diverged at epoch \d+.*(parameters "
                                              r"layers\.\d\.[Wb]|the first layer whose output"
                                              r").*Lower the learning rate \(it is 1000000\.0\)"):
        _sine_model().train(XS, XS, epochs=50)


def test_a_huge_first_forward_pass_does_not_blame_the_learning_rate():
    model = _sine_model(init_scale=1e30, optimizer=Adam(learning_rate=1e-3))
    with pytest.raises(DivergenceError, match=r"at epoch 1: .*before any update, already gives "
                                              r"it, so the learning rate is not the cause") as e:
        model.train(XS, XS, epochs=5)
    assert e.value.epoch == 1
    assert "Lower the learning rate" not in str(e.value)


def test_an_optimizer_setting_changed_after_construction_is_named():
    """Refused where it is set (it diverged steps later, the cause named only then)."""
    optimizer = Adam(learning_rate=0.01)
    with pytest.raises(ValueError, match=r"beta_2 must be in \[0, 1\), got 1 \(at 1 the bias "
                                         r"correction v / \(1 - beta_2\*\*t\) divides by zero"):
        optimizer.beta_2 = 1.0
    assert optimizer.beta_2 == 0.999


def test_non_finite_parameters_are_refused_before_training():
    model = _sine_model(init_scale=0.1)
    W = model.layers[0].params["W"]
    W[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"the parameters layers\.0\.W hold NaN or infinite "
                                         r"values before training starts.*Model\.load"):
        model.train(XS, XS, epochs=1)


def test_gradcheck_reports_non_finite_values_as_such():
    layer = Dense(2, 2, seed=0)
    report = gradcheck.check(layer, (np.array([[np.nan, 1.0]]),))
    assert not report.passed
    assert "the input x holds NaN or infinite values" in report.checks[0].note
    assert "random numbers" not in report.checks[0].note
    dense = Dense(2, 2, seed=0)
    dense.build_from(np.zeros((1, 2)))
    dense.params["W"] = np.full((2, 2), np.inf)
    assert "the parameter W holds NaN" in gradcheck.check(dense).checks[0].note
    report = gradcheck.check(MeanSquaredError(), (np.array([[np.inf]]), np.array([[0.0]])))
    assert "y_pred holds NaN or infinite values" in report.checks[0].note


def test_validate_helpers_return_plain_values():
    assert validate.positive_int("n", np.int64(3)) == 3
    assert type(validate.positive_int("n", np.int64(3))) is int
    assert validate.finite_float("x", np.float32(0.5)) == 0.5
    assert validate.real_float_dtype("dtype", "FLOAT64") == "float64"
    assert validate.flag("f", np.bool_(False)) is False


def test_counts_that_would_run_for_ever_are_refused_with_their_limit():
    from xpnet.experiments import plan
    from xpnet.explain import explain

    with pytest.raises(ValueError, match=r"seeds must be at most 10,000, got 100,000,000"):
        plan(["samples"], seeds=100_000_000)
    with pytest.raises(ValueError, match=r"steps must be at most 20,000, got 100,000,000: "
                                         r"explain mode keeps every value"):
        explain("adam", steps=100_000_000)


def test_a_preset_by_name_and_a_model_loaded_by_the_name_it_was_saved_under(tmp_path):
    from xpnet import presets

    run = presets.run("ch14", epochs=1)  # the name, not only presets.get("ch14")
    assert run.model.layers[0].n_out == 64
    with pytest.raises(ValueError, match=r"unknown preset 'ch99'\. Presets are: ch14"):
        presets.build("ch99")
    with pytest.raises(ValueError, match=r"^unknown preset 'CH15'\. Did you mean 'ch15'\? "):
        presets.build("CH15")
    with pytest.raises(TypeError, match=r"expected a preset \(its name, e.g. 'ch15'"):
        presets.run(15)
    with pytest.raises(ValueError, match=r"epochs must be an integer >= 0, got -1"):
        presets.run("ch14", epochs=-1)
    run.model.save(tmp_path / "mymodel")  # written as mymodel.npz
    loaded = xpnet.Model.load(tmp_path / "mymodel")
    np.testing.assert_array_equal(np.asarray(loaded.predict(X)), np.asarray(run.model.predict(X)))


def test_the_books_model_refuses_a_class_or_a_non_layer_and_odd_batches():
    from xpnet import book

    book.init()
    model = book.Model()
    with pytest.raises(TypeError, match=r"got the class Layer_Dense; call it: "
                                        r"model\.add\(Layer_Dense\(\.\.\.\)\)"):
        model.add(book.Layer_Dense)
    with pytest.raises(TypeError, match=r"expects a layer with forward and backward methods, "
                                        r"got None"):
        model.add(None)
    for part, kind in ((book.Loss_CategoricalCrossentropy(), "a loss"),
                       (book.Optimizer_Adam(), "an optimizer"),
                       (book.Accuracy_Categorical(), "an accuracy")):
        with pytest.raises(TypeError, match=rf"{type(part).__name__}\(\) is {kind}, not a layer: "
                                            r"give it to model\.set"):
            model.add(part)
    for layer in (book.Layer_Dense(2, 3), book.Activation_Softmax()):
        model.add(layer)
    model.set(loss=book.Loss_CategoricalCrossentropy(), optimizer=book.Optimizer_Adam(),
              accuracy=book.Accuracy_Categorical())
    model.finalize()
    Xb, yb = book.spiral_data(samples=5, classes=3)
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer, got 0"):
        model.train(Xb, yb, epochs=1, batch_size=0)
    with pytest.raises(TypeError, match=r"batch_size must be an integer"):
        model.train(Xb, yb, epochs=1, batch_size=2.5)


def test_explain_caps_every_run_it_records_and_follows_the_optimizer_asked_for():
    from xpnet import explain_param
    from xpnet.explain import plot

    for call in (lambda: plot("relu", "p.png", steps=10**8),
                 lambda: explain_param.trace_param("Dense[0].W[0,0]", steps=10**8)):
        with pytest.raises(ValueError, match=r"steps must be at most 20,000"):
            call()
    with pytest.raises(ValueError, match=r"optimizer must be one of adam, sgd"):
        explain_param.trace_param("Dense[0].W[0,0]", steps=2, optimizer="bogus")
    traced = explain_param.trace_param("Dense[0].W[0,0]", steps=2, preset="ch14",
                                       optimizer="sgd")
    assert traced.optimizer == "SGD" and len(traced.rows) == 2  # not the chapter's Adam


def test_a_users_layer_that_forgets_its_return_is_named_with_the_fix():
    class ForgetsBackward(xpnet.layers.Layer):
        def forward(self, x, training=True):
            self.x = x
            return np.maximum(x, 0)

        def backward(self, dy):
            dy * (self.x > 0)  # no return

    class ForgetsForward(xpnet.layers.Layer):
        def forward(self, x, training=True):
            self.output = np.maximum(x, 0)  # the book's style, in an xpnet Model

        def backward(self, dy):
            return dy

    X, y = datasets.spiral(samples=20, classes=3, seed=0)
    for cls, method in ((ForgetsBackward, "backward"), (ForgetsForward, "forward")):
        with pytest.raises(TypeError, match=rf"layer 1 \({cls.__name__}\) returned None from "
                                            rf"{method}: an xpnet layer's {method} must "
                                            "return"):
            _with_user_layer(cls()).train(X, y, epochs=1)


class _Narrows(xpnet.layers.Layer):
    """A user's layer whose backward drops all but one column of the gradient."""

    def forward(self, x, training=True):
        return x

    def backward(self, dy):
        return dy[:, :1]


class _DropsRows(xpnet.layers.Layer):
    def forward(self, x, training=True):
        return x[:1]

    def backward(self, dy):
        return dy


class _Indexes(xpnet.layers.Layer):
    def forward(self, x, training=True):
        return x[999]

    def backward(self, dy):
        return dy


class _BookStyle:
    def forward(self, inputs):
        self.output = inputs

    def backward(self, dvalues):
        self.dinputs = dvalues


def _with_user_layer(layer, backend="numpy"):
    model = xpnet.Model(backend=backend, seed=0)
    for each in (Dense(2, 8), layer, ReLU(), Dense(8, 3), Softmax()):
        model.add(each)
    model.set(loss=CategoricalCrossentropy(), optimizer=Adam())
    return model


def test_a_users_layer_in_a_model_is_checked_each_step_and_named_in_its_errors():
    """A gradient of the wrong shape would be broadcast into the weights without a word (every
    column of W the same update); rows dropped or an IndexError surface as raw NumPy errors."""
    X, y = datasets.spiral(samples=10, classes=3, seed=0)
    with pytest.raises(ValueError, match=r"layer 1 \(_Narrows\)\.backward returned a gradient "
                                         r"of shape \(30, 1\) for an input of shape \(30, 8\)"):
        _with_user_layer(_Narrows()).train(X, y, epochs=1)
    with pytest.raises(ValueError, match=r"layer 1 \(_DropsRows\)\.forward returned shape "
                                         r"\(1, 8\) for an input of shape \(30, 8\): a layer "
                                         r"must keep one row per sample"):
        _with_user_layer(_DropsRows()).train(X, y, epochs=1)
    with pytest.raises(IndexError) as info:
        _with_user_layer(_Indexes()).train(X, y, epochs=1)
    if hasattr(info.value, "add_note"):
        assert info.value.__notes__ == ["(raised in layer 1 (_Indexes).forward of the model)"]
    with pytest.raises(TypeError, match=r"layer 1 \(_BookStyle\): its forward\(inputs\) cannot "
                                        r"be called as forward\(x, training\).*belongs in "
                                        r"xpnet\.book's Model"):
        _with_user_layer(_BookStyle())


def test_a_users_layer_with_no_source_file_is_checked_too_and_its_nan_is_named():
    """A notebook's class has no file for inspect to find: it is the user's all the same.
    NaN from its forward was blamed on the initial weights or the inputs' size."""
    namespace: dict = {}
    exec(  # a class as a notebook cell defines it: no file behind it
        "import xpnet\n"
        "class LogShift(xpnet.nn.layers.Layer):\n"
        "    def forward(self, x, training=True):\n"
        "        return self.xp.log(x - 10)\n"
        "    def backward(self, dy):\n"
        "        return dy[:, :1]\n", namespace)
    X, y = datasets.spiral(samples=10, classes=3, seed=0)
    with np.errstate(invalid="ignore"), \
            pytest.raises(FloatingPointError, match=r"layer 1 \(LogShift\)\.forward returned "
                                                    r"values that are not finite from finite "
                                                    r"inputs.*Fix that forward"):
        _with_user_layer(namespace["LogShift"]()).train(X, y, epochs=1)


def test_a_users_layer_returning_host_arrays_on_torch_is_named():
    pytest.importorskip("torch")

    class ToHost(xpnet.layers.Layer):
        def forward(self, x, training=True):
            return np.asarray(x)

        def backward(self, dy):
            return dy

    X, y = datasets.spiral(samples=10, classes=3, seed=0, backend="torch")
    with pytest.raises(BackendError, match=r"layer 1 \(ToHost\)\.forward returned an object of "
                                           r"type ndarray .*not an array of the model's backend"):
        _with_user_layer(ToHost(), backend="torch").train(X, y, epochs=1)


def test_one_layer_object_in_two_models_is_refused():
    """Both models would train the same weights: a comparison of two optimizers on "the same
    architecture" would compare nothing."""
    import copy

    dense = Dense(2, 3)
    first = xpnet.Model(seed=0)
    first.add(dense)
    with pytest.raises(ValueError, match=r"already a layer of another model: both would train "
                                         r"the same weights"):
        xpnet.Model(seed=0).add(dense)
    twin = copy.deepcopy(dense)
    xpnet.Model(seed=0).add(twin)  # a copy is its own layer
    assert twin.W is not dense.W


def test_parts_used_out_of_order_say_which_call_comes_first():
    x = np.ones((4, 2), dtype=np.float32)
    for layer in (Dense(2, 3), ReLU(), Softmax(), Sigmoid()):
        if isinstance(layer, Dense):
            layer.build_from(x)
        with pytest.raises(AttributeError, match=rf"{type(layer).__name__}.backward was called "
                                                 r"before forward: run forward\(x\) first"):
            layer.backward(np.ones((4, 3), dtype=np.float32))
    dense = Dense(2, 3)
    dense.forward(x)
    with pytest.raises(RuntimeError, match=r"Adam.update_params: Dense has no gradient for "
                                           r"'W' yet; call its backward before"):
        Adam().update_params(dense)
    with pytest.raises(TypeError, match=r"SGD.update_params expects one layer with params "
                                        r"and grads, got .*\(a list\); use "
                                        r"optimizer.step\(layers\)"):
        SGD().update_params([dense])
    with pytest.raises(AttributeError, match="'Dense' object has no attribute 'nope'"):
        _ = dense.nope


def test_an_optimizer_given_nothing_to_update_says_so():
    """An unbuilt Dense or an activation has no parameters: the step would change nothing;
    ``step`` takes a list, not one layer or a number."""
    from xpnet import book

    with pytest.raises(ValueError, match=r"SGD.update_params: Dense has no parameters \(yet\): "
                                         r"a Dense's are created by its first forward pass"):
        SGD().update_params(Dense(2, 3))
    relu = ReLU()
    relu.forward(np.ones((2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"Adam.update_params: ReLU has no parameters to "
                                         r"update \(an activation or a Dropout learns nothing\)"
                                         r".*model.trainable_layers"):
        Adam().update_params(relu)
    book.init()
    with pytest.raises(ValueError, match=r"Adam.update_params: ReLU has no parameters"):
        book.Optimizer_Adam().update_params(book.Activation_ReLU())
    sgd = SGD()
    for bad, shown in ((5, r"5 \(an int\)"), (Dense(2, 3), r"Dense\(n_in=2.*\(a Dense\)"),
                       (None, r"None \(a NoneType\)")):
        with pytest.raises(TypeError, match=rf"SGD.step expects a list of layers, got {shown}; "
                                            r"e.g. optimizer.step\(\[dense1, dense2\]\)"):
            sgd.step(bad)
    assert sgd.iterations == 0  # refused before the step counted


@pytest.mark.parametrize(("iterations", "error", "said"), [
    (-5, ValueError, r"optimizer.iterations must be an integer >= 0, got -5\."),
    (-1, ValueError, r"got -1\."),  # Adam's t = 0 would divide by 1 - beta**0 = 0
    (2.5, TypeError, r"optimizer.iterations must be an integer, got 2.5 \(a float\)"),
])
def test_a_step_count_set_by_hand_is_checked_when_training_starts(iterations, error, said):
    model = classifier()
    model.optimizer.iterations = iterations
    X, y = datasets.spiral(samples=5, classes=3, seed=0)
    with pytest.raises(error, match=said + r".* It counts the steps taken .*set it to 0"):
        model.train(X, y, epochs=1)
    model.optimizer.iterations = 3
    model.train(X, y, epochs=1)
    assert model.optimizer.iterations == 4


def test_a_loss_or_accuracy_of_no_samples_is_an_error_not_nan():
    """The mean over no samples is NaN with only NumPy's warning; a Model refuses empty
    data, and so do the parts used on their own."""
    from xpnet import book
    from xpnet.nn.metrics import BinaryAccuracy, CategoricalAccuracy, RegressionAccuracy

    empty_p, labels = np.zeros((0, 3), dtype=np.float32), np.zeros(0, dtype=np.int64)
    column = np.zeros((0, 1), dtype=np.float32)
    for loss, y_pred, y_true in ((CategoricalCrossentropy(), empty_p, labels),
                                 (SoftmaxCrossentropy(), empty_p, labels),
                                 (BinaryCrossentropy(), column, column),
                                 (MeanSquaredError(), column, column)):
        with pytest.raises(ValueError, match=r"y_pred must be a non-empty array \(n_samples, "
                                             rf"n_outputs\), got shape \({y_pred.shape[0]}, "
                                             rf"{y_pred.shape[1]}\). {type(loss).__name__}"
                                             r".calculate is a mean over the samples"):
            loss.calculate(y_pred, y_true)
    for accuracy, predictions, y in ((CategoricalAccuracy(), labels, labels),
                                     (BinaryAccuracy(), column, column),
                                     (RegressionAccuracy(), column, column)):
        with pytest.raises(ValueError, match=r"predictions must be a non-empty array .*got "
                                             rf"shape .*{type(accuracy).__name__}.calculate"):
            accuracy.calculate(predictions, y)
    book.init()
    with pytest.raises(ValueError, match=r"Loss_CategoricalCrossentropy.calculate is a mean"):
        book.Loss_CategoricalCrossentropy().calculate(empty_p, labels)
    with pytest.raises(ValueError, match=r"CategoricalAccuracy.calculate is a mean"):
        book.Accuracy_Categorical().calculate(labels, labels)
    # one sample is a mean
    p = np.array([[0.5, 0.25, 0.25]], dtype=np.float32)
    assert float(CategoricalCrossentropy().calculate(p, np.array([0]))) == pytest.approx(
        -math.log(0.5))


def test_model_endings_that_cannot_learn_are_refused_with_the_fix():
    X, y = datasets.spiral(samples=10, classes=2, seed=0)
    cases = [
        ((Dense(2, 3), Softmax(), Dropout(0.5)), CategoricalCrossentropy(), None,
         "the model ends with Dropout"),
        ((Dense(2, 8), ReLU(), Dense(8, 1), Softmax()), BinaryCrossentropy(), None,
         r"Softmax over 1 output, which is always 1.0.*Sigmoid\(\) with BinaryCrossentropy"),
        ((Dense(2, 1), Sigmoid()), BinaryCrossentropy(), xpnet.metrics.CategoricalAccuracy(),
         r"CategoricalAccuracy compares class indices, but the model ends with Sigmoid.*"
         r"BinaryAccuracy\(\)"),
    ]
    for layers, loss, accuracy, message in cases:
        model = xpnet.Model(seed=0)
        for layer in layers:
            model.add(layer)
        model.set(loss=loss, optimizer=Adam(), accuracy=accuracy)
        with pytest.raises(ValueError, match=message):
            model.train(X, y.reshape(-1, 1) if isinstance(loss, BinaryCrossentropy) else y,
                        epochs=1)


def test_regression_accuracy_checks_its_arguments():
    from xpnet.nn.metrics import RegressionAccuracy

    with pytest.raises(ValueError, match=r"RegressionAccuracy precision must be > 0, got -1; "
                                         r"pass e.g. precision=0.1"):
        RegressionAccuracy(precision=-1)
    with pytest.raises(ValueError, match=r"divisor must be > 0, got 0; pass e.g. divisor=250"):
        RegressionAccuracy(divisor=0)
    with pytest.raises(ValueError, match=r"epsilon must be > 0, got 0; pass e.g. epsilon=1e-07"):
        Adam(epsilon=0)


def test_standalone_losses_and_accuracies_check_targets_that_would_mislead():
    from xpnet.nn.metrics import BinaryAccuracy, CategoricalAccuracy

    P = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4]])
    for labels, low, high in (([0, 3], 0, 3), ([0, -1], -1, 0)):
        with pytest.raises(ValueError, match=rf"class labels must lie in \[0, 2\] for a model "
                                             rf"with 3 outputs, got labels from {low} to "
                                             rf"{high}"):
            CategoricalCrossentropy().calculate(P, np.array(labels))
    assert float(CategoricalCrossentropy().calculate(P, np.array([0, 1]))) == pytest.approx(
        -np.mean(np.log([0.7, 0.5])))
    # (2, 1) against (2,) would compare every pair: 0.5 where every answer is right
    with pytest.raises(ValueError, match=r"BinaryAccuracy: predictions have shape \(2, 1\) "
                                         r"but the targets \(2,\).*y.reshape\(-1, 1\)"):
        BinaryAccuracy().calculate(np.array([[1], [0]]), np.array([1, 0]))
    with pytest.raises(ValueError, match=r"CategoricalAccuracy: predictions have shape \(2,\) "
                                         r"but the targets \(3,\)"):
        CategoricalAccuracy().calculate(np.array([0, 1]), np.array([0, 1, 2]))
    # a leading model axis (many models) against one set of targets is fine
    many = CategoricalAccuracy().calculate(np.array([[0, 1], [1, 1]]), np.array([0, 1]))
    np.testing.assert_array_equal(np.asarray(many), [1.0, 0.5])


def test_a_callback_that_cannot_take_model_epoch_logs_is_named_before_training():
    model = classifier()
    X, y = datasets.spiral(samples=10, classes=3, seed=0)
    with pytest.raises(TypeError, match=r"each callback is called as callback\(model, epoch, "
                                        r"logs\), but <lambda> takes \(epoch\)"):
        model.train(X, y, epochs=1, callbacks=[lambda epoch: None])
    assert model.optimizer.iterations == 0  # refused before any step
    seen = []
    model.train(X, y, epochs=2, callbacks=[lambda *args: seen.append(args[1])])
    assert seen == [1, 2]


def test_training_must_be_a_bool_where_a_model_or_a_book_layer_runs_forward():
    """A truthy string or array as ``training`` would switch dropout on without a word."""
    from xpnet import book

    X, _ = xpnet.datasets.spiral(samples=5, classes=2, seed=0, backend="numpy")
    model = xpnet.Model(backend="numpy", seed=0)
    model.add(xpnet.nn.Dense(2, 3))
    model.add(xpnet.nn.Dropout(0.5))
    for bad, shown in (("False", r"the string 'False'"), (0, r"0 \(an int\)"),
                       (X, r"an object of type ndarray")):
        with pytest.raises(TypeError, match=rf"training must be True or False, got {shown}"):
            model.forward(X, bad)
    for layer in (xpnet.nn.Dense(2, 3), xpnet.nn.ReLU(), xpnet.nn.Softmax(),
                  xpnet.nn.Sigmoid(), xpnet.nn.Linear(), xpnet.nn.Dropout(0.5)):
        layer.forward(X, True)  # built: the check is not only the first call's
        for bad, shown in (("False", r"the string 'False'"), (1, r"1 \(an int\)")):
            with pytest.raises(TypeError, match=rf"training must be True or False, got "
                                                rf"{shown}"):
                layer.forward(X, bad)
    assert xpnet.nn.Dropout(0.5, seed=0).forward(X, np.False_) is X  # NumPy's bool is a bool
    book.init()
    dense = book.Layer_Dense(2, 3)
    with pytest.raises(TypeError, match=r"training must be True or False, got the string"):
        dense.forward(X, "no")
    dense.forward(X, False)
    assert dense.output.shape == (10, 3)


@pytest.mark.parametrize("make", [
    lambda: xpnet.nn.CategoricalCrossentropy(), lambda: xpnet.nn.SoftmaxCrossentropy(),
    lambda: _book_loss("Loss_CategoricalCrossentropy"),
    lambda: _book_loss("Activation_Softmax_Loss_CategoricalCrossentropy")])
def test_a_cross_entropy_backward_called_alone_checks_its_labels(make):
    """A backward pass called on its own (as the book's chapters 9-10 do) checks its labels
    as forward does, in place of a broadcasting error or a silently wrong gradient."""
    loss = make()
    p = np.full((4, 3), 1 / 3, dtype=np.float32)
    cases = ((np.array([0, 1, 2]), ValueError, r"labels of shape \(3,\) for predictions of "
              r"shape \(4, 3\)"),
             (np.array([0.0, 1.0, 2.0, 1.0]), TypeError, r"integer class labels, got "
              r"floating-point numbers"),
             (np.array([0, 1, 2, 3]), ValueError, r"class labels must lie in \[0, 2\]"),
             (np.eye(2)[[0, 1, 0, 1]], ValueError, r"(one-hot targets of shape \(4, 3\)|2 "
              r"columns but the model has 3 outputs)"))
    for y, kind, pattern in cases:
        with pytest.raises(kind, match=pattern):
            loss.backward(p, y)
    good = loss.backward(p, np.array([0, 1, 2, 1]))
    dinputs = loss.dinputs if good is None else good
    assert dinputs.shape == (4, 3)


def _book_loss(name):
    from xpnet import book

    book.init()
    return getattr(book, name)()


def test_a_layer_used_alone_refuses_inputs_of_another_backend_after_its_first():
    """Built from a NumPy input, a layer handed a PyTorch tensor would mix the two (NumPy
    weights in a torch product) and return a tensor without a word."""
    torch = pytest.importorskip("torch")
    from xpnet.nn import Dense, ReLU

    dense, relu = Dense(2, 3, seed=0), ReLU()
    relu.forward(dense.forward(np.ones((4, 2), dtype=np.float32)))
    for layer in (dense, relu):
        name = type(layer).__name__
        with pytest.raises(BackendError,
                           match=rf"the input of {name} is an array of backend 'torch'.*but "
                                 rf"this {name} layer runs on Backend\('numpy'"):
            layer.forward(torch.ones((4, 2)))
    assert dense.forward(np.ones((1, 2), dtype=np.float32)).shape == (1, 3)


def test_names_from_other_libraries_and_odd_orders_point_to_xpnets():
    from xpnet import book

    model = xpnet.Model()
    with pytest.raises(AttributeError, match=r"no attribute 'fit'; xpnet trains with "
                                             r"model\.train\(X, y"):
        model.fit(None, None)
    with pytest.raises(AttributeError, match=r"needs no finalize\(\).*xpnet\.book\.Model"):
        model.finalize()
    X, y = datasets.spiral(samples=10, classes=3, seed=0)
    history = _with_user_layer(ReLU()).train(X, y, epochs=2)
    with pytest.raises(KeyError, match=r"no metric 'val_acc'.*validation_data=.*"
                                       r"validate_every=K\); the final one is "
                                       r"history\.validation"):
        history["val_acc"]
    book.init()
    m = book.Model()
    with pytest.raises(TypeError, match=r"Model\.add got Dense, a part of xpnet\.nn, but the "
                                        r"book's Model drives the book's classes: use the "
                                        r"book's name for it, Layer_Dense\(\.\.\.\)"):
        m.add(Dense(2, 3))
    with pytest.raises(TypeError, match=r"Loss_CategoricalCrossentropy\(\.\.\.\)"):
        m.set(loss=CategoricalCrossentropy())
    for layer in (book.Layer_Dense(2, 3), book.Activation_Softmax()):
        m.add(layer)
    m.set(loss=book.Loss_CategoricalCrossentropy(), optimizer=book.Optimizer_Adam(),
          accuracy=book.Accuracy_Categorical())
    m.finalize()
    m.add(book.Layer_Dense(3, 3))  # after finalize: not linked, left out before
    with pytest.raises(RuntimeError, match=r"model\.add was called after model\.finalize\(\): "
                                           r"call model\.finalize\(\) again"):
        m.train(X, y, epochs=1)
    m.add(book.Activation_Softmax())
    m.finalize()
    assert m.predict(X).shape == (30, 3)
    loss = book.Loss_CategoricalCrossentropy()
    with pytest.raises(RuntimeError, match=r"calculate_accumulated: no batch was measured"):
        loss.calculate_accumulated()


def test_a_book_layers_backward_names_dvalues_of_the_wrong_shape():
    from xpnet import book

    book.init()
    X, _ = book.spiral_data(samples=10, classes=3)
    dense, relu = book.Layer_Dense(2, 3), book.Activation_ReLU()
    dense.forward(X)
    relu.forward(dense.output)
    for layer in (relu, dense):
        with pytest.raises(ValueError, match=rf"{type(layer).__name__}\.backward got dvalues of "
                                             r"shape \(3, 30\), but its output has shape "
                                             r"\(30, 3\)"):
            layer.backward(np.ones((3, 30), dtype=np.float32))  # transposed
    dense.backward(np.ones((30, 3), dtype=np.float32))
    assert dense.dweights.shape == (2, 3)


def test_validate_every_records_each_validation_and_callbacks_return_a_bool():
    X, y = datasets.spiral(samples=10, classes=3, seed=0)
    model = _with_user_layer(ReLU())
    history = model.train(X, y, epochs=12, log_every=3, validate_every=2,
                          validation_data=(X, y))
    assert [r["epoch"] for r in history.records if "val_acc" in r] == [2, 4, 6, 8, 10, 12]

    def returns_logs(model_, epoch, logs):
        return logs  # would have stopped training after the first epoch

    with pytest.raises(TypeError, match=r"callback returns_logs returned \{.*\(a dict\): a "
                                        r"callback returns True to stop training"):
        model.train(X, y, epochs=3, callbacks=[returns_logs])
    assert not model.train(X, y, epochs=2, callbacks=[lambda m, e, logs: np.False_]).stopped_early


def test_subclasses_of_xpnets_layers_keep_their_own_maths_and_widths():
    """A Softmax subclass with its own backward is not skipped for the joint gradient; a ReLU
    subclass may change the width (Dense after it is not refused by the ReLU's input width)."""
    class HalfGrad(Softmax):
        calls = 0

        def backward(self, dy):
            HalfGrad.calls += 1
            return super().backward(dy) / 2

    class Twice(ReLU):
        def forward(self, x, training=True):
            return self.xp.concat([super().forward(x, training)] * 2, axis=-1)

        def backward(self, dy):
            half = dy.shape[-1] // 2
            return super().backward(dy[..., :half] + dy[..., half:])

    X, y = datasets.spiral(samples=10, classes=3, seed=0)
    model = xpnet.Model(seed=0)
    for layer in (Dense(2, 8), Twice(), Dense(16, 3), HalfGrad()):
        model.add(layer)
    model.set(loss=CategoricalCrossentropy(), optimizer=Adam())
    model.train(X, y, epochs=2)
    assert HalfGrad.calls == 2
    row = next(line for line in model.summary().splitlines() if line.startswith("Twice"))
    assert row.split()[1] == "?"  # its width is not taken for its input's (n, 8)


def test_round_two_inputs_that_slipped_past_are_named():
    from xpnet import book

    X, y = datasets.spiral(samples=10, classes=3, seed=0)
    with pytest.raises(TypeError, match=r"training must be True or False, got the string"):
        Dropout(0.5).forward(X, training="False")  # a truthy string dropped half the values

    class Flattens(xpnet.layers.Layer):
        def forward(self, x, training=True):
            return x[:, 0]

        def backward(self, dy):
            return dy

    with pytest.raises(ValueError, match=r"layer 1 \(Flattens\)\.forward returned shape \(30,\) "
                                         r"for an input of shape \(30, 8\)"):
        _with_user_layer(Flattens()).train(X, y, epochs=1)

    alone = Dense(2, 3, seed=0)
    alone.forward(X.astype(np.float64))  # built in float64 from its first input
    with pytest.raises(ValueError, match=r"was built in float64 \(used on its own first\) but "
                                         r"this model computes in float32"):
        xpnet.Model().add(alone)
    plain = Dense(2, 3, seed=0)
    plain.forward(X)
    with pytest.raises(ValueError, match=r"built on its own \(with the plain engine\) but this "
                                         r"model computes with the faithful engine"):
        xpnet.Model(seed="nnfs").add(plain)

    with pytest.raises(ValueError, match=r"targets of 0 or 1"):
        BinaryCrossentropy().backward(np.full((3, 1), 0.5), np.array([[0], [1], [2]]))

    shared = Adam()
    xpnet.Model().set(loss=CategoricalCrossentropy(), optimizer=shared)
    keep = xpnet.Model()
    keep.set(loss=CategoricalCrossentropy(), optimizer=shared)  # the first was dropped: fine
    with pytest.raises(ValueError, match=r"already the optimizer of another model: the two "
                                         r"would share its step count"):
        xpnet.Model().set(loss=CategoricalCrossentropy(), optimizer=shared)

    book.init()
    with pytest.raises(TypeError, match=r"Layer_Dense is xpnet\.book's name for xpnet\.nn\.Dense"):
        xpnet.Model().add(book.Layer_Dense(2, 3))


def test_a_key_given_twice_on_the_command_line_is_refused(capsys):
    from xpnet import cli

    for argv, said in (
            (["train", "--preset", "ch14", "--set", "lr=0.1", "--set", "lr=0.2"],
             "xpnet train: error: --set lr=... is given twice (0.1, 0.2); give it once"),
            (["gradcheck", "x.py:L", "--arg", "n=1", "--arg", "n=2"],
             "xpnet gradcheck: error: --arg n=... is given twice (1, 2); give it once"),
            # a list option twice read as both lists, but argparse kept only the last
            (["study", "samples", "--train-samples", "30", "--train-samples", "100,300"],
             "xpnet study: error: --train-samples is given twice; give every value once, "
             "comma-separated: --train-samples 30,100,300"),
            (["study", "lr", "--lr", "0.1", "--lr", "0.2"],
             "xpnet study: error: --lr is given twice; give every value once, "
             "comma-separated: --lr 0.1,0.2")):
        with pytest.raises(SystemExit) as info:
            cli.main(argv)
        assert info.value.code == 2
        assert capsys.readouterr().err.splitlines()[-1] == said


def test_a_layer_setting_changed_after_construction_is_checked_and_used():
    """Dropout's rate was cached as its keep share (a new rate changed nothing); a negative
    L2 strength switched the penalty off without a word."""
    dense, drop = Dense(2, 3), Dropout(0.1)
    with pytest.raises(ValueError, match=r"Dense weight_l2 must be >= 0 .*got -5"):
        dense.weight_l2 = -5
    with pytest.raises(ValueError, match=r"Dropout rate must be in \[0, 1\), got 1\.5"):
        drop.rate = 1.5
    assert dense.weight_l2 == 0.0 and drop.rate == 0.1
    drop.rate = 0.5
    assert drop.keep == 0.5 and drop.get_config() == {"rate": 0.5}
    x = np.ones((400, 50), dtype=np.float32)
    assert 0.4 < float((drop.forward(x) == 0).mean()) < 0.6


# -- round three: standalone parts handed what a model would have refused ---------------------

P3 = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4]], dtype=np.float32)


@pytest.mark.parametrize("make", [CategoricalCrossentropy, SoftmaxCrossentropy, BinaryCrossentropy,
                                  MeanSquaredError, MeanAbsoluteError])
@pytest.mark.parametrize("method", ["calculate", "forward", "backward"])
@pytest.mark.parametrize("targets", [[0, 1], None, 1])
def test_a_standalone_loss_given_targets_that_are_no_array_names_the_conversion(make, method,
                                                                               targets):
    with pytest.raises(BackendError, match=r"expected an array .*got "
                                           r"(list|NoneType|int)\. Convert it first, e\.g\. "
                                           r".*numpy\.asarray\(labels\)"):
        getattr(make(), method)(P3, targets)


@pytest.mark.parametrize("method", ["calculate", "forward", "backward"])
@pytest.mark.parametrize(("y_pred", "row"), [
    (-P3, r"row 0 is \[-0\.7, -0\.2, -0\.1\] \(it sums to -1; 2 of 2 rows"),
    (P3 * 3, r"row 0 is \[2\.1, 0\.6, 0\.3\] \(it sums to 3; 2 of 2 rows"),
    (np.array([[2.0, -1.0, 0.5], [0.2, 0.3, 0.5]]), r"row 0 is \[2\.0, -1\.0, 0\.5\] "
                                                    r"\(it sums to 1\.5; 1 of 2 rows"),
])
def test_categorical_crossentropy_refuses_predictions_that_are_not_probabilities(method, y_pred,
                                                                                 row):
    """Logits or scores were clipped to [1e-7, 1 - 1e-7] into a plausible, wrong loss."""
    with pytest.raises(ValueError, match=r"^CategoricalCrossentropy takes class probabilities, "
                                         r"a Softmax's output \(each row in \[0, 1\], summing "
                                         rf"to 1\), but in y_pred, {row}.*Apply Softmax first "
                                         r".*or give the raw outputs to SoftmaxCrossentropy"):
        getattr(CategoricalCrossentropy(), method)(y_pred, np.array([0, 1]))


def test_binary_crossentropy_refuses_outputs_beyond_0_and_1_and_probabilities_pass():
    with pytest.raises(ValueError, match=r"^BinaryCrossentropy takes a probability per output, "
                                         r"a Sigmoid's output \(in \[0, 1\]\), but in y_pred, "
                                         r"row 1 is \[2\.5\] \(1 of 2 rows are like it\)\. "
                                         r"Apply Sigmoid first"):
        BinaryCrossentropy().calculate(np.array([[0.5], [2.5]]), np.array([[1.0], [0.0]]))
    # probabilities pass, and the book's numbers come out: -log(0.7)
    loss = CategoricalCrossentropy()
    assert float(loss.calculate(P3[:1], np.array([0]))) == pytest.approx(-math.log(0.7), 1e-6)
    # the logits SoftmaxCrossentropy takes are any numbers (a NaN logit gives a NaN loss)
    assert float(SoftmaxCrossentropy().calculate(np.array([[2.0, -1.0, 0.5]]),
                                                 np.array([0]))) == pytest.approx(0.2413, 1e-3)
    assert math.isnan(float(SoftmaxCrossentropy().calculate(np.array([[np.nan, 0.0]]),
                                                            np.array([0]))))


def test_a_diverged_networks_nan_probabilities_are_a_nan_loss_not_logits():
    """A diverged model's softmax gives NaN rows: its loss is NaN (the lab counts such runs),
    not the 'takes class probabilities' error, which the finite rows still decide."""
    nan_rows = np.array([[np.nan] * 3, [0.2, 0.3, 0.5]])
    assert math.isnan(float(CategoricalCrossentropy().calculate(nan_rows, np.array([0, 2]))))
    assert math.isnan(float(BinaryCrossentropy().calculate(np.array([[np.nan], [0.5]]),
                                                           np.array([[1.0], [0.0]]))))
    with pytest.raises(ValueError, match=r"but in y_pred, row 1 is \[2\.0, -1\.0, 0\.5\] "
                                         r"\(it sums to 1\.5; 1 of 2 rows"):
        CategoricalCrossentropy().calculate(np.array([[np.nan] * 3, [2.0, -1.0, 0.5]]),
                                            np.array([0, 2]))


def test_losses_alone_check_labels_in_forward_and_predictions_shaped_as_a_column():
    """forward alone took labels out of range to NumPy's IndexError; a regression loss's
    backward of a vector ended in 'not enough values to unpack'."""
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 2\] for a model with 3 "
                                         r"outputs, got labels from 3 to 4"):
        CategoricalCrossentropy().forward(P3, np.array([3, 4]))
    for make in (BinaryCrossentropy, MeanSquaredError, MeanAbsoluteError):
        for method in ("calculate", "backward"):
            with pytest.raises(ValueError, match=rf"^{make.__name__} expects predictions of "
                                                 r"shape \(n_samples, n_outputs\), got shape "
                                                 r"\(4,\); one output per sample is a column: "
                                                 r"y_pred\[:, None\]"):
                getattr(make(), method)(np.full(4, 0.5), np.ones(4))


@pytest.mark.parametrize("make", [lambda: Dense(2, 3, seed=0), ReLU, Softmax, Sigmoid, Linear,
                                  lambda: Dropout(0.5, seed=0)])
@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.float16, np.complex64])
def test_a_layer_used_alone_takes_float32_or_float64_inputs(make, dtype):
    """An integer input came out float64 from Dense, integer from ReLU and Linear; complex
    passed through."""
    layer = make()
    with pytest.raises(TypeError, match=rf"^{type(layer).__name__} takes floating-point inputs "
                                        rf"\(float32 or float64\), got an array of dtype "
                                        rf"{np.dtype(dtype).name}; convert it first, e\.g\. "
                                        r"x\.astype\(np\.float32\)"):
        layer.forward(np.ones((4, 2), dtype=dtype))
    assert make().forward(np.ones((4, 2), dtype=np.float64)).dtype == np.float64


def test_dense_backward_names_a_gradient_not_shaped_like_its_output():
    """It ended in NumPy's 'matmul: Input operand 1 has a mismatch in its core dimension 0'
    (and a (1, 3) row would have been taken for the whole batch's)."""
    layer = Dense(2, 3, seed=0)
    layer.forward(np.ones((4, 2), dtype=np.float32))
    for shape in ((4, 4), (3, 4), (1, 3), (3,)):
        with pytest.raises(ValueError, match=rf"^Dense\(2, 3\)\.backward expected dy of shape "
                                             rf"\(4, 3\), the gradient of each output of its "
                                             rf"last forward pass, got shape "
                                             rf"{re.escape(str(shape))}\.$"):
            layer.backward(np.ones(shape, dtype=np.float32))
    assert layer.backward(np.ones((4, 3), dtype=np.float32)).shape == (4, 2)


@pytest.mark.parametrize("make", [ReLU, Softmax, Sigmoid, Linear, lambda: Dropout(0.5, seed=0)])
def test_every_backward_names_a_gradient_not_shaped_like_its_output(make):
    """Dense's check, now every layer's: a (1, 3) row or a (3,) vector was broadcast into
    the whole batch's gradient without a word (Linear handed back any dy at all), and a
    (5, 3) one ended in NumPy's 'operands could not be broadcast together'."""
    layer = make()
    name = type(layer).__name__
    layer.forward(np.ones((4, 3), dtype=np.float32))
    for shape in ((1, 3), (3,), (4, 1), (5, 3)):
        with pytest.raises(ValueError, match=rf"^{name}\.backward expected dy of shape "
                                             rf"\(4, 3\), the gradient of each output of its "
                                             rf"last forward pass, got shape "
                                             rf"{re.escape(str(shape))}\.$"):
            layer.backward(np.ones(shape, dtype=np.float32))
    for dy in ([[1.0] * 3] * 4, None):  # a list was broadcast by NumPy, None an AttributeError
        with pytest.raises(TypeError, match=rf"^{name}\.backward expected dy of shape \(4, 3\)"
                                            r".* got .*; pass an array .*np\.asarray\(dy, "):
            layer.backward(dy)
    dx = layer.backward(np.full((4, 3), 2.0, dtype=np.float32))
    assert dx.shape == (4, 3) and dx.dtype == np.float32


def test_linear_and_dropout_backward_before_forward_is_named():
    """Linear and Dropout now keep their output for the check above: a backward before any
    forward says so, as the other layers' do."""
    for layer in (Linear(), Dropout(0.5)):
        with pytest.raises(AttributeError, match=rf"^{type(layer).__name__}\.backward was "
                                                 r"called before forward: run forward\(x\)"):
            layer.backward(np.ones((4, 3), dtype=np.float32))


def test_odd_arguments_that_slipped_past_round_two_are_named(capsys):
    """callbacks='cb' was walked letter by letter; gradcheck's inputs=() and check_many({})
    ended in an IndexError and an AssertionError; spiral(iid=1) passed; the book's batched
    train took a list X to an AttributeError and a too-short y to a 0-row batch."""
    with pytest.raises(TypeError, match=r"callbacks must be a list of functions callback\(model, "
                                        r"epoch, logs\), got the string 'cb'; e\.g\. "
                                        r"callbacks=\[my_callback\]"):
        classifier().train(*datasets.spiral(5, 3), callbacks="cb")
    with pytest.raises(ValueError, match=r"^a layer is checked on inputs \(x,\); got 0 arrays: "
                                         r"pass inputs=\(x,\)\.$"):
        gradcheck.check(Dense(2, 3), inputs=())
    for components in ({}, [], {"Dense": 5}):
        with pytest.raises(TypeError, match=r"^check_many takes a non-empty dict of label: "
                                            r"function making a component, got "):
            gradcheck.check_many(components)
    with pytest.raises(TypeError, match=r"^iid must be True or False, got 1 \(an int\)\.$"):
        datasets.spiral(5, 3, iid=1)

    from xpnet import book

    book.init()
    X, y = datasets.spiral(10, 3)
    net = book_classifier()
    net.train(X.tolist(), y.tolist(), epochs=1, batch_size=10)
    assert capsys.readouterr().out.count("step: ") == 3
    with pytest.raises(ValueError, match=r"X has 30 samples but y has shape \(10,\)"):
        net.train(X, y[:10], epochs=1, batch_size=10)


@pytest.mark.parametrize("make", [CategoricalCrossentropy, SoftmaxCrossentropy,
                                  BinaryCrossentropy, MeanSquaredError, MeanAbsoluteError])
@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.float16, np.complex64])
def test_a_loss_on_its_own_names_predictions_that_are_not_float32_or_float64(make, dtype):
    """Integer predictions came out float64 (cross-entropy's backward with a divide warning),
    float16 ones gave a float16 loss, complex ones a complex loss (a ComplexWarning at
    most); the layers refused all of them already."""
    loss = make()
    name = type(loss).__name__
    y_pred = np.ones((4, 1) if "Cross" not in name or "Binary" in name else (4, 3), dtype=dtype)
    y_true = np.zeros(4, dtype=np.int64) if y_pred.shape[1] == 3 else np.ones((4, 1))
    for call in (loss.calculate, loss.backward):
        with pytest.raises(TypeError, match=rf"^{name} takes floating-point predictions "
                                            rf"\(float32 or float64\), got an array of dtype "
                                            rf"{np.dtype(dtype)}; convert it first, e.g. "
                                            r"y_pred\.astype\(np\.float32\)"):
            call(y_pred, y_true)
        loss = make()


@pytest.mark.parametrize("make", [BinaryCrossentropy, MeanSquaredError, MeanAbsoluteError])
def test_regression_targets_that_are_no_real_numbers_are_named(make):
    """Complex targets lost their imaginary part with a ComplexWarning; strings ended in
    NumPy's UFuncTypeError or 'could not convert string to float'."""
    y_pred = np.full((4, 1), 0.5, dtype=np.float32)
    name = make.__name__
    for y in (np.ones((4, 1), dtype=complex), np.array([["1"]] * 4)):
        for call in ("calculate", "backward", "forward"):
            with pytest.raises(TypeError, match=rf"^{name} expects targets of real numbers, "
                                                rf"got an array of dtype {y.dtype}; convert "
                                                r"them first, e.g. y\.astype\(np\.float32\)\.$"):
                getattr(make(), call)(y_pred, y)
    assert float(make().calculate(y_pred, np.ones((4, 1), dtype=np.int64))) > 0


def test_regression_losses_backward_takes_a_leading_model_axis_as_calculate_does():
    """calculate took (copies, n, k) predictions; backward ended in 'too many values to
    unpack (expected 2)'."""
    y_pred = np.full((2, 4, 1), 0.25, dtype=np.float32)
    y = np.ones((2, 4, 1), dtype=np.float32)
    assert MeanSquaredError().calculate(y_pred, y).shape == (2,)
    dx = MeanSquaredError().backward(y_pred, y)
    np.testing.assert_allclose(dx, np.full((2, 4, 1), -2 * 0.75 / 4), rtol=1e-6)
    np.testing.assert_allclose(MeanAbsoluteError().backward(y_pred, y), np.full((2, 4, 1), -0.25))
    assert BinaryCrossentropy().backward(y_pred, y).shape == (2, 4, 1)


@pytest.mark.parametrize("make", [ReLU, Softmax, Sigmoid, Linear, lambda: Dense(1, 2)])
def test_a_layer_given_a_zero_d_array_says_so(make):
    """Softmax (and SoftmaxCrossentropy) ended in 'IndexError: tuple index out of range';
    the others handed a 0-d array back."""
    layer = make()
    with pytest.raises(ValueError, match=rf"^{type(layer).__name__} takes an array of samples "
                                         r"\(n_samples, n_features\), got a 0-d array \(a single "
                                         r"number\); .* x\.reshape\(1, 1\)\.$"):
        layer.forward(np.float32(0.5))
    with pytest.raises(ValueError, match=r"^Softmax takes an array of samples"):
        SoftmaxCrossentropy().calculate(np.float32(0.5), np.int64(0))



def test_a_layer_checks_the_dtype_again_when_it_changes():
    """The check ran once per input type: after float32 arrays, an int64 array of the same
    type went through, Dense's output float64 and ReLU's int64."""
    for layer in (Dense(2, 3, seed=0), ReLU()):
        width = 2 if isinstance(layer, Dense) else 3
        assert layer.forward(np.ones((4, width), dtype=np.float32)).dtype == np.float32
        with pytest.raises(TypeError, match=rf"^{type(layer).__name__} takes floating-point "
                                            r"inputs \(float32 or float64\), got an array of "
                                            r"dtype int64; convert it first, e\.g\. "
                                            r"x\.astype\(np\.float32\) \(Model\.train, "
                                            r"evaluate and predict convert"):
            layer.forward(np.ones((4, width), dtype=np.int64))
        assert layer.forward(np.ones((4, width), dtype=np.float64)).dtype == np.float64

def _small_classifier(**optimizer):
    model = xpnet.Model(seed=0)
    for layer in (Dense(2, 8), ReLU(), Dense(8, 3), Softmax()):
        model.add(layer)
    model.set(loss=CategoricalCrossentropy(), optimizer=Adam(learning_rate=0.05, **optimizer))
    return model


@pytest.mark.parametrize(("change", "kind", "said"), [
    (lambda m: setattr(m, "optimizer", None), TypeError,
     r"it set model\.optimizer to None \(a NoneType\), but training needs an xpnet Optimizer: "
     r"set one, e\.g\. model\.optimizer = xpnet\.nn\.Adam\(learning_rate=0\.01\)\."),
    (lambda m: setattr(m, "optimizer", Adam), TypeError, r"model\.optimizer to <class "),
    (lambda m: setattr(m, "loss", "cce"), TypeError,
     r"it set model\.loss to the string 'cce', but training needs an xpnet Loss"),
    (lambda m: setattr(m, "accuracy", None), TypeError, r"model\.accuracy to None"),
    (lambda m: setattr(m, "loss", SoftmaxCrossentropy()), ValueError,
     r"SoftmaxCrossentropy applies the softmax itself, but the model already ends with "
     r"Softmax\(\)"),
    (lambda m: m.layers[0].params.__setitem__("W", np.zeros((3, 8), np.float32)), TypeError,
     r"it set model\.layers\[0\]\.params\['W'\] \(Dense\[0\]\) to an object of type ndarray "
     r"with shape \(3, 8\) of dtype float32, but training needs an array \(ndarray\) of shape "
     r"\(2, 8\) and dtype float32, as when it started\. Assign one of that shape and dtype "
     r"\(e\.g\. new\.astype\(p\.dtype\) for p = layer\.params\['W'\]\)"),
    (lambda m: m.layers[0].params.__setitem__("W", m.layers[0].params["W"].tolist()),
     TypeError, r"params\['W'\] \(Dense\[0\]\) to \[\[.*\(a list\), but training needs an "
                r"array"),
    (lambda m: m.layers[2].params.__setitem__("b", m.layers[2].params["b"].astype(int)),
     TypeError, r"params\['b'\] \(Dense\[2\]\) to .* of dtype int64, but .* dtype float32"),
    (lambda m: m.layers[0].params.pop("W"), TypeError,
     r"it set model\.layers\[0\]\.params \(Dense\[0\]\) to a dict of \['b'\], but training "
     r"needs a dict of its arrays \['W', 'b'\]\."),
    (lambda m: m.layers.pop(), ValueError,
     r"it changed model\.layers from 4 layers to 3; training keeps the layers it started "
     r"with\. Build another model \(model\.add\) between runs instead\."),
    (lambda m: m.layers.__setitem__(1, "relu"), ValueError,
     r"it replaced model\.layers\[1\] \(ReLU\[1\]\) with the string 'relu'"),
    (lambda m: setattr(m.optimizer, "iterations", -1), ValueError,
     r"model\.optimizer\.iterations must be an integer >= 0, got -1"),
])
@pytest.mark.parametrize("batch_size", [None, 16])
def test_a_callback_that_leaves_the_model_untrainable_is_named_with_its_epoch(
        change, kind, said, batch_size):
    """Each ended in the next epoch: an AssertionError (optimizer or loss None), an
    AttributeError ('str' object has no attribute 'backward_through'), NumPy's matmul
    mismatch, 'zip() argument 2 is longer than argument 1', a KeyError; integer weights and
    iterations = -1 trained on (the latter into a NaN 'divergence')."""
    X, y = datasets.spiral(samples=20, classes=3, seed=0)
    model = _small_classifier()
    epochs = []

    def meddle(model_, epoch, logs):
        epochs.append(epoch)
        if epoch == 2:
            change(model_)

    with pytest.raises(kind, match=r"^callback meddle left the model unable to train after "
                                   rf"epoch 2: (it .*)?{said}.* Return True from the callback "
                                   r"to stop training instead\.$"):
        model.train(X, y, epochs=5, batch_size=batch_size, callbacks=[meddle])
    assert epochs == [1, 2]


def test_callbacks_that_change_what_training_allows_go_on_training():
    """What a callback may do: set another optimizer or loss of the same kind, new weights of
    the same shape and dtype, a learning rate; the run follows them."""
    X, y = datasets.spiral(samples=20, classes=3, seed=0)
    model = _small_classifier()
    seen = []

    def schedule(model_, epoch, logs):
        seen.append(epoch)
        if epoch == 1:
            model_.layers[0].params["W"] = model_.layers[0].params["W"] * 0.5
            model_.optimizer.learning_rate = 0.01
        if epoch == 2:
            model_.optimizer = SGD(learning_rate=0.5)
            model_.loss = CategoricalCrossentropy()

    history = model.train(X, y, epochs=4, callbacks=[schedule])
    assert seen == [1, 2, 3, 4] and isinstance(model.optimizer, SGD)
    assert model.optimizer.iterations == 2
    assert all(math.isfinite(r["loss"]) for r in history.records)


def test_an_error_raised_in_a_callback_names_it():
    X, y = datasets.spiral(samples=10, classes=3, seed=0)

    def broken(model_, epoch, logs):
        return logs["val_acc"]

    with pytest.raises(KeyError) as info:
        _small_classifier().train(X, y, epochs=3, callbacks=[broken])
    assert "(raised in callback broken after epoch 1)" in getattr(info.value, "__notes__", [])



def test_host_data_that_is_no_array_and_huge_unsigned_labels_are_named():
    """None, a dict or a file name were 'got None (a NoneType) of dtype object'; uint64
    labels above int64's range wrapped to negative ones ('got labels from
    -9223372036854775808'); a list given to a layer was to be converted with
    '.asarray(Dense)'."""
    X, y = datasets.spiral(samples=10, classes=3, seed=0)
    for data, shown in ((None, r"None \(a NoneType\)"), ("data.csv", "the string 'data.csv'")):
        with pytest.raises(TypeError, match=rf"^X must hold real numbers, got {shown}; convert "
                                            r"it first, e\.g\. np\.asarray\(X, "):
            _small_classifier().train(data, y)
    with pytest.raises(TypeError, match=r"got an object of type ndarray with shape \(30, 2\) of "
                                        r"dtype complex128; convert"):
        _small_classifier().train(X.astype(complex), y)
    huge = y.astype(np.uint64) + np.uint64(2**63)
    with pytest.raises(ValueError, match=r"^y has labels up to 9223372036854775810, beyond "
                                         r"int64's range: cast to int64 they would turn "
                                         r"negative\. Number the classes 0, 1, \.\.\."):
        _small_classifier().train(X, huge)
    with pytest.raises(BackendError, match=r"the input of ReLU must be an array of backend "
                                           r"'numpy', got list\. .* convert it with "
                                           r"xpnet\.backend\.resolve\('numpy'\)\.asarray\(x\)\.$"):
        relu = ReLU()
        relu.forward(np.ones((2, 2), dtype=np.float32))
        relu.forward([[1.0, 2.0]])


def test_a_users_loss_whose_backward_returns_no_gradient_of_the_predictions_is_named():
    """The last layer's backward took the blame ('Linear.backward expected dy of shape ...'),
    or, before that check, NumPy broadcast a (3,) row into the whole batch's gradient."""
    X, _ = datasets.spiral(samples=10, classes=3, seed=0)

    class RowLoss(MeanSquaredError):
        def backward(self, y_pred, y_true):
            return super().backward(y_pred, y_true).sum(axis=0)

    class Forgetful(MeanSquaredError):
        def backward(self, y_pred, y_true):
            super().backward(y_pred, y_true)

    def model(loss):
        net = xpnet.Model(seed=0)
        net.add(Dense(2, 3))
        net.add(Linear())
        net.set(loss=loss, optimizer=SGD())
        return net

    targets = np.zeros((30, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"^RowLoss\.backward returned a gradient of shape "
                                         r"\(3,\) for predictions of shape \(30, 3\): a loss's "
                                         r"backward returns the gradient of the data loss with "
                                         r"respect to each prediction, an array of y_pred's "
                                         r"shape\.$"):
        model(RowLoss()).train(X, targets)
    with pytest.raises(TypeError, match=r"^Forgetful\.backward returned None \(add 'return dx' "
                                        r"at its end\) for predictions of shape \(30, 3\)"):
        model(Forgetful()).train(X, targets)


def test_gradcheck_inputs_with_no_values_are_named():
    """An empty x ended in NumPy's 'zero-size array to reduction operation maximum' (NaN
    inputs are reported, in a failed check's note)."""
    with pytest.raises(ValueError, match=r"^inputs\[0\] has shape \(0, 3\), no values to check "
                                         r"a gradient at: pass at least one sample"):
        gradcheck.check(ReLU(), inputs=(np.zeros((0, 3)),))
    with pytest.raises(ValueError, match=r"^inputs\[1\] has shape \(0, 1\)"):
        gradcheck.check(MeanSquaredError(), inputs=(np.ones((2, 1)), np.zeros((0, 1))))
    assert gradcheck.check(ReLU(), inputs=(np.array([[0.5, -1.5, 2.0]]),)).passed


def test_an_optimizer_names_a_gradient_not_shaped_like_its_parameter():
    """NumPy broadcast it into the update ('operands could not be broadcast together', or a
    (1, n) row silently applied to every row of W); a list ended in 'can't multiply
    sequence by non-int of type float'."""
    layer = Dense(2, 3, seed=0)
    layer.forward(np.ones((4, 2), dtype=np.float32))
    layer.backward(np.ones((4, 3), dtype=np.float32))
    W = layer.params["W"].copy()
    for grad, kind, got in ((np.ones((1, 3), np.float32), ValueError, r"has shape \(1, 3\)"),
                            ([[1.0] * 3] * 2, TypeError, r"is \[\[1\.0, .*\(a list\)")):
        layer.grads["W"] = grad
        with pytest.raises(kind, match=rf"^Adam\.update_params: the gradient of Dense's 'W' "
                                       rf"{got}, but the parameter has shape \(2, 3\): a "
                                       r"layer's backward sets grads\['W'\] to an array of its "
                                       r"parameter's shape"):
            Adam().update_params(layer)
        np.testing.assert_array_equal(layer.params["W"], W)  # untouched


def test_a_torch_tensor_that_requires_grad_trains_as_plain_data():
    """Autograd recorded every step on it, and reading a metric warned ('Converting a tensor
    with requires_grad=True to a scalar'), an error under filterwarnings = error."""
    torch = pytest.importorskip("torch")
    X, y = datasets.spiral(samples=10, classes=3, seed=0)
    model = xpnet.Model(backend="torch", seed=0)
    for layer in (Dense(2, 8), ReLU(), Dense(8, 3), Softmax()):
        model.add(layer)
    model.set(loss=CategoricalCrossentropy(), optimizer=Adam(learning_rate=0.05))
    Xt = torch.tensor(X, requires_grad=True)
    history = model.train(Xt, torch.tensor(y), epochs=2)
    assert math.isfinite(history.records[-1]["loss"])
    assert not model.predict(Xt).requires_grad and Xt.grad is None


def test_a_backward_given_another_backends_dy_names_it():
    """A NumPy dy given to a PyTorch layer ended in torch's own message: "to() received an
    invalid combination of arguments", "matmul(): argument 'other' (position 2) must be
    Tensor, not numpy.ndarray"."""
    torch = pytest.importorskip("torch")
    for layer in (ReLU(), Dense(3, 2, seed=0)):
        out = layer.forward(torch.ones(4, 3))
        name = re.escape("Dense(3, 2)" if isinstance(layer, Dense) else "ReLU")
        with pytest.raises(BackendError, match=rf"^the dy given to {name}\.backward is an array "
                                               rf"of backend 'numpy' .* but this "
                                               rf"{type(layer).__name__} layer runs on "
                                               r"Backend\('torch'"):
            layer.backward(np.ones(tuple(out.shape), dtype=np.float32))
        assert tuple(layer.backward(torch.ones_like(out)).shape) == (4, 3)
