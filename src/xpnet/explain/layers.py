"""The layer topics (softmax, dense, relu, dropout, loss): what each computes, forward and
backward, one worked number at a time (the summary) and every recorded array (``--full``)."""

from __future__ import annotations

import inspect
import textwrap
import time
from typing import Any

import numpy as np

from ..bench import nnfs_book
from ..model import Model
from ..nn.activations import Softmax, softmax_jacobian
from ..nn.layers import Dense
from ..nn.ops import Ops
from ..trace import select
from .network import faithful_note
from .render import Explanation, fmt, indent, one, show

__all__ = ["BOOK_SOFTMAX_BACKWARD", "render_activation", "render_dense", "render_loss",
           "render_softmax", "softmax_backward_cost", "softmax_backward_loop"]

Sections = list[tuple[str, str]]

#: the book's Activation_Softmax.backward, as printed (shown on the softmax page)
BOOK_SOFTMAX_BACKWARD = textwrap.dedent(inspect.getsource(nnfs_book.Activation_Softmax.backward))


def softmax_backward_loop(ops: Ops, s: Any, dy: Any) -> Any:
    """The book's per-sample backward: for each sample, its Jacobian ``diag(s) - s s^T``
    times its ``dy`` (``ops.matmul``: in faithful mode the book's float64 products).

    Parameters
    ----------
    s, dy : array, shape (n, k)
        Softmax outputs and the gradient arriving at them.

    Returns
    -------
    array, shape (n, k)
        The same gradient as :meth:`Softmax.backward`, one sample at a time.
    """
    xp = ops.xp
    rows = [ops.matmul(softmax_jacobian(s[i:i + 1, :])[0, ...], xp.reshape(dy[i, :], (-1, 1)))
            for i in range(s.shape[0])]
    return xp.stack([xp.reshape(r, (-1,)) for r in rows])


def softmax_backward_cost(n: int = 3000, k: int = 3, repeats: int = 5,
                          seed: int = 0) -> dict[str, float]:
    """Time the per-sample loop against the vectorised backward on ``n`` samples of ``k``
    classes (NumPy, plain engine); the best of ``repeats`` runs of each.

    Returns ``n, k, loop_s, vectorised_s, ratio`` (loop over vectorised) and
    ``max_abs_difference`` between the two gradients.
    """
    rng = np.random.default_rng(seed)
    softmax = Softmax()
    s = softmax.forward(rng.standard_normal((n, k)).astype(np.float32))
    dy = rng.standard_normal((n, k)).astype(np.float32)
    ops = softmax.ops
    assert ops is not None

    def best(run: Any) -> tuple[float, Any]:
        times, out = [], None
        for _ in range(repeats):
            start = time.perf_counter()
            out = run()
            times.append(time.perf_counter() - start)
        return min(times), out

    loop_s, dx_loop = best(lambda: softmax_backward_loop(ops, s, dy))
    vec_s, dx = best(lambda: softmax.backward(dy))
    return {"n": n, "k": k, "loop_s": loop_s, "vectorised_s": vec_s, "ratio": loop_s / vec_s,
            "max_abs_difference": float(np.abs(dx_loop - dx).max())}


def render_softmax(ex: Explanation, model: Model) -> tuple[Sections, Sections]:
    name = model.layers[-1].name
    get = {q: one(ex.events, component=name, quantity=q, step=1)
           for q in ("x", "max", "shifted", "exp", "sum", "y")}
    forward = ("Forward, on a batch", "\n".join([
        "logits x (one row per sample):", show(get["x"]),
        "row maxima, subtracted so that exp never overflows (exp(1000) is inf in any float; "
        "softmax(x) = softmax(x - c) for any c):", show(get["max"]),
        "x - max (every entry <= 0, so exp is in (0, 1]):", show(get["shifted"]),
        "exp(x - max):", show(get["exp"]),
        "row sums:", show(get["sum"]),
        "probabilities s = exp / sum (each row sums to 1):", show(get["y"]),
    ]))
    faithful = ("Faithful to the book", faithful_note("softmax", ex.config["seed"]))
    if get["y"] is None or get["y"].value is None or get["x"] is None:
        return [forward, faithful], [forward, faithful]
    s_all, x_all = np.asarray(get["y"].value), np.asarray(get["x"].value)
    i = int(np.argmax(s_all.max(axis=1) - s_all.min(axis=1)))  # the most decided sample
    e_i = np.exp(x_all[i] - x_all[i].max())
    one_sample = ("Forward, on one sample", "\n".join([
        "s = exp(x - max(x)) / sum(exp(x - max(x))), row by row, where x are the logits "
        "(the last Dense layer's outputs, one row per sample, one column per class). "
        f"For sample {i} at step 1:",
        indent(f"x               = {fmt(x_all[i])}\n"
               f"x - max(x)      = {fmt(x_all[i] - x_all[i].max())}\n"
               f"exp(x - max(x)) = {fmt(e_i)}, sum {fmt(e_i.sum())}\n"
               f"s               = {fmt(s_all[i])}"),
        f"predicted class argmax(s) = {int(np.argmax(s_all[i]))}. Subtracting max(x) "
        "changes no probability (softmax(x - c) = softmax(x) for any c: the factor exp(-c) "
        "cancels between the exponentials and their sum) but keeps exp from overflowing: "
        "exp(1000) is inf in float32 and float64, while exp of x - max(x) <= 0 lies in "
        "(0, 1].",
    ]))
    sections, summary = [forward, one_sample], [one_sample]
    t = ex.config["steps"] + 1  # the evaluation pass after training
    back = {q: one(ex.events, component=name, quantity=q, step=t)
            for q in ("y", "dy", "dot", "dx", "dx_loop")}
    fused = one(ex.events, component="SoftmaxCrossentropy", quantity="dx", step=t)
    if any(back[q] is None for q in ("y", "dy", "dx", "dx_loop")) or fused is None:
        return [*summary, faithful], [*sections, faithful]
    s, dy, dx, dx_loop, fused_v = (np.asarray(v) for v in (
        back["y"].value, back["dy"].value, back["dx"].value,  # type: ignore[union-attr]
        back["dx_loop"].value, fused.value))  # type: ignore[union-attr]
    i = int(np.argmax(s.max(axis=1) - s.min(axis=1)))
    J = np.asarray(softmax_jacobian(s[i:i + 1]))[0]
    n = s.shape[0]
    after = (f"(The backward passes use the network after its {ex.config['steps']} recorded "
             "step(s), evaluated without dropout. The gradient arriving at s comes from "
             "cross-entropy: dy = -y_true / s / n, with y_true the one-hot labels and "
             f"n = {n} the number of samples, so it is non-zero only at each sample's true "
             "class.)")
    loop = ("Backward, the book's way: one Jacobian per sample", "\n".join([
        after,
        "The book's Activation_Softmax.backward builds each sample's Jacobian "
        "J = diag(s) - s s^T (ds_a/dx_b = s_a * (delta_ab - s_b)) and multiplies it by "
        "that sample's dy:",
        indent(BOOK_SOFTMAX_BACKWARD.rstrip()),
        f"For sample {i}, s = {fmt(s[i])}, J =",
        indent(fmt(J)),
        "each column sums to 0 (the probabilities always sum to 1). With that sample's "
        f"dy[{i}] = {fmt(dy[i])}, J @ dy[{i}] = {fmt(dx_loop[i])}.",
        "The loop run over the batch (dx_loop), and the vectorised "
        "dx = s * (dy - sum(dy * s, axis=1)) that the library computes, with no n x k x k "
        f"Jacobians (n = {n} samples, k = {s.shape[1]} classes):",
        indent(f"dx_loop[{i}]    = {fmt(dx_loop[i])}\n"
               f"vectorised[{i}] = {fmt(dx[i])}"),
        f"largest |dx_loop - vectorised| over the batch: {np.abs(dx_loop - dx).max():.3g} "
        "(the same gradient; the sums run in another order). The loop pays for a k x k "
        "matrix and two Python-level products per sample: docs/explain/softmax.md gives "
        "its measured cost against the vectorised form.",
    ]))
    fused_s = ("Backward, fused with cross-entropy", "\n".join([
        f"Softmax followed by cross-entropy simplifies to (s - y_one_hot) / n, n = {n} "
        "samples (y_one_hot: 1 at each sample's true class, else 0):",
        indent(fmt(fused_v)),
        f"largest |fused - vectorised| = {np.abs(fused_v - dx).max():.3g}: the "
        "same gradient, in one subtraction instead of a division, a product and "
        "a row reduction (and without dividing by small probabilities).",
    ]))
    vectorised = ("Backward, vectorised: every array", "\n".join([
        "dy:", indent(fmt(dy)),
        f"sum(dy * s) per sample (always -1/n = {fmt(-1 / n)} here: dy = -y_true/s/n is "
        "non-zero only at the true class, where dy * s = -1/n):", show(back["dot"]),
        "dx (vectorised):", indent(fmt(dx)),
        "dx_loop (the book's loop):", indent(fmt(dx_loop)),
    ]))
    return ([*summary, loop, fused_s, faithful],
            [*sections, loop, vectorised, fused_s, faithful])


def render_dense(ex: Explanation, model: Model) -> tuple[Sections, Sections]:
    # the output layer: it has L1/L2 penalties here, and a previous layer to pass dx to
    # (the first layer skips dx: nothing uses the gradient with respect to the data)
    layer = [layer for layer in model.layers if isinstance(layer, Dense)][-1]
    name, t = layer.name, 1
    e = {q: one(ex.events, component=name, quantity=q, step=t) for q in (
        "x", "W", "b", "y", "dy", "dW_data", "db_data", "dW_l1", "dW_l2", "db_l1", "db_l2",
        "dW", "db", "dx", "reg_loss")}
    n = e["x"].shape[0] if e["x"] else "n"
    preset = ex.config["preset"]
    scale = (f"init_scale = {layer.init_scale} here; the book's Layer_Dense uses 0.01 "
             "(Dense's default init_scale), which on this tiny network would leave every "
             "output near 0" if preset is None else
             f"init_scale = {layer.init_scale}, as preset {preset} sets it after its chapter "
             "(the book's Layer_Dense uses 0.01, Dense's default)")
    init = ("The layer shown, and its start", "\n".join([
        f"{name}, the network's output layer ({layer.n_in} inputs -> {layer.n_out} neurons). "
        f"W has shape (n_in, n_out) = ({layer.n_in}, {layer.n_out}): one column per neuron, "
        "so the forward pass is x @ W with no transpose. It starts as "
        f"init_scale * randn(n_in, n_out) with {scale}. Small and random: random so that the "
        "neurons differ, small so that the first outputs, and the steps they cause, stay "
        f"small. b starts at zeros(1, {layer.n_out}). The initial values (the weights of "
        "step 1):",
        "W =", show(e["W"]), "b =", show(e["b"]),
    ]))
    forward = ("Forward: y = x @ W + b", "\n".join([
        f"x, shape ({n}, {layer.n_in}):", show(e["x"]),
        f"W, shape ({layer.n_in}, {layer.n_out}):", show(e["W"]),
        f"b, shape (1, {layer.n_out}) (broadcast over the rows):", show(e["b"]),
        f"y = x @ W + b, shape ({n}, {layer.n_out}):", show(e["y"]),
    ]))
    worked = ("One entry, worked", _worked_entry(e))
    backward = ("Backward", "\n".join([
        "dy = dL/dy arrives from the next layer:", show(e["dy"]),
        "dW = x^T @ dy (each weight's gradient sums its input times the output's "
        "gradient over the batch):", show(e["dW_data"]),
        "db = sum(dy, axis=0):", show(e["db_data"]),
        "dx = dy @ W^T (passed on to the previous layer):", show(e["dx"]),
    ]))
    sections = [init, forward, worked, backward]
    penalised = any(lam > 0 for lam in (layer.weight_l1, layer.weight_l2, layer.bias_l1,
                                        layer.bias_l2))
    summary = [init, worked, ("Backward", "\n".join([
        "dy = dL/dy, the gradient of the loss with respect to y, arrives from the next layer; "
        f"then dW = x^T @ dy, shape ({layer.n_in}, {layer.n_out}) like W; db = sum(dy, axis=0),"
        f" shape (1, {layer.n_out}) like b; dx = dy @ W^T, shape ({n}, {layer.n_in}) like x, "
        "passed on to the previous layer. "
        + ("The L1 and L2 penalties add their own gradients to dW and db, worked below for "
           "one entry" if penalised else "This layer has no L1 or L2 penalty, so nothing is "
           "added to dW and db") + " (--full prints every array).",
        _worked_gradient(layer, e)]))]
    reg = []
    for q, formula in (("dW_l1", f"weight_l1 * sign(W) = {layer.weight_l1} * sign(W)"),
                       ("dW_l2", f"2 * weight_l2 * W = 2 * {layer.weight_l2} * W"),
                       ("db_l1", f"bias_l1 * sign(b) = {layer.bias_l1} * sign(b)"),
                       ("db_l2", f"2 * bias_l2 * b = 2 * {layer.bias_l2} * b")):
        if e[q] is not None:
            reg += [f"{q} = {formula}:", show(e[q])]
    if reg:
        reg += ["dW with its penalty terms:", show(e["dW"]),
                "db with its penalty terms:", show(e["db"])]
        sections.append(("Regularization: L1 and L2 terms added to dW and db", (
            "The penalty adds its own gradient (sign(0) is taken as +1, as in the book):\n"
            + "\n".join(reg))))
    penalty = _penalty(layer, e)
    if penalty:
        sections.append(("Regularization loss", penalty))
        summary.append(("Regularization loss", penalty))
    faithful = ("Faithful to the book", faithful_note("dense", ex.config["seed"]))
    return [*summary, faithful], [*sections, faithful]


def _worked_entry(e: dict[str, Any]) -> str:
    if any(e[q] is None or e[q].value is None for q in ("x", "W", "b", "y")):
        return "(the arrays were summarised: run on the tiny network to see one entry)"
    x, W, b, y = (np.asarray(e[q].value) for q in ("x", "W", "b", "y"))
    # the terms with 7 digits, the sum with 6: adding the printed terms gives the printed sum
    terms = " + ".join(f"{fmt(x[0, i], 7)} * {fmt(W[i, 0], 7)}" for i in range(x.shape[1]))
    total = float(x[0] @ W[:, 0] + b[0, 0])
    return "\n".join([
        "y[0,0] = sum_i x[0,i] W[i,0] + b[0,0]: sample 0's input times neuron 0's weights.",
        indent(f"y[0,0] = {terms} + {fmt(b[0, 0], 7)}\n       = {fmt(total, 6)}"),
        f"and the layer computed y[0,0] = {fmt(y[0, 0], 6)}.",
    ])


def _worked_gradient(layer: Dense, e: dict[str, Any]) -> str:
    """One entry of dW, from x and dy, with the penalty terms the layer adds to it."""
    if any(e[q] is None or e[q].value is None for q in ("x", "dy", "W", "dW")):
        return "(the arrays were summarised: run on the tiny network to see one entry)"
    x, dy, W, dW = (np.asarray(e[q].value) for q in ("x", "dy", "W", "dW"))
    i = int(np.argmax((x != 0).sum(axis=0)))  # the input with the fewest zeros (ReLU'd)
    data = float(x[:, i] @ dy[:, 0])
    terms = " + ".join(f"{fmt(x[s, i], 7)} * {fmt(dy[s, 0], 7)}" for s in range(x.shape[0]))
    lines = [f"dW[{i},0] = sum_s x[s,{i}] * dy[s,0] over the samples s"
             + (", plus the penalties' terms:" if layer.weight_l1 or layer.weight_l2 else ":"),
             f"    {'x^T @ dy':<10} = {terms}",
             f"    {'':<10} = {fmt(data, 6)}"]
    total = data
    w = float(W[i, 0])
    if layer.weight_l1:
        sign = 1.0 if w >= 0 else -1.0  # the book's sign: +1 at 0
        lines.append(f"    {'+ l1 term':<10} = weight_l1 * sign(W[{i},0]) = {layer.weight_l1} * "
                     f"{sign:+.0f} = {fmt(layer.weight_l1 * sign, 6)}")
        total += layer.weight_l1 * sign
    if layer.weight_l2:
        lines.append(f"    {'+ l2 term':<10} = 2 * weight_l2 * W[{i},0] = 2 * {layer.weight_l2} * "
                     f"{fmt(w, 7)} = {fmt(2 * layer.weight_l2 * w, 6)}")
        total += 2 * layer.weight_l2 * w
    if total != data:
        lines.append(f"    {f'dW[{i},0]':<10} = {fmt(total, 6)}")
    lines.append(f"and backward computed dW[{i},0] = {fmt(dW[i, 0], 6)}. db gets the same "
                 "penalty terms from b (bias_l1 * sign(b) + 2 * bias_l2 * b; sign(0) is +1, "
                 "as in the book)." if layer.bias_l1 or layer.bias_l2 else
                 f"and backward computed dW[{i},0] = {fmt(dW[i, 0], 6)}.")
    return "\n".join(lines)


def _penalty(layer: Dense, e: dict[str, Any]) -> str:
    terms = [(lam, kind, p) for lam, kind, p in (
        (layer.weight_l1, "l1", "W"), (layer.weight_l2, "l2", "W"),
        (layer.bias_l1, "l1", "b"), (layer.bias_l2, "l2", "b")) if lam > 0]
    if not terms or e["W"] is None or e["W"].value is None or e["b"] is None:
        return ""
    arrays = {"W": np.asarray(e["W"].value), "b": np.asarray(e["b"].value)}
    parts, total = [], 0.0
    for lam, kind, p in terms:
        s = float(np.abs(arrays[p]).sum() if kind == "l1" else (arrays[p] ** 2).sum())
        parts.append(f"{lam} * {fmt(s, 6)}")
        total += lam * s
    lines = [
        "The penalty added to the data loss: lambda1 * sum|w| + lambda2 * sum w^2, for "
        "the weights and for the biases (weight_l1, weight_l2, bias_l1, bias_l2 = "
        f"{layer.weight_l1}, {layer.weight_l2}, {layer.bias_l1}, {layer.bias_l2}). At "
        "step 1 (b is still 0, so its terms add 0):",
        indent(" + ".join(f"{lam} * sum{'|' + p + '|' if kind == 'l1' else ' ' + p + '^2'}"
                          for lam, kind, p in terms)
               + f"\n  = {' + '.join(parts)}\n  = {fmt(total, 6)}"),
    ]
    if e["reg_loss"] is not None:
        lines.append(f"and training computed {fmt(e['reg_loss'].value, 6)}.")
    return "\n".join(lines)


def render_activation(ex: Explanation, model: Model) -> tuple[Sections, Sections]:
    kind = "ReLU" if ex.topic == "relu" else "Dropout"
    layer = next(layer for layer in model.layers if type(layer).__name__ == kind)
    t = 1
    rows = []
    for q in ("x", "mask", "y", "dy", "dx"):
        e = one(ex.events, component=layer.name, quantity=q, step=t)
        if e is not None:
            rows += [f"{q}:", show(e)]
    keep = getattr(layer, "keep", None)
    rate = getattr(layer, "rate", None)
    what = ("y = max(x, 0); dx = dy where x > 0, else 0 (the gradient at exactly 0 is "
            "taken as 0). dy is the gradient of the loss with respect to y, arriving from "
            "the next layer; x, y, dy and dx all have shape (samples, units)." if kind == "ReLU"
            else f"While training, Dropout(rate={rate}) drops each unit with probability "
            f"rate = {rate}, so it keeps it with probability keep = 1 - rate = {keep} (the "
            "book's Layer_Dropout stores this keep probability as self.rate). The mask is "
            "binomial(1, keep) / keep: 0 for a dropped unit, 1/keep = "
            f"{fmt(1 / keep if keep else None)} for a kept one, so the expected activation "
            "is unchanged (keep * 1/keep = 1); y = x * mask and dx = dy * mask, where dy is "
            "the gradient arriving from the next layer. When not training, dropout is the "
            "identity.")
    faithful = ("Faithful to the book", faithful_note(ex.topic, ex.config["seed"]))
    rule, step = (f"What {kind} computes", what), (f"Step {t}", "\n".join(rows))
    reading = ("What the numbers show", _activation_reading(ex, layer.name, kind, keep))
    return [rule, step, reading, faithful], [rule, step, reading, faithful]


def _activation_reading(ex: Explanation, name: str, kind: str, keep: float | None) -> str:
    lines = []
    for t in sorted({e.step for e in select(ex.events, component=name)}):
        q = "y" if kind == "ReLU" else "mask"
        e = one(ex.events, component=name, quantity=q, step=t)
        if e is None or e.value is None:
            continue
        v = np.asarray(e.value)
        word = "active (x > 0)" if kind == "ReLU" else "kept"
        lines.append(f"step {t}: {int((v > 0).sum())} of {v.size} units {word} "
                     f"({(v > 0).mean():.0%})" + (f", keep = {keep:.0%}" if keep else ""))
    if kind == "ReLU":
        lines.append("dx is 0 wherever x <= 0 (y = 0 there too): no gradient flows back "
                     "through a unit the ReLU switched off, whatever dy says (--plot draws the "
                     "active fraction over a whole run).")
    else:
        lines.append("dx is 0 exactly where the mask is 0 (a dropped unit). Where x was "
                     "already 0 (a ReLU before it was off) y is 0 too, but a kept unit still "
                     "passes dy / keep back: dropout's gradient follows its mask, not its "
                     "output (--plot draws the kept fraction over a whole run).")
    return "\n".join(lines)


def render_loss(ex: Explanation, model: Model) -> tuple[Sections, Sections]:
    t = 1
    get = {q: one(ex.events, component="CategoricalCrossentropy", quantity=q, step=t)
           for q in ("y_pred", "sample_losses", "data_loss")}
    get.update({q: one(ex.events, component="SoftmaxCrossentropy", quantity=q, step=t)
                for q in ("s", "y_one_hot", "dx")})
    n = get["y_pred"].shape[0] if get["y_pred"] else "n"
    rows = [
        "y_pred: the probabilities s, the softmax output (one row per sample):",
        show(get["y_pred"]),
        "sample_losses = -log(s_i[y_i]), minus the log of each sample's true-class "
        "probability:",
        show(get["sample_losses"]),
        "data_loss = mean(sample_losses):", show(get["data_loss"]),
        "y_one_hot: 1 at each sample's true class y_i, else 0:", show(get["y_one_hot"]),
        f"dx = (s - y_one_hot) / n, n = {n}: the gradient at the logits that the fused softmax "
        "and cross-entropy backward sends (the same s as y_pred above):", show(get["dx"]),
    ]
    worked = _worked_loss(get)
    if worked:
        rows.insert(4, worked)
    rule = ("Categorical cross-entropy", (
        "loss_i = -log(clip(s_i[y_i], 1e-7, 1 - 1e-7)), where s_i is sample i's row of "
        "predicted probabilities and y_i its true class (the clip keeps log away from "
        "log(0) = -inf); the data loss is their mean over the n samples. With a softmax "
        "output, the gradient of the data loss at the logits is (s - y_one_hot) / n."))
    losses = [one(ex.events, component="CategoricalCrossentropy", quantity="data_loss",
                  step=s) for s in sorted({e.step for e in ex.events})]
    shown = ", ".join(fmt(e.value, 5) for e in losses if e is not None)
    reading = ("What the numbers show", (
        f"The data loss over the recorded steps: {shown}. A uniform guess over 3 classes "
        f"scores -log(1/3) = {np.log(3):.5g}; each sample's loss is -log of the probability "
        "given to its true class, so a confident wrong answer costs the most."))
    faithful = ("Faithful to the book", faithful_note("loss", ex.config["seed"]))
    step = (f"Step {t}", "\n".join(rows))
    return [rule, step, reading, faithful], [rule, step, reading, faithful]


def _worked_loss(get: dict[str, Any]) -> str:
    """One sample's loss and its gradient row, from the recorded arrays."""
    if any(get[q] is None or get[q].value is None for q in ("y_pred", "y_one_hot",
                                                              "sample_losses", "dx")):
        return ""
    s, onehot, losses, dx = (np.asarray(get[q].value) for q in (
        "y_pred", "y_one_hot", "sample_losses", "dx"))
    n, y = s.shape[0], int(np.argmax(onehot[0]))
    return indent(
        f"sample 0: true class {y}, s_0[{y}] = {fmt(s[0, y], 6)}, loss = -log({fmt(s[0, y], 6)}) "
        f"= {fmt(-np.log(s[0, y]), 6)} (recorded: {fmt(losses[0], 6)});\n"
        f"its gradient row: (s_0 - y_one_hot_0) / {n} = ({fmt(s[0], 6)} - {fmt(onehot[0])}) "
        f"/ {n} = {fmt(dx[0], 6)}")
