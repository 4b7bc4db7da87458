"""Explain mode: the JSON events alone recompute every step of Adam, softmax and a dense
layer; the tracer's selection and summaries; the command line."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from xpnet import trace
from xpnet.cli import main
from xpnet.explain import TOPICS, explain
from xpnet.nn.layers import Dense


def events(topic, backend, steps=3):
    lines = explain(topic, steps=steps, backend=backend).json_lines().splitlines()
    config = json.loads(lines[0])
    assert config["event"] == "config" and config["topic"] == topic
    return config, [json.loads(line) for line in lines[1:]]


def value(evs, **match):
    found = [e for e in evs if all(e[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, len(found))
    return np.asarray(found[0]["value"], dtype=np.float64)


def test_adam_json_recomputes_every_update(backend):
    config, evs = events("adam", backend)
    opt = config["optimizer"]
    b1, b2, eps, lr0, decay = (opt[k] for k in ("beta_1", "beta_2", "epsilon",
                                                "learning_rate", "decay"))
    params = sorted({e["param"] for e in evs if e["component"] == "Adam" and e["param"]})
    assert params == ["Dense[0].W", "Dense[0].b", "Dense[2].W", "Dense[2].b"]
    for name in params:
        m = v = 0.0
        p = value(evs, component="Adam", quantity="p_before", param=name, step=1)
        for t in (1, 2, 3):
            lr = float(value(evs, component="Adam", quantity="lr", step=t))
            assert lr == pytest.approx(lr0 / (1 + decay * (t - 1)), rel=1e-15)
            g = value(evs, component="Adam", quantity="g", param=name, step=t)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g**2
            update = -lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
            np.testing.assert_allclose(value(evs, component="Adam", quantity="update",
                                             param=name, step=t), update, rtol=1e-4, atol=1e-7)
            np.testing.assert_array_equal(
                value(evs, component="Adam", quantity="p_before", param=name, step=t), p)
            p = p + update
            after = value(evs, component="Adam", quantity="p_after", param=name, step=t)
            np.testing.assert_allclose(after, p, rtol=1e-5, atol=1e-7)
            p = after  # continue from the library's (float32) parameters


def test_softmax_json_recomputes_forward_and_backward(backend):
    _, evs = events("softmax", backend, steps=1)
    x = value(evs, component="Softmax[3]", quantity="x", step=1, phase="forward")
    s = value(evs, component="Softmax[3]", quantity="y", step=1, phase="forward")
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(s, e / e.sum(axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(s.sum(axis=1), 1.0, rtol=1e-6)
    dy = value(evs, component="Softmax[3]", quantity="dy", phase="backward")
    dx = value(evs, component="Softmax[3]", quantity="dx", phase="backward")
    fused = [f for f in evs if f["component"] == "SoftmaxCrossentropy"]
    s_eval = np.asarray(fused[-3]["value"])
    one_hot = np.asarray(fused[-2]["value"])
    jacobians = np.einsum("ni,ij->nij", s_eval, np.eye(3)) - np.einsum("ni,nj->nij",
                                                                      s_eval, s_eval)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", jacobians, dy), dx, atol=1e-6)
    np.testing.assert_allclose((s_eval - one_hot) / len(s_eval), np.asarray(fused[-1]["value"]),
                               atol=1e-7)
    np.testing.assert_allclose(np.asarray(fused[-1]["value"]), dx, atol=1e-6)


def test_dense_json_recomputes_forward_backward_and_penalties(backend):
    config, evs = events("dense", backend, steps=1)
    cfg = config["layers"][2]["config"]
    q = {name: value(evs, component="Dense[2]", quantity=name, step=1)
         for name in ("x", "W", "b", "y", "dy", "dW_data", "db_data", "dW_l1", "dW_l2",
                      "db_l1", "db_l2", "dW", "db", "dx")}
    np.testing.assert_allclose(q["y"], q["x"] @ q["W"] + q["b"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(q["dW_data"], q["x"].T @ q["dy"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(q["db_data"], q["dy"].sum(axis=0, keepdims=True), atol=1e-7)
    sign = np.where(q["W"] < 0, -1.0, 1.0)
    np.testing.assert_allclose(q["dW_l1"], cfg["weight_l1"] * sign, rtol=1e-6)
    np.testing.assert_allclose(q["dW_l2"], 2 * cfg["weight_l2"] * q["W"], rtol=1e-6)
    np.testing.assert_allclose(q["dW"], q["dW_data"] + q["dW_l1"] + q["dW_l2"], atol=1e-7)
    np.testing.assert_allclose(q["db"], q["db_data"] + q["db_l1"] + q["db_l2"], atol=1e-7)
    np.testing.assert_allclose(q["dx"], q["dy"] @ q["W"].T, rtol=1e-5, atol=1e-7)
    assert "dx" not in {e["quantity"] for e in evs if e["component"] == "Dense[0]"}


@pytest.mark.parametrize("topic", TOPICS)
def test_every_topic_renders_text_and_markdown(topic):
    ex = explain(topic, steps=2)
    text, md, full = ex.text(), ex.markdown(), ex.text(full=True)
    assert ex.sections and all(body for _, body in ex.sections)
    assert ex.summary and all(body for _, body in ex.summary)
    assert md.startswith(f"# `xpnet explain {topic}`") and "```text" in md
    assert ex.summary[0][0] in text and all(h in full for h, _ in ex.sections)
    assert ex.summary[-1][0] == "Faithful to the book" and "--seed nnfs" in text
    assert len(text) <= len(full)


def test_explain_on_a_preset_summarises_big_arrays():
    ex = explain("adam", steps=1, preset="ch15")
    big = [e for e in ex.events if e.shape == [2, 64] and e.quantity == "m"]
    assert big and big[0].value is not None  # 128 entries: still kept
    assert "What the numbers show" in ex.text()


@pytest.mark.parametrize("topic", ["sgd", "rmsprop", "adagrad"])
def test_an_optimizer_topic_trains_a_preset_with_its_optimizer(topic):
    # every chapter's model trains with Adam: the topic's optimizer takes its place
    ex = explain(topic, steps=1, preset="ch14")
    name = {"sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad"}[topic]
    assert ex.config["optimizer"]["class"] == name
    assert f"What {name} computes" in ex.text(full=True)
    assert any(e.component == name for e in ex.events)


@pytest.mark.parametrize(("topic", "preset", "fitting"), [
    ("dropout", "ch14", "--preset ch15 or --preset ch18"),
    ("softmax", "ch17", "--preset ch14 or --preset ch15 or --preset ch18"),
])
def test_a_layer_topic_on_a_preset_without_the_layer_names_the_presets_with_one(
        topic, preset, fitting):
    with pytest.raises(ValueError, match=f"preset '{preset}' has none") as info:
        explain(topic, steps=1, preset=preset)
    assert "Leave out --preset" in str(info.value) and str(info.value).endswith(fitting + ".")


@pytest.mark.parametrize(("preset", "loss"), [("ch16", "BinaryCrossentropy"),
                                             ("ch17", "MeanSquaredError")])
def test_the_loss_topic_on_a_preset_with_another_loss_says_so(preset, loss):
    with pytest.raises(ValueError, match=f"preset '{preset}' trains with {loss}") as info:
        explain("loss", steps=1, preset=preset)
    assert str(info.value).endswith("--preset ch14 or --preset ch15 or --preset ch18.")


def test_tracer_selection_summaries_and_max_steps():
    layer = Dense(3, 2, seed=0)
    x = np.ones((4, 3), dtype=np.float32)
    with trace.Tracer(quantities={"y"}, full=False) as t:
        layer.forward(x)
    assert trace.ACTIVE is None
    (e,) = t.events
    assert e.value is None and e.shape == [4, 2]
    assert e.min <= e.mean <= e.max and e.norm >= 0
    with trace.Tracer(components=["nothing"]) as t2:
        layer.forward(x)
    assert t2.events == []
    with trace.Tracer(max_steps=0) as t3:
        t3.step = 1
        layer.forward(x)
    assert t3.events == []
    layer.forward(x)  # no tracer: nothing recorded anywhere


def run(*argv):
    out = io.StringIO()
    return main(["explain", *argv], out=out), out.getvalue()


def test_cli_json_markdown_and_errors(tmp_path, capsys):
    code, text = run("adam", "--json", "--steps", "2")
    assert code == 0
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["event"] == "config" and len(lines) > 10
    code, text = run("dense", "--markdown")
    assert code == 0 and text.startswith("# `xpnet explain dense`")
    code, short = run("dense")
    code_full, full = run("dense", "--full")
    assert code == code_full == 0 and len(short) < len(full)
    assert "One entry, worked" in short and "Backward\n========" in full


def test_cli_adam_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "adam.png"
    code, _ = run("adam", "--plot", str(path), "--plot-steps", "30", "--preset", "ch14")
    assert code == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("topic", [t for t in TOPICS if t != "adam"])
def test_cli_plot_works_for_every_topic(tmp_path, topic):
    pytest.importorskip("matplotlib")
    path = tmp_path / f"{topic}.png"
    code, text = run(topic, "--plot", str(path), "--plot-steps", "20")
    assert code == 0 and text == f"wrote {path}\n"  # the picture, not the text
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_returns_the_data_it_draws(tmp_path):
    from xpnet.explain import plot

    data = plot("relu", str(tmp_path / "r.png"), steps=5)
    assert data["steps"] == [1, 2, 3, 4, 5] and all(0 <= f <= 1 for f in data["fraction"])
    data = plot("dropout", str(tmp_path / "d.png"), steps=5)
    assert len(data["fraction"]) == 5
    assert data["keep"] == 0.75  # the reference line: the tiny network's Dropout(0.25) keeps
    data = plot("softmax", str(tmp_path / "s.png"), steps=5)
    assert np.allclose(np.sum(data["probabilities"], axis=-1), 1.0, atol=1e-6)
    data = plot("loss", str(tmp_path / "l.png"), steps=5)
    assert len(data["loss"]) == 5 and data["loss"][-1] < data["loss"][0]
    with pytest.raises(ValueError, match=r"unknown topic 'nope'\. Topics are: adam"):
        plot("nope", str(tmp_path / "n.png"))
