"""gradcheck: passes every built-in on every backend, fails wrong backwards, never fails on a
kink, and its command line exits 0 / 1 / 2."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from _util import host
from xpnet import gradcheck
from xpnet.backend import backend_of
from xpnet.bench import nnfs_book as nb
from xpnet.cli import main
from xpnet.nn.activations import ReLU
from xpnet.nn.layers import Dense, Dropout
from xpnet.nn.losses import MeanAbsoluteError


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_builtin_passes_on_every_backend(backend, dtype):
    report = gradcheck.check_many(backend=backend, dtype=dtype)
    assert report.passed, str(report)
    names = {c.component for c in report.checks}
    assert set(gradcheck.builtin_components()) == names
    params = {(c.component, c.parameter) for c in report.checks}
    assert {("Dense[L1+L2]", "W"), ("Dense[L1+L2]", "b"), ("Dense", "x")} <= params


@pytest.mark.parametrize("mode", ["directional", "sampled"])
def test_cheap_modes_pass_the_builtins(mode):
    assert gradcheck.check_many(mode=mode, samples=3).passed


class WrongWeightGradient(Dense):
    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["W"] = self.grads["W"] * 1.01
        return dx


class ForgetsL2(Dense):
    """Leaves the penalty's gradient out of dW: the check must notice."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["W"] = self.grads["W"] - 2 * self.weight_l2 * self.W
        return dx


@pytest.mark.parametrize("layer", [WrongWeightGradient(3, 2), ForgetsL2(3, 2, weight_l2=0.5)])
def test_a_wrong_backward_fails_and_is_named(layer):
    report = gradcheck.check(layer)
    assert not report.passed
    assert [(c.component, c.parameter) for c in report.failures] == [(type(layer).__name__, "W")]
    worst = report.failures[0]
    assert worst.max_rel_error > 1e-3
    assert worst.numeric != pytest.approx(worst.analytic, rel=1e-6)
    assert f"1 FAILED: {type(layer).__name__}.W" in str(report)


def test_kinks_are_moved_or_reported_never_failed():
    # ReLU exactly at its kink, L1 with weights exactly 0, MAE with y_hat == y
    assert gradcheck.check(ReLU(), (np.array([[0.0, 1.0, -1.0, 0.0]]),)).passed
    dense = Dense(3, 2, weight_l1=0.1)
    report = gradcheck.check(dense)
    assert report.passed
    y = np.array([[0.5, -1.0], [2.0, 0.0]])
    assert gradcheck.check(MeanAbsoluteError(), (y.copy(), y)).passed


def test_a_directional_check_through_a_kink_fails_and_says_to_check_in_full_mode():
    report = gradcheck.check(ReLU(), (np.array([[0.0, 1.0, -1.0, 0.0]]),), mode="directional")
    assert not report.passed
    lines = str(report).splitlines()
    assert lines[2].endswith("FAIL (note 1)") and "non-differentiable here" not in lines[2]
    note = " ".join(line.strip() for line in lines[3:5])
    assert note.startswith("note 1: ReLU.x: the random direction touches an entry on a kink")
    assert "mode='full'" in note


def test_dropout_is_checked_with_its_mask_frozen(backend):
    report = gradcheck.check(Dropout(0.5), backend=backend)
    assert report.passed and report.checks[0].checked == 20


class Scale:
    """A pure layer, ``y = x * w`` (``w`` one row), that keeps every array it is given and
    checks on each call that none has changed since: gradcheck must hand it new arrays, never
    write into old ones (JAX arrays cannot be written into)."""

    n_in = 3

    def __init__(self, w):
        self.params, self.grads, self.seen = {"w": w}, {}, []

    def forward(self, x, training=True):
        for a, snapshot in self.seen:
            np.testing.assert_array_equal(host(a), snapshot)
        w = self.params["w"]
        self.seen.extend([(x, host(x).copy()), (w, host(w).copy())])
        self.x = x
        return x * w

    def backward(self, dy):
        xp = backend_of(dy).xp
        self.grads["w"] = xp.sum(self.x * dy, axis=0, keepdims=True)
        return dy * self.params["w"]


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_perturbations_replace_arrays_and_never_write_into_them(backend, mode):
    xp = backend.xp
    w = backend.asarray([[0.5, -2.0, 1.5]], dtype=xp.float64)
    x = backend.asarray([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], dtype=xp.float64)
    layer = Scale(w)
    report = gradcheck.check(layer, (x,), backend=backend, mode=mode)
    assert report.passed, str(report)
    checked = [6, 3] if mode == "full" else [1, 1]
    assert [(c.parameter, c.checked) for c in report.checks] == list(zip("xw", checked,
                                                                          strict=True))
    assert max(c.max_rel_error for c in report.checks) < 1e-7  # central differences: ~1e-8
    # the component's own arrays are untouched
    assert layer.params["w"] is w
    np.testing.assert_array_equal(host(w), [[0.5, -2.0, 1.5]])
    np.testing.assert_array_equal(host(x), [[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])


def test_cli_checks_the_builtins_on_jax():
    pytest.importorskip("jax")
    code, text = run("Dense[L1+L2]", "Dropout", "SoftmaxCrossentropy", "--backend", "jax")
    assert code == 0, text
    assert "5 gradients checked on jax (float64, full): all passed" in text


def test_book_style_components_are_adapted():
    y_pred = np.array([[1.0, 2.0], [0.5, -1.0]])
    y_true = np.array([[0.0, 0.0], [1.0, 1.0]])
    mae = gradcheck.check(nb.Loss_MeanAbsoluteError(), (y_pred, y_true))
    assert not mae.passed  # the book's sign error
    failure = mae.failures[0]
    assert failure.numeric == pytest.approx(-failure.analytic)
    layer = nb.Layer_Dense(3, 4, weight_regularizer_l1=0.01, bias_regularizer_l2=0.1)
    assert gradcheck.check(layer).passed
    assert gradcheck.check(nb.Activation_Softmax()).passed


def test_report_json_and_bad_arguments():
    report = gradcheck.check(Dense(2, 2))
    data = json.loads(report.to_json())
    assert data["passed"] is True and data["backend"] == "numpy"
    assert {c["parameter"] for c in data["checks"]} == {"x", "W", "b"}
    with pytest.raises(ValueError, match="mode must be one of"):
        gradcheck.check(Dense(2, 2), mode="half")
    with pytest.raises(ValueError, match=r"a loss is checked on inputs \(y_pred, y_true\)"):
        gradcheck.check(MeanAbsoluteError(), (np.ones((2, 2)),))


def run(*argv):
    out = io.StringIO()
    code = main(["gradcheck", *argv], out=out)
    return code, out.getvalue()


def test_cli_all_builtins_pass_with_a_table_and_summary():
    code, text = run()
    assert code == 0
    assert "16 gradients checked on numpy (float64, full): all passed" in text
    assert "Dense[L1+L2]" in text and "SoftmaxCrossentropy" in text


def test_cli_fails_with_exit_1_naming_the_component(tmp_path):
    layer_file = tmp_path / "mylayer.py"
    layer_file.write_text(textwrap.dedent("""
        import numpy as np

        class Doubled:
            '''y = 2x, but backward forgets the 2.'''
            def forward(self, inputs, training=True):
                self.inputs = inputs
                return 2 * inputs

            def backward(self, dvalues):
                return dvalues
    """))
    code, text = run(f"{layer_file}:Doubled", "--json")
    assert code == 1
    report = json.loads(text)
    assert report["passed"] is False
    assert report["checks"][0]["component"].endswith("mylayer.py:Doubled")


@pytest.mark.parametrize("argv", [["nope"], ["missing_file.py:X"], ["xpnet.model:History"],
                                  ["xpnet.layers:Dense", "--arg", "n_in=0"]])
def test_cli_bad_usage_exits_2(argv, capsys):
    code, _ = run(*argv)
    assert code == 2
    assert "xpnet gradcheck: error:" in capsys.readouterr().err


def test_cli_user_component_with_arguments_and_backend_options():
    code, text = run("xpnet.layers:Dense", "--arg", "n_in=2", "--arg", "n_out=3",
                     "--arg", "weight_l2=0.1", "--dtype", "float32", "--mode", "sampled")
    assert code == 0, text
    assert "(float32, sampled): all passed" in text


def test_a_layer_drawing_from_a_global_stream_fails_with_the_reason():
    class GlobalDropout:
        def forward(self, inputs, training=True):
            self.mask = np.random.default_rng().binomial(1, 0.5, inputs.shape) / 0.5
            return inputs * self.mask

        def backward(self, dvalues):
            return dvalues * self.mask

    report = gradcheck.check(GlobalDropout(), (np.ones((3, 4)),))
    assert not report.passed
    assert "draws random numbers" in report.checks[0].note
    assert "draws random numbers" in str(report)


def test_cli_rereads_a_user_file_edited_within_the_same_second(tmp_path):
    """Fix-and-recheck: the corrected file must be checked, not a cached compilation."""
    path = tmp_path / "mae_user.py"
    path.write_text(Path(nb.__file__).read_text())
    spec = f"{path}:Loss_MeanAbsoluteError"
    assert run(spec)[0] == 1
    path.write_text(path.read_text().replace("np.sign(y_true - dvalues)",
                                             "np.sign(dvalues - y_true)"))
    assert run(spec)[0] == 0


def test_a_report_with_nothing_compared_does_not_pass():
    report = gradcheck.Report()
    assert not report.passed
    assert str(report).endswith("0 gradients checked on numpy (float64, full): nothing was "
                                "compared, so nothing passed")


def test_inputs_must_be_a_tuple_and_may_be_nested_lists():
    with pytest.raises(TypeError, match=r"inputs must be a tuple of arrays, \(x,\) for a layer "
                                        r"or \(y_pred, y_true\) for a loss, got an object of type "
                                        r"ndarray with shape \(4, 5\); e\.g\. inputs=\(x,\)"):
        gradcheck.check(Dense(2, 3), np.zeros((4, 5)))
    report = gradcheck.check(Dense(2, 3), ([[0.1, 0.2], [0.3, 0.4]],))
    assert report.passed and report.backend == "numpy"


# -- a learner's usual slips: each named, with the pattern that gives it away -------------------

class StudentDense(Dense):
    """Dense with the backward a learner writes by hand; the subclasses each make one slip."""

    def backward(self, dy):
        self.grads = {"W": self.dW(dy), "b": self.db(dy)}
        return dy @ self.W.T

    def dW(self, dy):
        return self.x.T @ dy

    def db(self, dy):
        return self.xp.sum(dy, axis=0, keepdims=True)

    def forward(self, x, training=True):
        self.x = x
        return x @ self.W + self.b


class SignSlip(StudentDense):
    def dW(self, dy):
        return -(self.x.T @ dy)


class MeanSlip(StudentDense):
    def dW(self, dy):
        return self.x.T @ dy / dy.shape[0]


class TransposeSlip(StudentDense):
    def dW(self, dy):
        return (self.x.T @ dy).T  # right shape only because W is square here


@pytest.mark.parametrize(("layer", "note"), [
    (SignSlip(3, 2), "6 of 6 entries wrong; analytic = -numeric at every entry: the sign is "
                     "wrong"),
    (MeanSlip(3, 2), "6 of 6 entries wrong; analytic = numeric / 4 at every entry, and 4 is "
                     "the number of samples: a division by the batch size that does not "
                     "belong here"),
    (TransposeSlip(3, 3), "analytic = numeric transposed: a product taken in the wrong order"),
])
def test_a_wrong_weight_gradient_is_named_with_its_pattern(layer, note):
    report = gradcheck.check(layer)
    assert [(c.parameter, c.passed) for c in report.checks] == [("x", True), ("W", False),
                                                                 ("b", True)]
    assert note in report.failures[0].note
    text = str(report)
    assert "W      " in text and "FAIL (note 1)" in text
    assert f"note 1: {type(layer).__name__}.W: " in text


class MeanSquares:
    """A loss with calculate and backward only (no per-sample forward), as own-layer.md
    allows; ``slip`` leaves out the book's divisions by the outputs and/or the samples."""

    def __init__(self, slip=""):
        self.slip = slip

    def calculate(self, y_pred, y_true):
        return np.mean((y_pred - y_true) ** 2)

    def backward(self, y_pred, y_true):
        n, outputs = y_pred.shape
        dx = 2 * (y_pred - y_true)
        if "outputs" not in self.slip:
            dx = dx / outputs
        if "samples" not in self.slip:
            dx = dx / n
        return dx


@pytest.mark.parametrize(("slip", "note"), [
    ("outputs", "analytic = 2 x numeric at every entry, and 2 is the number of outputs per "
                "sample: a division by the outputs is missing"),
    ("outputs samples", "analytic = 8 x numeric at every entry, and 8 is 4 samples x 2 "
                        "outputs: the divisions by the outputs and by the samples are both "
                        "missing"),
    ("samples", "analytic = 4 x numeric at every entry, and 4 is the number of samples"),
])
def test_a_loss_with_calculate_and_backward_is_checked_and_a_missing_mean_named(slip, note):
    y_pred, y_true = np.random.default_rng(0).normal(size=(2, 4, 2))
    assert gradcheck.check(MeanSquares(), (y_pred, y_true)).passed
    report = gradcheck.check(MeanSquares(slip), (y_pred, y_true))
    assert not report.passed and note in report.failures[0].note


def test_a_correct_hand_written_layer_passes_and_the_report_says_how():
    report = gradcheck.check(StudentDense(3, 2))
    assert report.passed, str(report)
    how = " ".join(str(report).splitlines()[5:-1])
    assert how.startswith("How: each entry a of every gradient from backward against n, a "
                          "float64 central difference (L(p+h)-L(p-h))/2h, h = 1e-06")
    assert ("Passes when |a-n|/(|a|+|n|) <= rtol or |a-n| <= atol: rtol 1e-06, atol 1e-09 "
            "(float64 gradients") in how
    f32 = " ".join(str(gradcheck.check(StudentDense(3, 2), dtype="float32")).splitlines())
    assert "rtol 0.001, atol 1e-05 (float32 gradients: float32 keeps about 7" in f32


class ReLUWritesIntoDy:
    """The book's ReLU without its dvalues.copy(): right values, but the caller's dy changes."""

    def forward(self, inputs, training=True):
        self.inputs = inputs
        return np.maximum(0, inputs)

    def backward(self, dvalues):
        dvalues[self.inputs <= 0] = 0
        return dvalues


class AddsIntoGrads(StudentDense):
    """Adds into its gradients instead of setting them (the second call doubles them)."""

    def backward(self, dy):
        old = getattr(self, "grads", {}).get("W", 0)
        dx = super().backward(dy)
        self.grads["W"] = self.grads["W"] + old
        return dx


def test_a_backward_that_writes_into_dy_fails_though_its_values_are_right():
    x = np.array([[1.0, -2.0, 3.0], [-0.5, 0.5, -1.5]])
    report = gradcheck.check(ReLUWritesIntoDy(), (x,))
    assert [(c.parameter, c.passed) for c in report.checks] == [("x", True),
                                                                 ("dy (written into)", False)]
    note = report.failures[0].note
    assert note.startswith("backward wrote into the dy it was given (3 of 6 entries changed, "
                           "e.g. at (0, 1): ")
    assert "Fix: write into a copy (dx = dy.copy()" in note
    np.testing.assert_array_equal(x, [[1.0, -2.0, 3.0], [-0.5, 0.5, -1.5]])  # x untouched


def test_a_backward_that_keeps_state_between_calls_fails():
    report = gradcheck.check(AddsIntoGrads(3, 2))
    assert [(c.parameter, c.passed) for c in report.checks] == [
        ("x", True), ("W", True), ("b", True), ("W (2nd call)", False)]
    assert "gave two different values of the gradient of 'W' (the second about 2 x the " \
           "first): backward keeps state between calls" in report.failures[0].note


class BookCCE(nb.Loss_CategoricalCrossentropy):
    pass


class CCEWithoutN(nb.Loss_CategoricalCrossentropy):
    def backward(self, dvalues, y_true):
        self.dinputs = -np.eye(dvalues.shape[1])[y_true] / dvalues  # no / samples


class CCEDividesInPlace(nb.Loss_CategoricalCrossentropy):
    def backward(self, dvalues, y_true):
        dvalues /= len(dvalues)  # in place, into the caller's y_pred
        self.dinputs = -np.eye(dvalues.shape[1])[y_true] / (dvalues * len(dvalues) ** 2)


def test_loss_slips_missing_mean_and_writing_into_y_pred():
    missing = gradcheck.check(CCEWithoutN())
    assert "analytic = 4 x numeric at every entry, and 4 is the number of samples: a " \
           "division by the batch size is missing" in missing.failures[0].note
    inplace = gradcheck.check(CCEDividesInPlace())
    assert [(c.parameter, c.passed) for c in inplace.checks] == [
        ("y_pred", True), ("y_pred (written into)", False)]
    assert inplace.failures[0].note.startswith("calculate or backward wrote into the y_pred it "
                                               "was given (12 of 12 entries changed")


@pytest.mark.parametrize(("db", "hint"), [
    (lambda dy: dy.sum(axis=0), "a sum without keepdims=True"),
    (lambda dy: dy.sum(axis=1, keepdims=True), "It has one entry per sample (4 samples): "
                                               "summed over the wrong axis?"),
])
def test_a_bias_gradient_of_the_wrong_shape_says_why(db, hint):
    class WrongDb(StudentDense):
        def db(self, dy):
            return db(dy)

    with pytest.raises(gradcheck.ComponentError, match="for parameter 'b' of shape") as info:
        gradcheck.check(WrongDb(3, 2))
    assert hint in str(info.value)


def test_a_transposed_weight_gradient_of_the_wrong_shape_says_why():
    class DyTx(StudentDense):
        def dW(self, dy):
            return dy.T @ self.x

    with pytest.raises(gradcheck.ComponentError, match=r"shape \(2, 3\) for parameter 'W' of "
                       r"shape \(3, 2\).*It is the transpose of that shape"):
        gradcheck.check(DyTx(3, 2))


def test_the_books_cross_entropy_losses_get_inputs_they_accept(tmp_path):
    """A user's class is given inputs by its name (or its base class's): the book's
    categorical and binary cross-entropy (correct) pass, where regression targets made them
    fail."""
    path = tmp_path / "book.py"
    path.write_text(Path(nb.__file__).read_text())
    code, text = run(f"{path}:Loss_CategoricalCrossentropy", f"{path}:Loss_BinaryCrossentropy")
    assert code == 0, text
    assert "2 gradients checked on numpy (float64, full): all passed" in text
    assert gradcheck.check(BookCCE()).passed


def test_a_user_loss_failing_on_generated_inputs_is_told_what_it_was_given(tmp_path, capsys):
    path = tmp_path / "mine.py"
    path.write_text(textwrap.dedent("""
        import numpy as np

        class NLL:
            def forward(self, y_pred, y_true):
                return -np.log(y_pred[range(len(y_pred)), y_true])

            def calculate(self, y_pred, y_true):
                return np.mean(self.forward(y_pred, y_true))

            def backward(self, y_pred, y_true):
                return None
    """))
    code, _ = run(f"{path}:NLL")
    assert code == 1
    err = capsys.readouterr().err
    assert "That line may be right and the inputs wrong for this loss: gradcheck generated " \
           "float y_pred and y_true of shape (4, 2)" in err
    assert "gradcheck.check(NLL(), (y_pred, y_true))" in err
