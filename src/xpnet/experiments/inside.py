"""What happens inside the network: the answer sheets to questions 3, 4 and 5 (inside Adam,
inside softmax, inside a dense layer), each computed from seeded runs of a preset's model.

The numbers are the library's own: recorded by :mod:`xpnet.trace` (explain mode's recorder)
from inside the code that trains, or measured by :mod:`xpnet.gradcheck`. Each verdict is
decided by comparisons on those numbers, so a change that moved a number across the line
would change the verdict printed. Each sheet rests on one seed: it shows the mechanism, not
its spread over seeds (the lab's studies measure that).

>>> sheet = adam_sheet(steps=50)
>>> sheet.question, sheet.claims[0].verdict
('3. What happens inside Adam?', 'false')
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from itertools import pairwise
from typing import Any

import numpy as np

from .. import gradcheck, presets
from ..backend import to_numpy
from ..explain import softmax_backward_cost
from ..explain.layers import softmax_backward_loop
from ..explain_param import param_table, record_updates
from ..model import Model
from ..nn.activations import Softmax
from ..nn.layers import Dense
from ..nn.losses import softmax_crossentropy_backward
from ..nn.optimizers import Adam
from ..random import SeedLike
from ..trace import Tracer, by_step
from .sheets import Claim, Sheet, Verdict
from .stats import binomial_sd

__all__ = ["QUESTIONS", "adam_sheet", "dense_sheet", "inside_sheets", "softmax_sheet"]

QUESTIONS = ("3. What happens inside Adam?",
             "4. What happens inside softmax, forward and backward?",
             "5. What happens inside a dense layer, L1 and L2 included?")
#: the last steps compared with the first ones ("late" against "early")
LATE = 100


def inside_sheets(*, preset: str = "ch15", seed: SeedLike = 0,
                  backend: Any = "numpy") -> list[Sheet]:
    """The three sheets, in the order of their questions (about 6 s on NumPy, one core)."""
    kw = {"preset": preset, "seed": seed, "backend": backend}
    return [adam_sheet(**kw), softmax_sheet(**kw), dense_sheet(**kw)]


def _source(preset: str, seed: SeedLike, model: Model, what: str) -> str:
    return (f"Preset {preset}, seed {seed}, {model.backend.name}: {what} One seed: this shows "
            "the mechanism at work, not how much its numbers vary between seeds.")


def _num(v: float) -> str:
    """``v`` to 4 significant digits, in brackets when negative (a term of a written sum)."""
    return f"({v:.4g})" if v < 0 else f"{v:.4g}"


def _record(model: Model, X: Any, components: list[str]) -> dict[tuple[str, str], np.ndarray]:
    """One forward pass (no dropout) under a tracer: ``(component, quantity) -> value``."""
    with Tracer(components=components, full=True, max_size=2**31) as tracer:
        model.forward(X, training=False)
    return {(e.component, e.quantity): np.asarray(e.value) for e in tracer.events}


# -- 3. Adam -----------------------------------------------------------------------------

def adam_sheet(*, preset: str = "ch15", seed: SeedLike = 0, steps: int = 1000,
               backend: Any = "numpy", param: str = "Dense[0].W[0,0]") -> Sheet:
    """Question 3, from every value Adam computed over ``steps`` full-batch steps of the
    preset's model (one weight, ``param``, followed alone)."""
    model, (X, y), _ = presets.build(presets.get(preset), backend=backend, seed=seed)
    opt = model.optimizer
    if not isinstance(opt, Adam):
        msg = f"preset {preset!r} trains with {type(opt).__name__}; the Adam sheet needs Adam."
        raise ValueError(msg)
    events = record_updates(model, X, y, steps)
    b1, b2, eps, lr0, decay = opt.beta_1, opt.beta_2, opt.epsilon, opt.learning_rate, opt.decay
    T, late = steps, min(LATE, steps // 2 or 1)
    t = np.arange(1, T + 1)
    lr = np.concatenate(by_step(events, "lr")[1])
    G, U = (np.stack(by_step(events, q)[1]) for q in ("g", "update"))  # (steps, parameters)
    v, v_hat = (by_step(events, q)[1][-1] for q in ("v", "v_hat"))
    n = v.size
    rows = param_table(param, events).rows
    last = rows[-1]
    dtype = to_numpy(model.layers[0].params["W"]).dtype
    tol = T * float(np.finfo(dtype).eps)  # T roundings in the parameters' float type

    # a cache of recent steps, or an average over all of them?
    w = (1 - b2) * b2 ** (T - t)  # the weight of step i's g**2 in v after step T
    kept = v > 0
    v_all = w @ G**2
    v_err = float(np.max(np.abs(v_all - v)[kept] / v[kept]))
    share = float(np.median((w[-late:] @ G[-late:] ** 2)[kept] / v[kept]))
    half = math.log(2) / -math.log(b2)
    m_window = math.ceil(math.log(0.01) / math.log(b1))  # β1^k < 1%
    which = f"{'all ' if kept.all() else ''}{int(kept.sum())}"
    if v_err <= tol and share < 1 - tol:
        cache = Claim("Adam keeps a cache of a set number of recent epochs", "false", (
            f"false: `m` and `v` are exponential averages over all {T} steps, not a window. "
            f"Rebuilt from all {T} recorded gradients as `v = (1-β2)·Σ β2^(t-i)·g_i²`, `v` "
            f"matches the recorded value for {which} parameters to {v_err:.2g} (relative; "
            f"{T} float roundings allow {tol:.2g}), while the last {late} steps alone give a "
            f"median {share:.0%} of it. A gradient from step 1 still weighs β2^{T - 1} = "
            f"{b2 ** (T - 1):.3g} of the newest one in `v`; half of `v`'s weight lies in the "
            f"last ln 2 / -ln β2 = {half:.0f} steps. `m` forgets faster: there it weighs "
            f"{b1 ** (T - 1):.2g}, below 1% of the newest after {m_window} steps."))
    else:
        cache = Claim("Adam keeps a cache of a set number of recent epochs", "open", (
            f"open: rebuilt from all {T} gradients, `v` differs from the recorded one by "
            f"{v_err:.2g} (tolerance {tol:.2g}); the last {late} steps give {share:.0%}."))

    # does the learning rate fall as the minimum approaches?
    schedule = lr0 / (1 + decay * (t - 1))
    lr_dev = float(np.max(np.abs(lr - schedule)) / lr0)
    ratio = np.abs(U) / lr[:, None]  # |step| / lr_t = |m_hat| / (sqrt(v_hat) + eps)
    early, late_ratio = float(np.median(ratio[1:11])), float(np.median(ratio[-late:]))
    against = float(np.mean(U[-late:] * G[-late:] > 0))  # moved with g: uphill for this step
    schedule_text = (
        f"`lr_t` follows the decay schedule `lr/(1 + decay·(t-1))` at every step (largest "
        f"deviation {lr_dev:.2g} of lr), {lr[0]:.3g} at step 1 and {lr[-1]:.3g} at step {T} "
        f"({1 - lr[-1] / lr[0]:.1%} lower): a formula of the step count, with no loss in it")
    steps_text = (
        f"the step relative to `lr_t`, `abs(m_hat)/(sqrt(v_hat)+eps)`, has median "
        f"{early:.3g} over steps 2-11 and {late_ratio:.3g} over the last {late} steps, where "
        f"{against:.0%} of the updates went against the current gradient")
    if lr_dev > 1e-9:
        lowers = Claim("Adam lowers the learning rate as the minimum approaches", "open",
                       f"open: `lr_t` left the decay schedule by {lr_dev:.2g} of lr.")
    elif late_ratio < early / 2:
        lowers = Claim("Adam lowers the learning rate as the minimum approaches", "partly",
                       f"partly: {schedule_text}. What shrinks is the step: {steps_text}.")
    else:
        lowers = Claim("Adam lowers the learning rate as the minimum approaches", "false",
                       f"false: {schedule_text}; nor does the step shrink: {steps_text}.")

    # bias correction: the factors m_hat/m and v_hat/v as recorded for the followed weight
    m_factor = [r["m_hat"] / r["m"] for r in rows if r["m"]]
    v_factor = [r["v_hat"] / r["v"] for r in rows if r["v"]]
    m_T, v_T = m_factor[-1], v_factor[-1]
    m_done = next((r["step"] for r in rows if r["m"] and r["m_hat"] / r["m"] < 1.01), None)
    v_done = math.ceil(math.log(1 - 1 / 1.01) / math.log(b2))  # 1/(1-β2^t) < 1.01 from here
    size = [(1 - b1**s) / math.sqrt(1 - b2**s) for s in (1, T)]  # uncorrected / corrected step
    if m_T > 1.01:
        bias = Claim("bias correction only matters at the start", "open", (
            f"open: after {T} steps even `m`'s correction is still {m_T:.4g}; the run is too "
            "short to tell."))
    else:
        verdict: Verdict = "partly" if v_T > 1.01 else "true"
        bias = Claim("bias correction only matters at the start", verdict, (
            f"{verdict}: `m`'s correction 1/(1-β1^t) is {m_T:.4f} at step {T} (below 1.01 from "
            f"step {m_done} on); `v`'s 1/(1-β2^t) is {v_T:.3g} at step {T} (the recorded "
            f"`v_hat/v` of {param}), below 1.01 only from step {v_done}. Without both, the "
            f"step would be {size[0]:.3g} times the corrected one at step 1 and {size[1]:.3g} "
            f"times at step {T}."))

    # one learning rate, or one per weight?
    mult = lr[-1] / (np.sqrt(v_hat) + eps)
    p5, p50, p95 = np.percentile(mult, [5, 50, 95])
    own = Claim("each weight gets its own learning rate",
                "partly" if p95 / p5 > 2 else "false", (
        f"{'partly' if p95 / p5 > 2 else 'false'}: `lr_t` is one number per step, "
        f"{lr[-1]:.3g} for all {n} parameters at step {T}; what each parameter has of its "
        f"own is the multiplier `lr_t/(sqrt(v_hat)+eps)` of `m_hat`, from {p5:.3g} to "
        f"{p95:.3g} (5th to 95th percentile, a factor {p95 / p5:.0f}; median {p50:.3g})."))

    first = ratio[0]
    low = int(np.argmin(first))
    with_g = sum(r["momentum"] for r in rows)
    return Sheet(
        QUESTIONS[0],
        (f"Over {T} recorded steps, Adam kept two averages per parameter over every step so "
         f"far, `m` of the gradient and `v` of its square, and moved each of the {n} "
         f"parameters by `lr_t·m_hat/(sqrt(v_hat)+eps)`; `lr_t` fell only by the decay "
         f"schedule ({lr0:g} to {lr[-1]:.3g}), while the step relative to `lr_t` fell from "
         f"a median {early:.3g} (steps 2-11) to {late_ratio:.3g} (the last {late}), "
         f"parameter by parameter, through `m_hat` and `v_hat`."),
        [cache, lowers, bias, own],
        [f"At step 1, `m_hat = g` and `v_hat = g²`, so a parameter moves by "
         f"`lr·abs(g)/(abs(g)+eps)`, about the whole learning rate: {int(np.sum(first > 0.99))} "
         f"of the {n} parameters moved by more than 0.99·`lr_t` (median {np.median(first):.4g}"
         f"); the smallest step, {first[low]:.3g}·`lr_t`, is where abs(g) = "
         f"{abs(G[0, low]):.2g} against eps = {eps:g}.",
         f"{param} at step {T}: g = {last['g']:.3g}, m = {last['m']:.3g}, v = "
         f"{last['v']:.3g}, m_hat = {last['m_hat']:.3g}, v_hat = {last['v_hat']:.3g}, update "
         f"= {last['update']:.3g}; over the run, {with_g} of its {T} steps went against its "
         f"current gradient."],
        source=_source(preset, seed, model, (
            f"{int(X.shape[0])} training samples, full batch (one step is one epoch), Adam "
            f"(lr {lr0:g}, decay {decay:g}, β1 {b1:g}, β2 {b2:g}, eps {eps:g}) for {T} "
            f"steps; every value Adam computed for each of the {n} parameters recorded by "
            "xpnet.trace (`xpnet.explain_param.record_updates`).")),
        numbers={"v_rel_error": v_err, "v_tolerance": tol, "late_share": share,
                 "half_life": half, "lr_first": float(lr[0]), "lr_last": float(lr[-1]),
                 "lr_deviation": lr_dev, "ratio_early": early, "ratio_late": late_ratio,
                 "against_late": against, "m_correction": m_T, "v_correction": v_T,
                 "multiplier_p5": float(p5), "multiplier_p95": float(p95),
                 "v_last": float(last["v"]), "parameters": float(n)},
    )


# -- 4. softmax --------------------------------------------------------------------------

def softmax_sheet(*, preset: str = "ch15", seed: SeedLike = 0, backend: Any = "numpy",
                  epochs: int = 1000) -> Sheet:
    """Question 4, from the preset's softmax output layer at initialisation and after
    ``epochs`` epochs of training."""
    model, (X, y), test = presets.build(presets.get(preset), backend=backend, seed=seed)
    softmax = model.layers[-1]
    if not isinstance(softmax, Softmax):
        msg = f"preset {preset!r} has no softmax output; use ch14, ch15 or ch18."
        raise ValueError(msg)
    name = softmax.name
    start = _record(model, X, [name])
    model.train(X, y, epochs=epochs, log_every=None)
    end = _record(model, X, [name])
    x0, x1, s0, s1 = start[name, "x"], end[name, "x"], start[name, "y"], end[name, "y"]
    n, k = s1.shape
    labels = to_numpy(y)

    # divided by the sum of the outputs, or of their exponentials?
    exp_dev = float(np.max(np.abs(s1 - end[name, "exp"] / end[name, "sum"])))
    sum_dev = float(np.max(np.abs(s1.sum(axis=1) - 1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        raw0, raw1 = (x / x.sum(axis=1, keepdims=True) for x in (x0, x1))
    outside0, outside1 = (int(np.sum(np.any(~((r >= 0) & (r <= 1)), axis=1)))
                          for r in (raw0, raw1))
    undefined = int(np.sum(np.any(np.isnan(raw0), axis=1)))  # 0/0: finite logits
    finite1 = raw1[np.isfinite(raw1)]
    if outside1 > 0 and exp_dev < 1e-6:
        by_sum = Claim("softmax divides each output by the sum of the outputs", "false", (
            f"false: it divides `exp(x - max)` by the row's sum of those exponentials (the "
            f"recorded probabilities equal exp/sum to {exp_dev:.2g}). Dividing the raw "
            f"outputs by their sum instead gives values outside [0, 1] in {outside1} of the "
            f"{n} rows after training (from {finite1.min():.3g} to {finite1.max():.3g}), and "
            f"at initialisation in {outside0} rows, {undefined} of them 0/0."))
    else:
        by_sum = Claim("softmax divides each output by the sum of the outputs", "open", (
            f"open: raw outputs over their sum stay in [0, 1] in all but {outside1} of {n} "
            f"rows, and the probabilities equal exp/sum to {exp_dev:.2g}."))

    # does subtracting the maximum change anything?
    x32 = x1.astype(np.float32)
    top = int(np.argmax(x1.max(axis=1)))
    limits = [float(np.log(np.finfo(d).max)) for d in (np.float32, np.float64)]
    with np.errstate(over="ignore", invalid="ignore"):
        naive = [np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True) for z in (
            x32, x32[top] + np.float32(100), x1[top].astype(np.float64) + 1000)]
    naive_dev = float(np.max(np.abs(naive[0] - s1)))
    moved = float(np.max(np.abs(to_numpy(Softmax().forward(x32[top:top + 1] + 100)) - s1[top])))
    nans32, nans64 = int(np.isnan(naive[1]).sum()), int(np.isnan(naive[2]).sum())
    verdict: Verdict = "false" if naive_dev < 1e-5 and moved < 1e-5 else "true"
    shift = Claim("subtracting the maximum changes the probabilities", verdict, (
        f"{verdict}: without the subtraction the probabilities of the {n} trained rows (logits "
        f"up to {x1.max():.3g}) move by at most {naive_dev:.2g}. What it prevents is "
        f"overflow: `exp` overflows above {limits[0]:.2f} in float32 ({limits[1]:.2f} in "
        f"float64). Adding 100 to row {top}'s logits moves the library's probabilities by "
        f"{moved:.2g}, but turns {nans32} of its {k} unshifted float32 probabilities into NaN "
        f"(inf/inf); adding 1000 does the same to {nans64} of {k} in float64."))

    # the backward pass: Jacobian per sample, vectorised, and fused with cross-entropy
    assert model.loss is not None
    s = model.forward(X, training=False)
    dy = model.loss.backward(s, y)
    dx = to_numpy(softmax.backward(dy))
    scale = float(np.max(np.abs(dx)))
    loop_dev = float(np.max(np.abs(to_numpy(softmax_backward_loop(softmax.ops, s, dy)) - dx)))
    fused_dev = float(np.max(np.abs(to_numpy(softmax_crossentropy_backward(s, y)) - dx)))
    loop_dev, fused_dev = loop_dev / scale, fused_dev / scale
    cost = softmax_backward_cost(n=n, k=k, repeats=3, seed=0)
    if max(loop_dev, fused_dev) < 1e-4:
        jacobian = Claim("the backward pass needs a full Jacobian per sample", "partly", (
            f"partly: the book's loop builds one {k}×{k} Jacobian `diag(s) - s·sᵀ` per "
            f"sample ({n} here) and multiplies it by that sample's dy; the vectorised "
            f"`s·(dy - Σ dy·s)` gives the same gradient to {loop_dev:.2g} (relative to its "
            f"largest entry) and ran {_magnitude(cost['ratio'])} times faster on {n} "
            f"random rows (an order of magnitude: the ratio of two timings on this machine "
            f"varies several-fold from run to run). After cross-entropy the gradient at the "
            f"logits is `(s - y)/N`, equal to the chained one to {fused_dev:.2g}."))
    else:
        jacobian = Claim("the backward pass needs a full Jacobian per sample", "open", (
            f"open: the vectorised gradient differs from the Jacobian loop by {loop_dev:.2g} "
            f"and the fused one by {fused_dev:.2g} (relative)."))

    # is the top probability the chance of being right?
    sets = [("training", s1, labels)]
    if callable(test):
        Xv, yv = test()
        sets.append(("validation", to_numpy(model.predict(Xv)), to_numpy(yv)))
    seen = []
    for label, probs, truth in sets:
        conf, right = probs.max(axis=1), probs.argmax(axis=1) == truth
        acc = float(right.mean())
        seen.append((label, float(conf.mean()), acc, binomial_sd(acc, len(truth)), len(truth)))
    conf, right = s1.max(axis=1), s1.argmax(axis=1) == labels
    edges = [1 / k, 0.5, 0.7, 0.9, 1.0]
    bins = []
    for lo, hi in pairwise(edges):
        inside = (conf >= lo) & ((conf < hi) if hi < 1 else (conf <= hi))
        if inside.sum() >= 20:
            bins.append((lo, hi, float(conf[inside].mean()), float(right[inside].mean()),
                         int(inside.sum())))
    calibrated = all(abs(a - c) <= 2 * binomial_sd(c, m) for _, _, c, a, m in bins)
    ranks = all(b[3] > a[3] for a, b in pairwise(bins))
    verdict = "true" if calibrated else "partly" if ranks else "false"
    _, c_tr, a_tr, sd_tr, n_tr = seen[0]
    side = "under" if c_tr < a_tr else "over"
    per_bin = ", ".join(f"{a:.2f} at {lo:.2g}-{hi:.2g}" for lo, hi, _, a, _ in bins)
    others = "".join(f"; {c:.3g} against {a:.3g} on the {m} {lab} samples"
                     for lab, c, a, _, m in seen[1:])
    calibration = Claim(
        "the largest softmax output is the probability that the prediction is right", verdict,
        (f"{verdict}: training accuracy by top probability is {per_bin}"
         f"{' (it ranks the predictions)' if ranks else ''}; after {epochs} epochs the model "
         f"is {side}-confident: mean top probability {c_tr:.3g} against accuracy {a_tr:.3g} on "
         f"the {n_tr} training samples, a gap of {100 * abs(c_tr - a_tr):.1f} points or "
         f"{abs(c_tr - a_tr) / sd_tr:.0f} binomial standard errors{others}."))

    return Sheet(
        QUESTIONS[1],
        (f"Forward, softmax subtracts each row's maximum, exponentiates and divides by the "
         f"row's sum of exponentials: every one of the {n}×{k} probabilities lies in "
         f"[{s1.min():.2g}, {s1.max():.4g}] and each row sums to 1 within {sum_dev:.1g}. "
         f"Backward, its gradient is `s·(dy - Σ dy·s)`, the book's per-sample Jacobian product "
         f"to {loop_dev:.1g}; after cross-entropy it is `(s - y)/N`."),
        [by_sum, shift, jacobian, calibration],
        [f"At initialisation the logits lie within ±{np.abs(x0).max():.2g}, so every "
         f"probability is within {np.abs(s0 - 1 / k).max():.2g} of 1/{k}; after {epochs} "
         f"epochs they span {x1.min():.3g} to {x1.max():.3g}."],
        source=_source(preset, seed, model, (
            f"the softmax output layer on the {n} training samples, at initialisation and "
            f"after {epochs} full-batch epochs, recorded by xpnet.trace; the backward paths "
            "run on the trained batch, their timing on random rows "
            "(`xpnet.explain.softmax_backward_cost`).")),
        numbers={"exp_deviation": exp_dev, "rows_outside_init": outside0,
                 "rows_outside_trained": outside1, "undefined_init": undefined,
                 "naive_deviation": naive_dev, "shifted_moved": moved, "nan32": nans32,
                 "nan64": nans64, "overflow32": limits[0], "overflow64": limits[1],
                 "loop_deviation": loop_dev, "fused_deviation": fused_dev,
                 "loop_ratio": cost["ratio"], "mean_top": c_tr, "accuracy": a_tr},
    )


# -- 5. a dense layer --------------------------------------------------------------------

def _penalised(p: presets.Preset, penalty: str, lam: float, *, seed: SeedLike, backend: Any,
               epochs: int) -> dict[str, Any]:
    """Train the preset's model with ``penalty`` ("L2", "L1" or "none", strength ``lam``) on
    its first layer; the first epoch and a forward pass after training recorded."""
    model, (X, y), test = presets.build(p, backend=backend, seed=seed)
    dense = model.layers[0]
    assert isinstance(dense, Dense)
    dense.weight_l2 = dense.bias_l2 = lam if penalty == "L2" else 0.0
    dense.weight_l1 = dense.bias_l1 = lam if penalty == "L1" else 0.0
    with Tracer(components=["Dense", "Softmax"], full=True, max_size=2**31) as tracer:
        model.train(X, y, epochs=1, log_every=None)  # step 1, recorded
    start = {(e.component, e.quantity): np.asarray(e.value) for e in tracer.events}
    history = model.train(X, y, epochs=epochs - 1, start_epoch=2, log_every=None)
    names = [layer.name for layer in model.layers if isinstance(layer, Dense)]
    return {"model": model, "X": X, "start": start, "end": _record(model, X, names),
            "last": history.records[-1], "W": to_numpy(dense.W),
            "val": model.evaluate(*test()) if callable(test) else None}


def dense_sheet(*, preset: str = "ch15", seed: SeedLike = 0, backend: Any = "numpy",
                samples: int = 100, epochs: int = 2000) -> Sheet:
    """Question 5, from three paired runs of the preset's model on ``samples`` training
    samples per class for ``epochs`` epochs: the first layer with L2, without, with L1."""
    p = replace(presets.get(preset), train_samples=samples)
    lam = p.l2 or 5e-4
    runs = {kind: _penalised(p, kind, lam, seed=seed, backend=backend, epochs=epochs)
            for kind in ("L2", "none", "L1")}
    base = runs["L2"]
    model = base["model"]
    denses = [layer for layer in model.layers if isinstance(layer, Dense)]
    first, out = denses[0], denses[-1]
    a, o = first.name, out.name

    # forward: one worked entry of the trained first layer, then every entry
    x, W, b, yy = (base["end"][a, q] for q in ("x", "W", "b", "y"))
    i = int(np.argmax(np.abs(x).sum(axis=1)))
    j = int(np.argmax(np.abs(yy[i])))
    total = float(x[i] @ W[:, j] + b[0, j])
    all_dev = float(np.max(np.abs(x @ W + b - yy)))
    terms = " + ".join(f"{_num(x[i, r])}·{_num(W[r, j])}" for r in range(x.shape[1]))
    verdict: Verdict = "true" if all_dev <= 1e-5 * max(1.0, float(np.abs(yy).max())) else "false"
    affine = Claim("a dense layer multiplies the inputs by the weights and adds the bias",
                   verdict, (
        f"{verdict}: sample {i}, neuron {j} of the trained first layer: {terms} + "
        f"{_num(b[0, j])} = {total:.5g}, and the layer output {yy[i, j]:.5g}; over all "
        f"{yy.size} outputs, `x·W + b` recomputed in float64 differs from the layer's by at "
        f"most {all_dev:.2g}."))

    # the start: 0.01·randn weights
    start, end = base["start"], base["end"]
    W0 = start[a, "W"]
    y_first, y_out = start[a, "y"], start[o, "y"]
    probs = next(v for (c, q), v in start.items() if q == "y" and c.startswith("Softmax"))
    grow = [float(np.std(end[c, "y"]) / np.std(s)) for c, s in ((a, y_first), (o, y_out))]
    verdict = "true" if min(grow) > 20 else "partly" if max(grow) > 20 else "false"
    start_claim = Claim(
        "the book's 0.01 × randn initial weights make every output start near zero", verdict,
        (f"{verdict}: the initial weights have standard deviation {np.std(W0):.3g} "
         f"(init_scale {first.init_scale:g}); at step 1 the first layer's outputs lie within "
         f"±{np.abs(y_first).max():.2g} and the logits within ±{np.abs(y_out).max():.2g}, so "
         f"every softmax output is within {np.abs(probs - 1 / probs.shape[1]).max():.2g} of "
         f"1/{probs.shape[1]}. After {epochs} epochs their standard deviations are "
         f"{grow[0]:.0f} and {grow[1]:.0f} times larger."))

    # backward: the recorded gradients, and the numerical ones
    xo, dy = start[o, "x"], start[o, "dy"]
    # relative to the sums of the terms' sizes: the sums cancel, their roundings do not
    dW_dev = float(np.max(np.abs(start[o, "dW_data"] - xo.T @ dy) / (np.abs(xo).T @ np.abs(dy))))
    db_dev = float(np.max(np.abs(start[o, "db_data"] - dy.sum(axis=0)) / np.abs(dy).sum(axis=0)))
    layer = copy.deepcopy(first)
    layer.need_input_grad = True  # the model skips dx on its first layer; check it too
    report = gradcheck.check(layer, inputs=(base["X"],), backend=model.backend,
                             dtype="float32")
    errors = {c.parameter: c.max_rel_error for c in report.checks}
    verdict = "true" if report.passed and max(dW_dev, db_dev) < 1e-5 else "false"
    backward = Claim("the backward pass gives dW = Xᵀ·dvalues, db = column sums", verdict, (
        f"{verdict}: at step 1 the output layer's recorded dW equals `xᵀ·dy` recomputed in "
        f"float64 to {dW_dev:.2g} and db the column sums of dy to {db_dev:.2g} (relative to "
        f"the sums of the terms' sizes); against central differences (xpnet.gradcheck, every "
        f"entry) the trained first layer's dW, db and dx agree to {errors['W']:.2g}, "
        f"{errors['b']:.2g} and {errors['x']:.2g} (relative; float32 tolerance "
        f"{report.checks[0].rtol:g}), its L2 terms `2λW` and `2λb` included."))

    # L2 and L1, paired with no penalty
    Ws = {kind: r["W"] for kind, r in runs.items()}
    mean = {kind: float(np.mean(np.abs(w))) for kind, w in Ws.items()}
    big = {kind: float(np.max(np.abs(w))) for kind, w in Ws.items()}
    zeros = {kind: int(np.sum(w == 0)) for kind, w in Ws.items()}
    small = {kind: int(np.sum(np.abs(w) < 1e-3)) for kind, w in Ws.items()}
    reg = {kind: float(r["last"]["reg_loss"]) for kind, r in runs.items()}
    share = {kind: reg[kind] / (reg[kind] + float(r["last"]["data_loss"]))
             for kind, r in runs.items()}
    shrinks = (mean["L2"] < mean["none"]) + (big["L2"] < big["none"])
    verdict = "true" if shrinks == 2 else "partly" if shrinks else "false"
    l2 = Claim("L2 shrinks the weights", verdict, (
        f"{verdict} (one seed): with L2 (λ = {lam:g} on the first layer's weights and "
        f"biases) the layer's mean abs(W) is {mean['L2']:.3g} against {mean['none']:.3g} "
        f"without ({mean['L2'] / mean['none'] - 1:+.0%}), its largest {big['L2']:.3g} against "
        f"{big['none']:.3g}; the penalty `λ·ΣW² + λ·Σb²` is {reg['L2']:.3g} at the last "
        f"epoch, {share['L2']:.1%} of the total loss."))
    n_w = W.size
    verdict = ("false" if zeros["L1"] <= zeros["none"] else
               "true" if zeros["L1"] >= 0.1 * n_w else "partly")
    l1 = Claim("L1 drives weights to exactly zero", verdict, (
        f"{verdict} (one seed): after {epochs} epochs with L1 (λ = {lam:g}) instead of L2, "
        f"{zeros['L1']} of the first layer's {n_w} weights are exactly 0 ({zeros['L2']} with "
        f"L2, {zeros['none']} without); {small['L1']} are smaller than 1e-3 ({small['L2']} "
        f"with L2, {small['none']} without), the smallest {np.abs(Ws['L1']).min():.2g}. The "
        f"penalty `λ·Σ abs(W) + λ·Σ abs(b)` is {reg['L1']:.3g}, {share['L1']:.1%} of the "
        f"total loss."))

    evidence = [f"Data loss at the last epoch: {runs['none']['last']['data_loss']:.3g} "
                f"without a penalty, {runs['L2']['last']['data_loss']:.3g} with L2, "
                f"{runs['L1']['last']['data_loss']:.3g} with L1."]
    if base["val"] is not None:
        val = {kind: r["val"]["acc"] for kind, r in runs.items()}
        sd = binomial_sd(float(np.mean(list(val.values()))), p.test_samples * p.classes)
        spread = max(val.values()) - min(val.values())
        evidence.append(
            f"Validation accuracy ({p.test_samples * p.classes} samples, binomial standard "
            f"error {sd:.3f}): {val['none']:.3f} without a penalty, {val['L2']:.3f} with L2, "
            f"{val['L1']:.3f} with L1; the spread, {spread:.3f}, is "
            f"{'within' if spread <= 2 * math.sqrt(2) * sd else 'beyond'} two standard errors "
            "of a difference, on one seed.")
    paired = all(np.array_equal(r["start"][a, "W"], W0) for r in runs.values())
    return Sheet(
        QUESTIONS[2],
        (f"A dense layer computes `y = x·W + b` and its backward pass gives `dW = xᵀ·dy`, "
         f"`db` = the column sums of dy and `dx = dy·Wᵀ` (all checked on the real batch, to "
         f"{max(all_dev, dW_dev, db_dev, *errors.values()):.1g}); an L2 penalty adds `2λW` to "
         f"dW, an L1 penalty `λ·sign(W)`. In runs of one seed, the first layer's mean abs(W) "
         f"ended at {mean['L2']:.3g} with L2 against {mean['none']:.3g} without, while L1 left "
         f"{zeros['L1']} of its {n_w} weights exactly at 0."),
        [affine, start_claim, backward, l2, l1],
        evidence,
        source=_source(preset, seed, model, (
            f"three runs of the preset's model on {samples} training samples per class "
            f"({int(base['X'].shape[0])} in all) for {epochs} full-batch epochs: the preset's "
            f"L2 on the first layer (λ = {lam:g} on weights and biases), no penalty, and L1 "
            f"of the same λ instead, paired (same data{', same initial weights' if paired else ''}"
            "); the first epoch and a forward pass after training recorded by xpnet.trace, "
            "the gradients checked by xpnet.gradcheck.")),
        numbers={"worked_total": total, "worked_output": float(yy[i, j]),
                 "forward_deviation": all_dev, "init_sd": float(np.std(W0)),
                 "growth_first": grow[0], "growth_out": grow[1], "dW_deviation": dW_dev,
                 "db_deviation": db_dev, **{f"gradcheck_{k}": v for k, v in errors.items()},
                 **{f"mean_abs_W_{k}": v for k, v in mean.items()},
                 **{f"max_abs_W_{k}": v for k, v in big.items()},
                 **{f"zeros_{k}": float(v) for k, v in zeros.items()},
                 **{f"small_{k}": float(v) for k, v in small.items()},
                 **{f"reg_share_{k}": v for k, v in share.items()}, "weights": float(n_w)},
    )


def _magnitude(x: float) -> str:
    """``x``'s order of magnitude in words (a timing ratio quoted in prose, which varies
    several-fold between runs).

    >>> _magnitude(562.3), _magnitude(3100), _magnitude(42), _magnitude(2e5)
    ('hundreds of', 'thousands of', 'tens of', 'about 10^5')
    """
    e = math.floor(math.log10(x)) if x > 0 and math.isfinite(x) else 0
    return {1: "tens of", 2: "hundreds of", 3: "thousands of"}.get(e, f"about 10^{e}")
