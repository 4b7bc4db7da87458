"""Explain mode's engine: named events emitted from inside the real computation.

Layers, losses and optimizers report what they compute (``component``, ``quantity``,
``step``, ``value``) to the active :class:`Tracer`, from the very code that trains, in one
line each (:func:`emit`). With no tracer active, a report costs one function call. Models
run the plain engine while a tracer is active (:mod:`xpnet.engine`), so every reported
array is one the computation formed, never a buffer overwritten later.

>>> import numpy as np
>>> from xpnet.nn.layers import Dense
>>> layer = Dense(2, 3, seed=0)
>>> with Tracer() as tracer:
...     _ = layer.forward(np.ones((4, 2), dtype=np.float32))
>>> [(e.component, e.quantity, e.shape) for e in tracer.events]
[('Dense', 'x', [4, 2]), ('Dense', 'W', [2, 3]), ('Dense', 'b', [1, 3]), ('Dense', 'y', [4, 3])]
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backend import to_numpy

__all__ = ["ACTIVE", "Event", "Tracer", "by_step", "emit", "select"]

#: The tracer receiving events, or None (explain mode off). Read it as ``trace.ACTIVE``.
ACTIVE: Tracer | None = None


@dataclass
class Event:
    """One quantity computed by one component at one step.

    ``value`` is the full array (as nested lists in JSON) when kept, else None with the
    summary fields (shape, min, mean, max, norm) only.
    """

    component: str
    quantity: str
    step: int
    phase: str
    shape: list[int]
    value: np.ndarray | float | None
    min: float
    mean: float
    max: float
    norm: float
    param: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        value = self.value
        if isinstance(value, np.ndarray):
            value = value.tolist()
        return {
            "component": self.component, "quantity": self.quantity, "step": self.step,
            "phase": self.phase, "param": self.param, "shape": self.shape, "value": value,
            "min": self.min, "mean": self.mean, "max": self.max, "norm": self.norm,
            **({"info": self.info} if self.info else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


class Tracer:
    """Collects :class:`Event` s while active (``with Tracer() as t: ...``).

    Parameters
    ----------
    components : iterable of str, optional
        Keep only events whose component name contains one of these (case-insensitive).
    quantities : iterable of str, optional
        Keep only these quantities (e.g. ``{"m", "v"}``).
    full : bool or "auto"
        Keep whole arrays (True), only summaries (False), or whole arrays up to
        ``max_size`` elements ("auto").
    max_size : int
        The size limit for "auto".
    max_steps : int, optional
        Stop recording once the step exceeds this.
    """

    def __init__(
        self,
        components: Iterable[str] | None = None,
        quantities: Iterable[str] | None = None,
        full: bool | str = "auto",
        max_size: int = 256,
        max_steps: int | None = None,
    ):
        self.components = [c.lower() for c in components] if components else None
        self.quantities = set(quantities) if quantities else None
        self.full = full
        self.max_size = max_size
        self.max_steps = max_steps
        self.step = 0
        self.events: list[Event] = []
        self._previous: Tracer | None = None

    def __enter__(self) -> Tracer:
        global ACTIVE
        self._previous, ACTIVE = ACTIVE, self
        return self

    def __exit__(self, *exc: object) -> None:
        global ACTIVE
        ACTIVE = self._previous

    def wants(self, component: str, quantity: str) -> bool:
        if self.max_steps is not None and self.step > self.max_steps:
            return False
        if self.quantities is not None and quantity not in self.quantities:
            return False
        return self.components is None or any(c in component.lower() for c in self.components)

    def record(self, component: str, quantity: str, value: Any, phase: str = "",
               param: str = "", step: int | None = None, **info: Any) -> None:
        """Store one event (the value is copied to the host here, and only here)."""
        if not self.wants(component, quantity):
            return
        host = np.asarray(to_numpy(value), dtype=np.float64) if not isinstance(
            value, (int, float)) else np.float64(value)
        keep = self.full is True or (self.full == "auto" and host.size <= self.max_size)
        finite = host[np.isfinite(host)] if host.size else host
        self.events.append(Event(
            component=component, quantity=quantity,
            step=self.step if step is None else step, phase=phase,
            shape=list(host.shape),
            value=(host.copy() if host.ndim else float(host)) if keep else None,
            min=float(finite.min()) if finite.size else math.nan,
            mean=float(finite.mean()) if finite.size else math.nan,
            max=float(finite.max()) if finite.size else math.nan,
            norm=float(np.linalg.norm(finite)) if finite.size else math.nan,
            param=param, info=info,
        ))

    def select(self, **fields: Any) -> list[Event]:
        """The recorded events whose fields equal every one given (see :func:`select`)."""
        return select(self.events, **fields)


def select(events: Iterable[Event], **fields: Any) -> list[Event]:
    """The events whose fields equal every one given, e.g.
    ``select(events, component="Adam", quantity="m", step=2)``."""
    return [e for e in events if all(getattr(e, k) == v for k, v in fields.items())]


def by_step(events: Iterable[Event], quantity: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """The steps at which ``quantity`` was recorded and, per step, its values flattened and
    joined in the order they were recorded (every parameter array of an optimizer, say);
    backward-pass events are left out."""
    found: dict[int, list[np.ndarray]] = {}
    for e in events:
        if e.quantity == quantity and e.phase != "backward":
            found.setdefault(e.step, []).append(np.ravel(np.asarray(e.value)))
    steps = np.array(sorted(found))
    return steps, [np.concatenate(found[s]) for s in steps]


def emit(component: str, phase: str, /, *, param: str = "", step: int | None = None,
         info: dict[str, Any] | None = None, **values: Any) -> None:
    """Report named values of one component to the active tracer, if any: one call per
    place in the code, e.g. ``emit(self.name, "forward", x=x, W=W, y=y)``.

    Values that are None (a quantity not computed this time) are skipped. With no tracer
    active this is one global lookup.
    """
    if ACTIVE is None:
        return
    for quantity, value in values.items():
        if value is not None:
            ACTIVE.record(component, quantity, value, phase, param, step, **(info or {}))
