"""Regenerate the explain-mode pages, docs/explain/*.md, from the real command output.

Usage: ``python docs/gen_explain.py [--out DIR] [--check]``.

Each topic page is a hand-written introduction (``INTROS`` below) followed by what
``xpnet explain TOPIC --steps 3 --markdown`` prints (seed 0, NumPy), its headings moved down
one level so that the page keeps a single title. Each page also gets the figure that
``xpnet explain TOPIC --plot`` draws (``xpnet.explain.plot``): Adam's over a 2000-step run of
the ch15 preset, with a paragraph whose numbers come from the data the plot was drawn from,
every other topic's over 2000 steps of the tiny network, with a one-line caption whose
numbers come from its data. The pages are deterministic (no timestamps): a rerun on the same
versions rewrites identical Markdown (the PNG bytes may differ between matplotlib versions).

The softmax page reports what the book's per-sample backward loop costs against the
vectorised form, from a timing recorded in ``docs/explain/softmax_cost.json``: ``--measure``
re-times both (``xpnet.explain.softmax_backward_cost``) and rewrites that record, so that the
pages stay byte for byte reproducible between measurements.

``--out DIR`` writes the pages there instead of docs/explain/ (tests/test_docs.py does, to
compare them with the committed ones). ``--check`` writes nothing: it generates into a
temporary directory and exits with status 1 if a committed page differs.
"""

from __future__ import annotations

import argparse
import filecmp
import io
import os
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

# One BLAS thread: the same sums in the same order wherever the pages are generated.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

DOCS = Path(__file__).resolve().parent
OUT = DOCS / "explain"
STEPS = 3
PLOT = {"file": "adam_ch15.png", "preset": "ch15", "steps": 2000}
#: the steps of every other topic's figure (the tiny network)
FIGURE_STEPS = 2000
STALE = "docs/explain is stale: run python docs/gen_explain.py"
COST = OUT / "softmax_cost.json"

#: (nav title, the learner's question, the answer: what the page shows), per topic.
INTROS: dict[str, tuple[str, str, str]] = {
    "adam": (
        "Adam",
        "Using print statements, what happens inside `Optimizer_Adam`? What are `m` and `v` "
        "after a few steps, and what do the bias corrections do?",
        """\
        Here is every value Adam computes in the first steps of training a tiny network,
        from the library's own code: `xpnet.nn.optimizers.Adam` (the book's `Optimizer_Adam`)
        reports each quantity to a tracer from inside its update, so these are the numbers
        that training used, not a re-implementation printed beside it. For each of the
        network's four parameter arrays and each step you see the gradient `g`, the moments
        `m` and `v`, their bias-corrected `m_hat` and `v_hat`, the update, and the parameter
        before and after it; the last section reads the numbers.""",
    ),
    "softmax": (
        "Softmax",
        "How does softmax turn a layer's outputs into probabilities, why does it subtract the "
        "maximum first, and what is its backward pass?",
        """\
        Below, the network's softmax output layer at the first training step: the logits,
        the row maxima it subtracts, the exponentials, their sums and the probabilities.
        Then the backward pass, three ways, on the network after its training steps: one
        sample's full Jacobian, the vectorised product that the layer computes, and the
        shortcut fused with cross-entropy; the page shows that they give the same gradient.""",
    ),
    "dense": (
        "Dense layer",
        "What does a dense layer compute, forward and backward, and where do the L1 and L2 "
        "penalties enter its gradients?",
        """\
        Below, the output `Dense` layer of the tiny network at the first training step,
        with small L1 and L2 penalties switched on for this topic: its weights and biases,
        one output worked from its input, then the backward pass with the shapes of its
        gradients and one entry of `dW` worked from `x` and `dy`, with the L1 and L2 terms
        added to it, and the penalty added to the loss. `--full` prints every array.""",
    ),
    "sgd": (
        "SGD with momentum",
        "What does stochastic gradient descent, with learning-rate decay and momentum, do to "
        "each weight?",
        """\
        Below, every parameter array of the tiny network through the first steps of
        `xpnet.nn.optimizers.SGD` (the book's `Optimizer_SGD`): the decayed learning rate, the
        gradient, the update (which carries the momentum of the previous steps) and the
        parameter before and after it.""",
    ),
    "rmsprop": (
        "RMSprop",
        "How does RMSprop's cache give each weight its own step size?",
        """\
        Below, every parameter array of the tiny network through the first steps of
        `xpnet.nn.optimizers.RMSprop` (the book's `Optimizer_RMSprop`): the gradient, the
        cache (a moving average of the squared gradients), the update and the parameter
        before and after it. Compare the update with the gradient: dividing by
        `sqrt(cache)` evens out their sizes.""",
    ),
    "adagrad": (
        "Adagrad",
        "How does Adagrad's cache scale each weight's step, and why do its steps shrink?",
        """\
        Below, every parameter array of the tiny network through the first steps of
        `xpnet.nn.optimizers.Adagrad` (the book's `Optimizer_Adagrad`): the gradient, the
        cache (the sum of all the squared gradients so far, which only grows), the update
        and the parameter before and after it.""",
    ),
    "relu": (
        "ReLU",
        "What does the ReLU activation do to a batch, forward and backward?",
        """\
        Below, the hidden ReLU layer of the tiny network at the first training step: its
        input (the first dense layer's output), its output, the gradient arriving from the
        layer above and the gradient it passes down. Compare the zeros of the output with
        those of `dx`: the gradient flows only where the input was positive.""",
    ),
    "dropout": (
        "Dropout",
        "What does dropout do to the activations and to the gradient, and why does it scale "
        "the kept units?",
        """\
        For this topic the tiny network gets a `Dropout` layer after its ReLU. Below, at the
        first training step: the layer's input, the random mask it draws (0 for a dropped
        unit, 1/keep for a kept one), its output, and the gradient on its way back, which
        goes through the same mask.""",
    ),
    "loss": (
        "Cross-entropy loss",
        "What is categorical cross-entropy on a batch, and what gradient does it send back "
        "into softmax?",
        """\
        Below, the loss's formula, then the values recorded at the first training step:
        the predicted probabilities `s`, the one-hot targets and the gradient that the
        combined softmax and cross-entropy backward pass sends to the logits.""",
    ),
}

JSON_SNIPPET = '''\
```python
import io
import json

import numpy as np

from xpnet.cli import main

out = io.StringIO()
main(["explain", "adam", "--steps", "3", "--json"], out=out)  # = the command line
config, *events = (json.loads(line) for line in out.getvalue().splitlines())


def value(quantity, step, param="Dense[0].W"):
    (event,) = (e for e in events if e["component"] == "Adam" and e["quantity"] == quantity
                and e["step"] == step and e["param"] == param)
    return np.array(event["value"])


opt = config["optimizer"]
b1, b2, eps = opt["beta_1"], opt["beta_2"], opt["epsilon"]
p, m, v = value("p_before", 1), 0.0, 0.0
for t in (1, 2, 3):
    g = value("g", t)
    lr_t = opt["learning_rate"] / (1 + opt["decay"] * (t - 1))
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g**2
    p = p - lr_t * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    # the library computes in float32, this recomputation in float64
    assert np.allclose(p, value("p_after", t), rtol=0, atol=1e-6)
```'''


def _para(text: str) -> str:
    return textwrap.dedent(text).strip()


def command_output(topic: str) -> str:
    """What ``xpnet explain TOPIC --steps 3 --markdown`` prints (run in this process)."""
    from xpnet.cli import main

    out = io.StringIO()
    status = main(["explain", topic, "--steps", str(STEPS), "--markdown"], out=out)
    if status != 0:
        msg = f"xpnet explain {topic} failed with status {status}"
        raise RuntimeError(msg)
    return out.getvalue()


def demote(markdown: str, title: str) -> str:
    """Replace the output's H1 by the H2 ``title`` and move its other headings down a
    level (not the lines inside code blocks)."""
    lines, fenced, first = [], False, True
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            line = f"## {title}" if first and line.startswith("# ") else "#" + line
            first = False
        lines.append(line)
    return "\n".join(lines)


def _fill(text: str) -> str:
    """Rewrap a paragraph whose line lengths changed with the numbers put into it."""
    return textwrap.fill(" ".join(text.split()), width=92, break_long_words=False,
                         break_on_hyphens=False)


def index_page() -> str:
    from xpnet.explain import explain

    config = explain("adam", steps=1).config
    layers = []
    for layer in config["layers"]:
        c = layer["config"]
        shape = f" ({c['n_in']} → {c['n_out']})" if "n_in" in c else ""
        layers.append(f"`{layer['name']}`{shape}")
    topics = "\n".join(f"| [{INTROS[t][0]}]({t}.md) | `xpnet explain {t}` | {INTROS[t][1]} |"
                       for t in INTROS)
    return f"""\
# Explain mode

`xpnet explain TOPIC` trains a network for a few steps and shows what one component
computes, with the maths beside the numbers. The numbers are not recomputed for the
occasion: layers, losses and optimizers report each quantity they compute to a tracer
(`xpnet.trace`) from inside the code that trains, one line per place
(`trace.emit(component, phase, **values)`), and explain mode prints what was recorded.
While it records, the layers compute with the model's own engine (here the plain one,
`xpnet.nn.ops.Ops`), never with the buffered engine that reuses arrays during training, so
each recorded value is one the computation formed and nothing overwrites it later. With no
tracer active, those reports cost nothing measurable.

Each page below answers one question with the output of `xpnet explain TOPIC --steps {STEPS}`.

| page | command | the question it answers |
|---|---|---|
{topics}

## The tiny network

To keep every array small enough to print, explain mode trains a tiny network: 6 points
of the spiral data (2 per class, 3 classes, at radii 0.5 and 1: every arm starts at the
origin, and points there teach nothing), full batch, through
{", ".join(layers[:-1])} and {layers[-1]}, with categorical cross-entropy, seed 0 and
NumPy. Each optimizer page uses its own optimizer; the other pages use Adam. The dropout
page adds a `Dropout` layer after the ReLU, and the dense page switches on small L1 and L2
penalties on the output layer, the one it explains (the first layer skips computing `dx`:
nothing uses the gradient with respect to the data).

## Options

```console
$ xpnet explain adam                    # plain text, 3 steps
$ xpnet explain adam --steps 5          # more steps
$ xpnet explain adam --full             # every recorded array at every step
$ xpnet explain adam --markdown         # Markdown, as in these pages
$ xpnet explain dense --seed nnfs       # faithful mode: the book's values, bit for bit
$ xpnet explain adam --json             # one JSON object per line: every recorded value
$ xpnet explain adam --preset ch15      # a chapter's model; big arrays abridged
$ xpnet explain adam --plot adam.png    # plot Adam over a 2000-step run of ch15
$ xpnet explain relu --plot relu.png    # any topic: its figure over a whole run
```

`--json` first prints the run's configuration (optimizer settings, layers), then one event
per line: the component, the quantity, the step, the parameter it belongs to and the full
value, enough to recompute every step (the [Adam page](adam.md#recompute-adam-from-the-json)
does). `--seed` and `--backend` choose the random stream and the array library.

These pages are generated by `docs/gen_explain.py` from the command's output, and
`tests/test_docs.py` fails when they no longer match it.
"""


def draw(out: Path, name: str, figure: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """Draw ``figure(path)`` into ``out/name`` atomically; return the data it plotted."""
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=out)  # matplotlib infers the format
    os.close(fd)
    try:
        data = figure(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out / name)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return data


def plot_section(out: Path) -> str:
    """Draw the Adam plot into ``out`` (atomically) and describe it from its data."""
    import numpy as np

    from xpnet.explain import adam_plot

    data = draw(out, PLOT["file"], lambda path: adam_plot(path, preset=PLOT["preset"],
                                                          steps=PLOT["steps"]))
    steps = np.asarray(data["steps"])
    lr = np.asarray(data["lr"])
    q = np.asarray(data["effective_step_percentiles"])  # 5th, 50th, 95th per step
    mid = int(np.searchsorted(steps, steps[-1] // 10))
    n = int(steps[-1])
    reading = _fill(f"""
The decay schedule lowers `lr_t` from {lr[0]:.3g} to {lr[-1]:.3g} over the run,
by {100 * (1 - lr[-1] / lr[0]):.1f}%, the same for every parameter. The step-size multiplier
changes much more: its median goes from {q[0, 1]:.3g} at step {steps[0]} to
{q[mid, 1]:.3g} at step {steps[mid]} and {q[-1, 1]:.3g} at step {n},
{q[0, 1] / q[-1, 1]:.0f} times smaller, as `v_hat` fills with the squared gradients. At
step {n} it still spans {q[-1, 0]:.3g} to {q[-1, 2]:.3g} between the 5th and 95th
percentiles, a factor of {q[-1, 2] / q[-1, 0]:.0f} between parameters that share one
`lr_t`. Most of the change in Adam's step factor comes from `v_hat`, parameter by
parameter, not from the schedule. (At step 1, `m_hat` is `g` up to rounding and the
multiplier is `lr / (|g| + eps)`, so its large values there only undo small gradients:
every first update is `±lr`, to within `eps / |g|`.)""")
    return f"""\
## Over a whole run

Three steps cannot show what the decay schedule and `v_hat` do over training. This plot
follows Adam through {n} steps of chapter 15's model (preset `{PLOT["preset"]}`, seed 0):
the learning rate, the spread over all the model's parameters of the step-size multiplier
`lr_t / (sqrt(v_hat) + eps)` (the factor by which Adam multiplies `m_hat`), and the medians
of `|m|` and `sqrt(v)`.

![Adam over {n} steps of the {PLOT["preset"]} preset: the learning rate, the 5th to 95th
percentiles and the median of the step-size multiplier, and the medians of |m| and
sqrt(v)]({PLOT["file"]})

{reading}

To draw it yourself:

```console
$ xpnet explain adam --plot {PLOT["file"]}
```

or, in Python, `xpnet.explain.adam_plot("{PLOT["file"]}", preset="{PLOT["preset"]}",
steps={n})`, which also returns the plotted data."""


def caption(topic: str, data: dict[str, Any]) -> str:
    """One line on what ``xpnet explain TOPIC --plot`` drew, its numbers read from ``data``."""
    import numpy as np

    t = np.asarray(data["steps"])
    first, last = f"step {t[0]}", f"step {t[-1]}"
    if topic == "softmax":
        top = np.asarray(data["probabilities"]).max(axis=2)  # (steps, samples)
        settled = [int(t[np.argmax(top[:, i] > 0.9)]) if (top[:, i] > 0.9).any() else None
                   for i in range(top.shape[1])]
        return (f"The largest probability of samples {', '.join(map(str, data['samples']))}: "
                f"{', '.join(f'{p:.2f}' for p in top[0])} at {first}, "
                f"{', '.join(f'{p:.3f}' for p in top[-1])} at {last}; above 0.9 from steps "
                f"{', '.join(str(s) for s in settled)}.")
    if topic == "dense":
        w0, w1 = np.asarray(data["first"]), np.asarray(data["last"])
        return (f"The output layer's {w0.size} weights: standard deviation {w0.std():.3g} at "
                f"{first}, {w1.std():.3g} at {last}; the largest in size {np.abs(w0).max():.3g}, "
                f"then {np.abs(w1).max():.3g}; smaller than 0.01: {np.sum(np.abs(w0) < 0.01)} "
                f"at {first}, {np.sum(np.abs(w1) < 0.01)} at {last}, of which "
                f"{np.sum(w1 == 0)} exactly 0.")
    if topic in ("relu", "dropout"):
        f = np.asarray(data["fraction"])
        what = "active" if topic == "relu" else "kept"
        keep = (f", around the dashed line: each unit is kept with probability 1 - rate = "
                f"{data['keep']:.0%}" if topic == "dropout" else "")
        return (f"The fraction of units {what}: {f[0]:.0%} at {first}, {f[-1]:.0%} at {last}; "
                f"{f.mean():.1%} on average over the {t.size} steps, from {f.min():.0%} to "
                f"{f.max():.0%}{keep}.")
    if topic == "loss":
        loss = np.asarray(data["loss"])
        return (f"The data loss: {loss[0]:.4g} at {first}, {loss[-1]:.3g} at {last}, "
                f"{_times(loss[0] / loss[-1])} times smaller.")
    lr, q = np.asarray(data["lr"]), np.asarray(data["update_percentiles"])
    return (f"`lr_t` falls from {lr[0]:.3g} to {lr[-1]:.3g} (by {1 - lr[-1] / lr[0]:.1%}); the "
            f"median of |update| / `lr_t` over the parameters, from {q[0, 1]:.3g} at {first} "
            f"to {q[-1, 1]:.3g} at {last}, {_times(q[0, 1] / q[-1, 1])} times smaller.")


def _times(ratio: float) -> str:
    """A ratio to 3 significant digits, whole numbers with thousands separators above 100."""
    return f"{ratio:,.0f}" if ratio >= 100 else f"{ratio:.3g}"


def figure_section(topic: str, out: Path) -> str:
    """Draw ``xpnet explain TOPIC --plot`` into ``out`` and caption it from its data."""
    from xpnet.explain import plot

    name = f"{topic}.png"
    data = draw(out, name, lambda path: plot(topic, path, steps=FIGURE_STEPS))
    return f"""\
## Over a whole run

What `xpnet explain {topic} --plot {name}` draws: {FIGURE_STEPS} steps of the same tiny
network (seed 0).

![{INTROS[topic][0]} over {FIGURE_STEPS} steps of the tiny network]({name})

*{caption(topic, data)}*"""


#: the weight followed by the --param sections, and for how many steps
PARAM = {"spec": "Dense[0].W[0,0]", "steps": 30}


def param_section(topic: str) -> str:
    """``xpnet explain TOPIC --param ...``: one weight through 30 steps, one row per step."""
    from xpnet.cli import main

    out = io.StringIO()
    args = ["explain", topic, "--param", PARAM["spec"], "--steps", str(PARAM["steps"])]
    status = main(args, out=out)
    if status != 0:
        msg = f"xpnet {' '.join(args)} failed with status {status}"
        raise RuntimeError(msg)
    return f"""\
## One weight through the whole run

`--param` follows a single weight and prints one row per step with every value the optimizer
computed for it. The column `momentum` marks steps that go against what the current gradient
asks (the step moves the weight *with* `g`: the momentum of earlier gradients wins), and
`g = 0` marks a weight that moves with no gradient at all (its ReLU unit is dead on every
sample of the tiny network, yet `m` keeps pushing it). `|step|/lr_t` is how much of the
learning rate the step used.

```console
$ xpnet explain {topic} --param "{PARAM['spec']}" --steps {PARAM['steps']}
```

```text
{out.getvalue().rstrip()}
```"""


def cost_section() -> str:
    """The book's loop against the vectorised backward, from the recorded timing."""
    import json

    cost = json.loads(COST.read_text(encoding="utf-8"))
    return f"""\
## What the loop costs

The book's loop builds one {cost["k"]} x {cost["k"]} Jacobian per sample and multiplies it in
Python; the vectorised form is three array operations on the whole batch. Timed on
{cost["n"]} samples of {cost["k"]} classes (NumPy, the best of 5 runs of each, one BLAS thread):
the loop took {1000 * cost["loop_s"]:.1f} ms, the vectorised form
{1000 * cost["vectorised_s"]:.3f} ms: the loop is **{cost["ratio"]:.0f} times slower**, for
the same gradient (largest difference {cost["max_abs_difference"]:.2g}). The figures are
recorded in `docs/explain/softmax_cost.json`; `python docs/gen_explain.py --measure` times
them again on your machine (`xpnet.explain.softmax_backward_cost`)."""


def measure() -> None:
    """Time the softmax backward loop against the vectorised form; record it in COST."""
    import json

    from xpnet.explain import softmax_backward_cost

    write(COST, json.dumps(softmax_backward_cost(n=3000, k=3, repeats=5), indent=1) + "\n")


def topic_page(topic: str, out: Path) -> str:
    title, question, answer = INTROS[topic]
    parts = [
        f"# {title}, step by step",
        f"> *{question}*",
        _para(answer),
        f"""\
The network is the [tiny network](index.md#the-tiny-network) of explain mode, trained for
{STEPS} full-batch steps (seed 0, NumPy). To see the same on your machine:

```console
$ xpnet explain {topic} --steps {STEPS}
```

prints it as plain text, `--markdown` as below: a summary you can read in a minute (the
formulas, one step's key numbers, what they show). `--full` adds every recorded array at
every step, `--json` prints one event per line (the configuration first): every recorded
value in full, enough to recompute each step. `--plot FILE.png` draws the topic over a whole
run, and `--seed nnfs` runs in faithful mode, where every value is the book's own.""",
        demote(command_output(topic), f"What `xpnet explain {topic} --steps {STEPS}` prints"),
    ]
    if topic == "softmax":
        parts.append(cost_section())
    if topic in ("adam", "sgd"):
        parts.append(param_section(topic))
    if topic != "adam":
        parts.append(figure_section(topic, out))
    else:
        parts.append(plot_section(out))
        parts.append(f"""\
## Recompute Adam from the JSON

The `--json` events hold every value Adam read and wrote. From the gradients `g` alone and
the configuration line, this replays the three steps of `Dense[0].W` and finds the
library's `p_after` at each one:

{JSON_SNIPPET}""")
    return "\n\n".join(parts) + "\n"


def write(path: Path, text: str) -> None:
    """Replace ``path`` atomically (a reader never sees half a page)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0o600 is for secrets, not pages
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def generate(out: Path) -> list[Path]:
    """Write every page (and its figure) into ``out``; returns the pages written."""
    out.mkdir(parents=True, exist_ok=True)
    pages = [out / "index.md"]
    write(pages[0], index_page())
    for topic in INTROS:
        pages.append(out / f"{topic}.md")
        write(pages[-1], topic_page(topic, out))
    return pages


def stale(generated: Path, committed: Path) -> list[str]:
    """The .md pages that differ between the two folders (missing or extra ones too)."""
    names = {p.name for p in generated.glob("*.md")} | {p.name for p in committed.glob("*.md")}
    return sorted(n for n in names if not (generated / n).is_file()
                  or not (committed / n).is_file()
                  or not filecmp.cmp(generated / n, committed / n, shallow=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT,
                        help="folder to write the pages in (default: docs/explain)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the committed pages are stale")
    parser.add_argument("--measure", action="store_true",
                        help="time the softmax loop again and rewrite softmax_cost.json")
    args = parser.parse_args(argv)
    if args.measure or not COST.is_file():
        measure()
    from xpnet.explain import TOPICS

    if set(TOPICS) != set(INTROS):
        msg = f"topics without an intro or intros without a topic: {set(TOPICS) ^ set(INTROS)}"
        raise SystemExit(msg)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            generate(Path(tmp))
            differ = stale(Path(tmp), args.out)
        if differ:
            print(f"{STALE} ({', '.join(differ)} differ)")
            return 1
        print(f"{args.out}: up to date")
        return 0
    for page in generate(args.out):
        print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
