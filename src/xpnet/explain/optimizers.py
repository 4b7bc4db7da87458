"""The optimizer topics (adam, sgd, rmsprop, adagrad): each optimizer's rule, one weight's
values step by step (the summary) and every parameter array at every step (``--full``)."""

from __future__ import annotations

import numpy as np

from ..model import Model
from ..trace import select
from .network import faithful_note
from .render import Explanation, fmt, one, show

__all__ = ["render_adam", "render_optimizer", "weight_table"]

Sections = list[tuple[str, str]]
MORE = ("--full prints every parameter array at every step; --param 'Dense[0].W[0,0]' "
        "follows one weight over --steps steps; --plot FILE.png draws the optimizer over a "
        "whole run.")


def weight_table(ex: Explanation, component: str, param: str, quantities: tuple[str, ...],
                 index: tuple[int, ...] = (0, 0)) -> str:
    """One entry of ``param`` (``index``) at every recorded step: an indented table."""
    head = ["step", "lr_t", *quantities]
    rows = [head]
    for t in sorted({e.step for e in select(ex.events, component=component)}):
        lr = one(ex.events, component=component, quantity="lr", step=t)
        row = [str(t), fmt(lr.value if lr else None, 6)]
        for q in quantities:
            e = one(ex.events, component=component, quantity=q, param=param, step=t)
            row.append(fmt(np.asarray(e.value)[index], 6) if e and e.value is not None
                       else "-")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    table = "\n".join("    " + "  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True))
                      for r in rows)
    dead = [r[0] for r in rows[1:] if "g" in quantities and r[head.index("g")] == "0"]
    if dead:
        moved = "the momentum of earlier steps still moves it" if component in (
            "Adam", "SGD") else "it does not move"
        entry = f"{param}[{','.join(map(str, index))}]"
        table += (f"\ng = 0 at step {', '.join(dead)}: no gradient reached {entry}, as when "
                  "the ReLU unit it feeds is off for every sample (a 'dead' unit); "
                  f"{moved}.")
    return table


def render_adam(ex: Explanation, model: Model) -> tuple[Sections, Sections]:
    cfg = ex.config["optimizer"]
    b1, b2, eps = cfg["beta_1"], cfg["beta_2"], cfg["epsilon"]
    lr0, decay = cfg["learning_rate"], cfg["decay"]
    rule = ("What Adam computes", (
        "For every parameter array p with gradient g, at step t = 1, 2, ... "
        f"(beta_1 = {b1}, beta_2 = {b2}, epsilon = {eps}, lr = {lr0}, decay = {decay}):\n"
        "    lr_t  = lr / (1 + decay * (t - 1))           the book's decay schedule\n"
        "    m     = beta_1 * m + (1 - beta_1) * g        moving average of g\n"
        "    v     = beta_2 * v + (1 - beta_2) * g**2     moving average of g**2\n"
        "    m_hat = m / (1 - beta_1**t)                  bias corrections: m and v start at 0\n"
        "    v_hat = v / (1 - beta_2**t)\n"
        "    p     = p - lr_t * m_hat / (sqrt(v_hat) + epsilon)\n"
        "Below, each quantity is the value the library computed."))
    steps = sorted({e.step for e in select(ex.events, component="Adam")})
    params = list(dict.fromkeys(e.param for e in ex.events if e.param))
    sections = [rule]
    for t in steps:
        lr = one(ex.events, component="Adam", quantity="lr", step=t)
        lines = [f"lr_t = {lr0} / (1 + {decay} * {t - 1}) = {fmt(lr.value if lr else None, 8)}"]
        for name in params:
            lines.append(f"\n{name}:")
            for q, label in (("g", "g (gradient)"), ("m", "m"), ("v", "v"),
                             ("m_hat", f"m_hat = m / {1 - b1**t:.6g}"),
                             ("v_hat", f"v_hat = v / {1 - b2**t:.6g}"),
                             ("update", "update = -lr_t * m_hat / (sqrt(v_hat) + eps)"
                              + (" (step 1: -lr_t * g / (|g| + eps), just under lr_t in "
                                 "size; 5 significant digits round most to lr_t)" if t == 1
                                 else "")),
                             ("p_before", "p before"), ("p_after", "p after = p + update")):
                lines.append(f"  {label}:")
                lines.append(show(one(ex.events, component="Adam", quantity=q,
                                      param=name, step=t)))
        sections.append((f"Step {t}", "\n".join(lines)))
    reading = ("What the numbers show", _adam_reading(ex, b1, b2, eps, steps))
    faithful = ("Faithful to the book", faithful_note("adam", ex.config["seed"]))
    sections += [reading, faithful]
    param = params[0] if params else ""
    summary = [rule, (f"One weight, {param}[0,0], step by step", "\n".join([
        f"Every value Adam computed for the first entry of {param}"
        f"{_start(ex, 'Adam', param)}:",
        weight_table(ex, "Adam", param, ("g", "m", "v", "m_hat", "v_hat", "update",
                                         "p_after")),
        MORE])), reading, faithful]
    return summary, sections


def _adam_reading(ex: Explanation, b1: float, b2: float, eps: float, steps: list[int]) -> str:
    t = steps[-1]
    lines = [
        f"m and v are exponential averages over all past steps, not a cache of a fixed number "
        f"of epochs: a gradient from k steps ago still weighs (1 - beta) * beta**k. Their "
        "time constants "
        f"are 1/(1 - beta_1) = {1 / (1 - b1):.0f} and 1/(1 - beta_2) = {1 / (1 - b2):.0f} steps.",
        f"After {t} step(s) the bias corrections divide m by {1 - b1**t:.4g} and v by "
        f"{1 - b2**t:.4g}; without them the first steps would be far too small.",
    ]
    if 1 in steps:
        lines.append(
            "At step 1, m_hat = g and v_hat = g**2 (up to float32 rounding: m / 0.1 is not "
            "always bitwise g), so every update is -lr * g / (|g| + eps): the first step "
            "ignores the gradients' sizes and keeps only their signs. Its size is just under "
            "lr, not lr itself" + _first_step_sizes(ex, "Adam") + " (the full arrays, "
            "to 5 significant digits, show most of them as +-lr).")
    v_hat = select(ex.events, quantity="v_hat", step=t)
    lr = one(ex.events, component="Adam", quantity="lr", step=t)
    if v_hat and lr is not None and all(e.value is not None for e in v_hat):
        sizes = np.concatenate([
            (float(lr.value) / (np.sqrt(np.asarray(e.value)) + eps)).ravel()  # type: ignore[arg-type]
            for e in v_hat])
        lines.append(
            f"The step-size multiplier lr_t / (sqrt(v_hat) + eps), which multiplies m_hat "
            f"to give the update, ranges at step {t} from {sizes.min():.3g} to "
            f"{sizes.max():.3g} across the {sizes.size} parameters: Adam adapts each "
            "parameter's step through v_hat (parameters with small gradients get large "
            "multipliers), while the decay schedule only shrinks lr_t with the step "
            "count and knows nothing of where the minimum is.")
    return "\n\n".join(lines)


#: What each optimizer keeps between steps, per parameter array.
_STATE = {"SGD": "u, the momentum buffer, starts at 0",
          "RMSprop": "cache, a moving average of g**2, starts at 0",
          "Adagrad": "cache, the sum of every g**2 so far, starts at 0"}


def _swapped(ex: Explanation, name: str) -> str:
    """A sentence where an optimizer topic runs a preset with another optimizer than its own."""
    own = ex.config.get("preset_optimizer")
    if not own:
        return ""
    return (f"\nPreset {ex.config['preset']} trains with {own}; to show {name}, this run "
            f"replaces it with {name} and the settings above (explain mode's, not the "
            "chapter's).")


def _start(ex: Explanation, component: str, param: str) -> str:
    """``, which starts at 0.602387`` (the entry before the first update), or ""."""
    e = one(ex.events, component=component, quantity="p_before", param=param, step=1)
    if e is None or e.value is None:
        return ""
    return f", which starts at {fmt(np.asarray(e.value)[0, 0], 6)} (p before step 1)"


def _first_step_sizes(ex: Explanation, component: str) -> str:
    """``: |update| / lr_t at step 1 ranges from ... to ...`` over every parameter (to 7
    significant digits, where 5 would round them all to 1), or "" when not recorded."""
    lr = one(ex.events, component=component, quantity="lr", step=1)
    ups = select(ex.events, component=component, quantity="update", step=1)
    if lr is None or not ups or any(e.value is None for e in ups):
        return ""
    ratio = np.concatenate([np.abs(np.asarray(e.value)).ravel() for e in ups])
    ratio = ratio / float(lr.value)  # type: ignore[arg-type]
    return (f": |update| / lr_t at step 1 ranges from {fmt(ratio.min(), 7)} to "
            f"{fmt(ratio.max(), 7)} over the parameters")


def render_optimizer(ex: Explanation, model: Model) -> tuple[Sections, Sections]:
    name = ex.config["optimizer"]["class"]
    formulas = {
        "SGD": "    u = momentum * u - lr_t * g\n    p = p + u",
        "RMSprop": "    cache = rho * cache + (1 - rho) * g**2\n"
                   "    p = p - lr_t * g / (sqrt(cache) + epsilon)",
        "Adagrad": "    cache = cache + g**2\n    p = p - lr_t * g / (sqrt(cache) + epsilon)",
    }[name]
    settings = ", ".join(f"{k} = {v}" for k, v in ex.config["optimizer"].items()
                         if k != "class")
    formulas = "    lr_t = lr / (1 + decay * (t - 1))       lr: the learning_rate\n" + formulas
    if name == "SGD":
        formulas += "\n(the update shown below is u, the momentum buffer)"
    rule = (f"What {name} computes", f"Settings: {settings}. For every parameter array p "
            f"with gradient g, at step t = 1, 2, ... ({_STATE[name]}):\n{formulas}"
            + _swapped(ex, name))
    sections = [rule]
    params = list(dict.fromkeys(e.param for e in ex.events if e.param))
    steps = sorted({e.step for e in select(ex.events, component=name)})
    for t in steps:
        lines = []
        lr = one(ex.events, component=name, quantity="lr", step=t)
        lines.append(f"lr_t = {fmt(lr.value if lr else None, 8)}")
        for param in params:
            lines.append(f"\n{param}:")
            for q in ("g", "cache", "update", "p_before", "p_after"):
                e = one(ex.events, component=name, quantity=q, param=param, step=t)
                if e is not None:
                    lines += [f"  {q}:", show(e)]
        sections.append((f"Step {t}", "\n".join(lines)))
    reading = ("What the numbers show", _optimizer_reading(ex, name, steps))
    faithful = ("Faithful to the book", faithful_note(ex.topic, ex.config["seed"]))
    sections += [reading, faithful]
    param = params[0] if params else ""
    quantities = ("g", "update", "p_after") if name == "SGD" else ("g", "cache", "update",
                                                                   "p_after")
    summary = [rule, (f"One weight, {param}[0,0], step by step", "\n".join([
        f"Every value {name} computed for the first entry of {param}"
        f"{_start(ex, name, param)}:",
        weight_table(ex, name, param, quantities), MORE])), reading, faithful]
    return summary, sections


def _optimizer_reading(ex: Explanation, name: str, steps: list[int]) -> str:
    """How big the steps are against lr_t, over every parameter, first and last step."""
    lines = []
    for t in (steps[0], steps[-1]) if len(steps) > 1 else steps[:1]:
        lr = one(ex.events, component=name, quantity="lr", step=t)
        ups = [e for e in select(ex.events, component=name, quantity="update", step=t)]
        if lr is None or not ups or any(e.value is None for e in ups):
            continue
        ratio = np.concatenate([np.abs(np.asarray(e.value)).ravel() for e in ups])
        ratio = ratio / float(lr.value)  # type: ignore[arg-type]
        lines.append(f"step {t}: |update| / lr_t over the {ratio.size} parameters ranges "
                     f"from {ratio.min():.3g} to {ratio.max():.3g} (median "
                     f"{np.median(ratio):.3g}).")
    if steps and steps[0] == 1 and name in ("RMSprop", "Adagrad"):
        cache = "(1 - rho) * g**2" if name == "RMSprop" else "g**2"
        size = ("lr_t / sqrt(1 - rho)" if name == "RMSprop" else "lr_t (just under)")
        rho = ex.config["optimizer"].get("rho")
        factor = f" = {1 / np.sqrt(1 - rho):.3g} lr_t" if rho is not None else ""
        lines.append(f"At step 1 the cache is {cache}, so every |update| is "
                     f"lr_t * |g| / (sqrt(cache) + epsilon), about {size}{factor} whatever "
                     "the gradient's size: the first step keeps only the gradients' signs"
                     + _first_step_sizes(ex, name) + ".")
    why: dict[str, str] = {
        "SGD": "SGD's step is lr_t times the gradient plus the momentum carried from the "
               "previous steps: parameters with large gradients take large steps.",
        "RMSprop": "Dividing by sqrt(cache) evens the steps out: a parameter whose gradients "
                   "are small gets a step comparable to one whose gradients are large.",
        "Adagrad": "The cache only grows (it sums every squared gradient), so each "
                   "parameter's step shrinks over the run, whatever lr_t does.",
    }
    return "\n".join([*lines, why[name]])
