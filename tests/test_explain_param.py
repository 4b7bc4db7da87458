"""One weight through a run (``xpnet explain adam --param``): the table's values are the ones
Adam computed, they recompute from the formulas, and in faithful mode they are bit for bit
those of the book's own Optimizer_Adam fed the same gradients."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xpnet.bench import nnfs_book
from xpnet.explain_param import parse_param, trace_param


def test_the_table_recomputes_from_adams_formulas(backend):
    table = trace_param("Dense[2].W[1,2]", steps=12, backend=backend)
    assert table.optimizer == "Adam" and [r["step"] for r in table.rows] == list(range(1, 13))
    assert table.columns == ["g", "m", "v", "m_hat", "v_hat", "update"]
    f32 = np.float32  # Adam's arithmetic in the parameters' dtype, Python floats rounded once
    m = v = f32(0)
    for row in table.rows:
        t, g = row["step"], f32(row["g"])
        m = f32(0.9) * m + f32(1 - 0.9) * g
        v = f32(0.999) * v + f32(1 - 0.999) * (g * g)
        m_hat, v_hat = m / f32(1 - 0.9**t), v / f32(1 - 0.999**t)
        update = f32(-row["lr"]) * m_hat / (np.sqrt(v_hat) + f32(1e-7))
        ours = [row[k] for k in ("m", "v", "m_hat", "v_hat", "update", "p_after")]
        expected = [m, v, m_hat, v_hat, update, f32(row["p_before"]) + update]
        if backend.name in ("numpy", "array_api_strict"):
            assert ours == expected  # IEEE float32, operation for operation
        else:  # torch's and XLA's CPU kernels may round a division or sqrt differently
            np.testing.assert_array_max_ulp(np.float32(ours), np.float32(expected), maxulp=4)
        m, v = f32(row["m"]), f32(row["v"])
        step = row["p_after"] - row["p_before"]
        assert row["momentum"] == (step * g > 0)
        assert row["ratio"] == pytest.approx(abs(step) / row["lr"])
    # Adam's first step is lr * sign(g): the whole learning rate
    assert table.rows[0]["ratio"] == pytest.approx(1.0, rel=1e-5)
    text = table.text()
    assert text.count("\n") >= 14 and "momentum" in text and "median" in text


def test_in_faithful_mode_the_values_are_the_books_bit_for_bit():
    table = trace_param("Dense[0].W[1,3]", steps=25, seed="nnfs")
    book = nnfs_book.Optimizer_Adam(learning_rate=0.05, decay=5e-5)

    class Layer:  # the book's optimizer updates weights/biases of anything that has them
        weights = np.array([[table.rows[0]["p_before"]]], dtype=np.float32)
        biases = np.zeros((1, 1), dtype=np.float32)

    layer = Layer()
    for row in table.rows:
        layer.dweights = np.array([[row["g"]]], dtype=np.float32)
        layer.dbiases = np.zeros((1, 1), dtype=np.float32)
        book.pre_update_params()
        assert book.current_learning_rate == row["lr"]
        book.update_params(layer)
        book.post_update_params()
        assert layer.weight_momentums[0, 0] == row["m"]
        assert layer.weight_cache[0, 0] == row["v"]
        assert layer.weights[0, 0] == row["p_after"]


@pytest.mark.parametrize(("spec", "message"), [
    ("Dense[0].W", r"expects LAYER\[i\]\.PARAM\[row,col\]"),
    ("Dense[9].W[0,0]", r"no parameter 'Dense\[9\]\.W'; its parameters are Dense\[0\]\.W\[2, 4\]"),
    ("Dense[0].W[2,0]", r"index \[2, 0\] is outside Dense\[0\]\.W, whose shape is \[2, 4\]"),
    ("Dense[0].W[0]", r"Dense\[0\]\.W has 2 axes \(shape \[2, 4\]\), so its entries take 2 "
                      r"indices, got 1 \(\[0\]\); e\.g\. Dense\[0\]\.W\[0, 0\]"),
])
def test_a_bad_parameter_says_what_exists(spec, message):
    with pytest.raises(ValueError, match=message):
        trace_param(spec, steps=1)


@pytest.mark.parametrize(("spec", "error", "message"), [
    ("Dense[0].W[0 0]", ValueError, r"^--param 'Dense\[0\]\.W\[0 0\]': separate the indices "
                                    r"with commas: 'Dense\[0\]\.W\[0,0\]' \(row,col\)\.$"),
    (5, TypeError, r"^the weight to follow is named by a string, LAYER\[i\]\.PARAM\[row,col\], "
                   r"got 5 \(an int\); e\.g\. trace_param\('Dense\[0\]\.W\[0,0\]'\)\.$"),
    ("Dense[0].W[-1,0]", ValueError, r"^--param 'Dense\[0\]\.W\[-1,0\]' counts from the end, "
                                     r"as NumPy does; --param numbers layers by their place in "
                                     r"the model and entries from 0: write "
                                     r"'Dense\[0\]\.W\[1,0\]'\.$"),
    ("Dense[-1].b[0,-1]", ValueError, r"counts from the end.*write 'Dense\[2\]\.b\[0,2\]'\.$"),
    ("Dense[0].W[a,0]", ValueError, r"^--param expects LAYER\[i\]\.PARAM\[row,col\]"),
])
def test_a_weight_named_oddly_gets_the_fix(spec, error, message):
    with pytest.raises(error, match=message):
        trace_param(spec, steps=1)


def test_parse_param_and_steps():
    assert parse_param(" Dense[3].b[0,2] ") == ("Dense[3]", "b", (0, 2))
    assert parse_param("Dense[ 3 ].b[ 0 , 2 ]") == ("Dense[3]", "b", (0, 2))
    with pytest.raises(ValueError, match="steps must be a positive integer, got 0"):
        trace_param("Dense[0].W[0,0]", steps=0)


def test_a_weight_of_a_dead_unit_moves_on_momentum_alone():
    table = trace_param("Dense[0].W[0,0]", steps=30)
    dead = [r for r in table.rows if r["g"] == 0]
    assert dead and all(r["p_after"] != r["p_before"] for r in dead)
    assert "g = 0" in table.text()
    summary = table.summary()
    assert (f"{len(dead)} of 30 steps had g = 0 (the first at step {dead[0]['step']}): nothing "
            "reached Dense[0].W[0,0]") in summary
    assert "momentum from earlier gradients still moved it on those steps" in summary
    against = [r["step"] for r in table.rows if r["momentum"]]
    assert f"{len(against)} of 30 steps moved Dense[0].W[0,0] against its current gradient" \
        in summary or (not against and "Every one of the 30 steps" in summary)
    assert "Adam shrinks the step" in summary
    assert "SGD's step is lr_t times" in trace_param("Dense[0].W[0,0]", steps=3,
                                                     optimizer="sgd").summary()


@pytest.mark.parametrize(("optimizer", "column"), [("rmsprop", False), ("adagrad", False),
                                                 ("sgd", True), ("adam", True)])
def test_the_momentum_column_is_shown_for_optimizers_that_carry_momentum(optimizer, column):
    """RMSprop's and Adagrad's steps follow the current gradient: their column was always
    empty."""
    table = trace_param("Dense[0].W[0,0]", steps=3, optimizer=optimizer)
    assert not any(r["momentum"] for r in table.rows) or column
    assert table.text().splitlines()[2].split()[-1] == ("momentum" if column else "|step|/lr_t")


def test_the_command_prints_the_table_or_json_rows(capsys):
    from xpnet.cli import main

    assert main(["explain", "adam", "--param", "Dense[0].W[0,0]", "--steps", "4"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Adam on Dense[0].W[0,0]") and "|step|/lr_t" in text
    assert main(["explain", "adam", "--param", "Dense[0].W[0,0]", "--steps", "4",
                 "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and {"m", "v", "m_hat"} <= set(rows[0])
    assert main(["explain", "relu", "--param", "Dense[0].W[0,0]"]) == 2
    assert "use it with adam, sgd, rmsprop, adagrad, not 'relu'" in capsys.readouterr().err


def test_a_slow_backend_is_announced_before_training(capsys):
    from xpnet.cli import main

    pytest.importorskip("array_api_strict")
    assert main(["train", "--preset", "ch14", "--epochs", "1", "--backend",
                 "array_api_strict"]) == 0
    err = capsys.readouterr().err
    assert "note: on a CPU the array_api_strict backend is several times slower" in err
    assert main(["train", "--preset", "ch14", "--epochs", "1"]) == 0
    assert "note" not in capsys.readouterr().err
