"""What the explain pages say, checked against the values they show: every worked number
recomputed from the printed digits or the recorded events, and no sentence that the
numbers contradict (a rounding that hides a difference, a claim that holds for one topic
only, a penalty promised and not shown)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from xpnet.explain import explain
from xpnet.explain.render import fmt
from xpnet.trace import select

NUMBER = r"-?\d+(?:\.\d+)?(?:e[-+]\d+)?"


def numbers(text):
    return [float(v) for v in re.findall(NUMBER, text)]


def array(ex, component, quantity, step=1, **match):
    (e,) = select(ex.events, component=component, quantity=quantity, step=step, **match)
    return np.asarray(e.value, dtype=np.float64)


def test_numbers_print_with_5_significant_digits_and_never_hide_a_value():
    """A step just under lr = 0.01 is not shown as 0.01, a small value is not 0."""
    assert fmt(np.array([-0.0099996, 0.0049999, 0.0])) == "[-0.0099996  0.0049999  0.       ]"
    assert fmt(np.array([[12.345678, -3.0]])) == "[[12.346 -3.   ]]"
    assert fmt(np.array([0.5, 1.2345678e-7])) == "[5.0000e-01 1.2346e-07]"
    assert fmt(1.2345678e-7) == "1.2346e-07"
    for values in ([0.5, 3e-8], [0.012, 0.0009], [2e-6, 1e-6], [1e5, 0.5]):
        shown = [float(v) for v in fmt(np.array(values)).strip("[]").split()]
        np.testing.assert_allclose(shown, values, rtol=1e-4)  # every one, to 5 digits


def test_a_zero_never_prints_as_minus_zero():
    assert fmt(np.array([[-0.0, 0.5], [-0.25, -0.0]], dtype=np.float32)) == \
        "[[ 0.    0.5 ]\n [-0.25  0.  ]]"
    assert fmt(-0.0) == "0"
    assert fmt(np.array([1, 0])) == "[1 0]"  # integers untouched
    text = explain("relu", steps=1).text()
    assert re.search(r"-0\.?0*(?=[\s\],])", text) is None  # no "-0.", "-0" or "-0.00"
    assert (array(explain("relu", steps=1), "ReLU[1]", "dx") == 0).any()  # the zeros exist


def test_adams_first_step_is_said_to_be_just_under_lr_with_the_numbers():
    ex = explain("adam", steps=2)
    text = ex.text()
    assert "exactly" not in text.split("At step 1")[1].split("\n")[0]
    lr = float(array(ex, "Adam", "lr"))
    ratios = np.concatenate([np.abs(np.asarray(e.value)).ravel() / lr for e in select(
        ex.events, component="Adam", quantity="update", step=1)])
    assert ratios.max() < 1  # the claim: under lr, never lr itself
    assert (f"Its size is just under lr, not lr itself: |update| / lr_t at step 1 ranges from "
            f"{fmt(ratios.min(), 7)} to {fmt(ratios.max(), 7)} over the parameters") in text
    assert "(step 1: -lr_t * g / (|g| + eps), just under lr_t in size; 5 significant digits " \
           "round most to lr_t)" in ex.text(full=True)


@pytest.mark.parametrize(("topic", "size"), [("rmsprop", "about lr_t / sqrt(1 - rho) = 3.16 "
                                                        "lr_t"),
                                             ("adagrad", "about lr_t (just under)")])
def test_rmsprop_and_adagrad_explain_their_first_step(topic, size):
    ex = explain(topic, steps=1)
    lr = float(array(ex, ex.config["optimizer"]["class"], "lr"))
    ratios = np.concatenate([np.abs(np.asarray(e.value)).ravel() / lr for e in select(
        ex.events, quantity="update", step=1)])
    expected = 1 / np.sqrt(1 - 0.9) if topic == "rmsprop" else 1.0
    np.testing.assert_allclose(ratios, expected, rtol=1e-3)  # eps / |g| below 1e-3 here
    text = ex.text()
    assert size in text
    assert f"ranges from {fmt(ratios.min(), 7)} to {fmt(ratios.max(), 7)}" in text


def test_the_optimizer_table_gives_the_starting_value_and_names_a_dead_weight():
    ex = explain("adagrad", steps=3)
    text = ex.text()
    start = array(ex, "Adagrad", "p_before", param="Dense[0].W")[0, 0]
    assert f"which starts at {fmt(start, 6)} (p before step 1):" in text
    g = [array(ex, "Adagrad", "g", step=t, param="Dense[0].W")[0, 0] for t in (1, 2, 3)]
    dead = [str(t) for t, v in zip((1, 2, 3), g, strict=True) if v == 0]
    assert dead  # on this network the first big step switches the unit off
    assert (f"g = 0 at step {', '.join(dead)}: no gradient reached Dense[0].W[0,0], as when the "
            "ReLU unit it feeds is off for every sample (a 'dead' unit); it does not move.") \
        in text


def test_the_dense_page_works_one_gradient_entry_with_its_penalties():
    ex = explain("dense", steps=1)
    text = ex.text()
    block = text.split("dW[")[1]
    i = int(block[0])
    head = text[text.index(f"dW[{i},0] = sum_s"):]
    lines = head.splitlines()
    # the printed terms, summed, give the printed sum (7 digits in, 6 out)
    terms = numbers(lines[1].split("=", 1)[1])
    data = float(lines[2].split("=")[1])
    assert sum(a * b for a, b in zip(terms[::2], terms[1::2], strict=True)) == \
        pytest.approx(data, rel=5e-6)
    x, dy = array(ex, "Dense[2]", "x"), array(ex, "Dense[2]", "dy")
    assert float(x[:, i] @ dy[:, 0]) == pytest.approx(data, rel=5e-6)
    W, dW = array(ex, "Dense[2]", "W"), array(ex, "Dense[2]", "dW")
    l1 = 0.001 * (1.0 if W[i, 0] >= 0 else -1.0)
    l2 = 2 * 0.005 * W[i, 0]
    assert lines[3].endswith(f"= {fmt(l1, 6)}") and "weight_l1 * sign(" in lines[3]
    assert lines[4].endswith(f"= {fmt(l2, 6)}") and "2 * weight_l2 * W[" in lines[4]
    total = float(lines[5].split("=")[1])
    assert total == pytest.approx(data + l1 + l2, rel=5e-6)
    assert total == pytest.approx(dW[i, 0], rel=5e-6)
    assert f"and backward computed dW[{i},0] = {fmt(dW[i, 0], 6)}." in text
    # the forward entry: printed terms sum to the printed total
    forward = text[text.index("y[0,0] = 0") if "y[0,0] = 0 " in text else
                   text.index("    y[0,0] = "):].splitlines()
    parts = numbers(forward[0].split("=", 1)[1])
    assert sum(a * b for a, b in zip(parts[:-1:2], parts[1:-1:2], strict=True)) + parts[-1] \
        == pytest.approx(float(forward[1].split("=")[1]), rel=5e-6)


def test_the_dense_page_on_a_preset_speaks_of_the_preset():
    text = explain("dense", steps=1, preset="ch15").text()
    assert "init_scale = 0.01, as preset ch15 sets it after its chapter" in text
    assert "tiny network would" not in text
    assert "This layer has no L1 or L2 penalty, so nothing is added to dW and db" in text
    assert "penalties below" not in text


def test_the_dropout_page_names_the_rate_and_where_dx_is_zero():
    ex = explain("dropout", steps=1)
    text = ex.text()
    assert "Dropout(rate=0.25) drops each unit with probability rate = 0.25, so it keeps it " \
           "with probability keep = 1 - rate = 0.75" in text
    x, mask, dx = (array(ex, "Dropout[2]", q) for q in ("x", "mask", "dx"))
    dy = array(ex, "Dropout[2]", "dy")
    np.testing.assert_array_equal(dx == 0, (mask == 0) | (dy == 0))
    # the reason for the wording: y is 0 where x was, yet a kept unit's dx is not
    assert ((x == 0) & (mask > 0) & (dx != 0)).any()
    assert "dx is 0 exactly where the mask is 0 (a dropped unit)" in text
    assert "dx is zero exactly where the forward pass zeroed a unit" not in text


def test_the_softmax_summary_shows_the_dy_it_multiplies_and_why_it_subtracts_the_max():
    ex = explain("softmax", steps=1)
    text = ex.text()
    assert "Subtracting max(x) changes no probability" in text
    assert "dy = -y_true / s / n, with y_true the one-hot labels and n = 6 the number of " \
           "samples" in text
    line = next(ln for ln in text.splitlines() if "With that sample's dy[" in ln)
    dy = np.array(numbers(line.split("] = ", 1)[1].split(", J @")[0]))
    jdy = np.array(numbers(line.split("] = ")[-1]))
    s = np.array(numbers(text.split("For sample ")[2].split("s = ")[1].split("]")[0]))
    J = np.diag(s) - np.outer(s, s)
    np.testing.assert_allclose(J @ dy, jdy, atol=2e-5)
    assert "    def backward(self, dvalues):" in text  # the book's code, dedented once
    assert "        def backward" not in text


def test_the_loss_page_works_one_sample():
    ex = explain("loss", steps=1)
    text = ex.text()
    s = array(ex, "CategoricalCrossentropy", "y_pred")
    onehot = array(ex, "SoftmaxCrossentropy", "y_one_hot")
    y = int(np.argmax(onehot[0]))
    assert (f"sample 0: true class {y}, s_0[{y}] = {fmt(s[0, y], 6)}, loss = "
            f"-log({fmt(s[0, y], 6)}) = {fmt(-np.log(s[0, y]), 6)}") in text
    assert f"dx = (s - y_one_hot) / n, n = {s.shape[0]}:" in text
    np.testing.assert_allclose(array(ex, "SoftmaxCrossentropy", "s"), s)  # "the same s"


def test_an_optimizer_topic_on_a_preset_says_it_replaced_the_chapters_optimizer():
    ex = explain("sgd", steps=1, preset="ch14")
    assert ex.config["preset_optimizer"] == "Adam"
    assert "Preset ch14 trains with Adam; to show SGD, this run replaces it with SGD and the " \
           "settings above (explain mode's, not the chapter's)." in ex.text()
    assert explain("adam", steps=1, preset="ch14").config["preset_optimizer"] is None
