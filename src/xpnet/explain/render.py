"""How an explained run is shown: the :class:`Explanation` (events plus sections of text) and
the few formatting helpers its renderers share."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..trace import Event, select

__all__ = ["Explanation", "fmt", "indent", "md_body", "one", "show"]


@dataclass
class Explanation:
    """The events of an explained run and how to show them.

    ``summary`` is the short page (the formulas, one step's key numbers, what they show);
    ``sections`` is everything (``--full``). Both are lists of ``(heading, body)``.
    """

    topic: str
    events: list[Event]
    config: dict[str, Any]
    sections: list[tuple[str, str]] = field(default_factory=list)
    summary: list[tuple[str, str]] = field(default_factory=list)

    def json_lines(self) -> str:
        """One JSON object per line: the run's configuration, then every event."""
        head = json.dumps({"event": "config", "topic": self.topic, **self.config})
        return "\n".join([head, *(e.to_json() for e in self.events)])

    def _parts(self, full: bool) -> list[tuple[str, str]]:
        return self.sections if full or not self.summary else self.summary

    def text(self, full: bool = False) -> str:
        """Plain text: the summary, or every section with ``full=True``."""
        parts = []
        for heading, body in self._parts(full):
            parts += [heading, "=" * len(heading), body, ""]
        return "\n".join(parts).rstrip() + "\n"

    def markdown(self, full: bool = False) -> str:
        """Markdown, for docs: the summary, or every section with ``full=True``."""
        parts = [f"# `xpnet explain {self.topic}`", ""]
        for heading, body in self._parts(full):
            parts += [f"## {heading}", "", *md_body(body), ""]
        return "\n".join(parts).rstrip() + "\n"


def md_body(body: str) -> list[str]:
    """Each prose line becomes its own paragraph; indented lines (numbers, formulas) become
    fenced code blocks, with blank lines around both so Markdown keeps them apart."""
    out: list[str] = []
    block: list[str] = []

    def flush() -> None:
        if block:
            out.extend(["```text", *block, "```", ""])
            block.clear()

    for line in body.splitlines():
        if line.startswith("    "):
            block.append(line[4:])
            continue
        flush()
        if line.strip():
            out.extend([line, ""])
    flush()
    return out


def fmt(value: Any, digits: int = 5) -> str:
    """A number with ``digits`` significant digits, or a small array whose largest entry
    has ``digits`` (the others as many decimals, in NumPy's fixed notation; each with
    ``digits`` in its scientific notation, which NumPy takes where an entry is under 1e-4 or
    1000 times smaller than the largest), so that a non-zero value never shows as 0 and a
    value just under 0.01 does not show as 0.01. A zero prints as 0, never -0: the sign of a
    zero (``-0.03 * 0``) is an artefact of IEEE arithmetic, not a value a learner should
    look for.

    >>> fmt(1e-7), fmt(np.array([0.0099996, 0.005])), fmt(np.array([0.5, 1e-7]))
    ('1e-07', '[0.0099996 0.005    ]', '[5.e-01 1.e-07]')
    """
    if value is None:
        return "(summary only)"
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        arr = arr + 0.0  # -0.0 + 0.0 is +0.0; every other value is unchanged
    if arr.ndim == 0:
        return f"{float(arr):.{digits}g}"
    return np.array2string(arr, precision=_decimals(arr, digits), suppress_small=False,
                           max_line_width=88, threshold=64, floatmode="maxprec")


def _decimals(arr: np.ndarray, digits: int) -> int:
    """NumPy's ``precision`` that gives ``arr``'s largest entry ``digits`` significant
    digits, in the notation NumPy will choose for it."""
    sizes = np.abs(arr[np.isfinite(arr)]) if arr.dtype.kind == "f" else np.zeros(0)
    sizes = sizes[sizes > 0]
    if not sizes.size:
        return digits
    big, small = float(sizes.max()), float(sizes.min())
    if big >= 1e8 or small < 1e-4 or big / small > 1e3:  # NumPy's rule for scientific
        return digits - 1  # (the digits after the mantissa's point)
    return max(digits - 1 - math.floor(math.log10(big)), 0)


def indent(text: str) -> str:
    """Indent every line by four spaces (a code block in Markdown)."""
    return "\n".join("    " + line for line in text.splitlines())


def show(e: Event | None) -> str:
    """An event's value, indented; its summary where the array was too big to keep."""
    if e is None:
        return "    (not recorded)"
    if e.value is None:
        return indent(f"shape {tuple(e.shape)}: min {e.min:.4g}, mean {e.mean:.4g}, "
                      f"max {e.max:.4g}, norm {e.norm:.4g}")
    return indent(fmt(e.value))


def one(events: list[Event], **match: Any) -> Event | None:
    """The first event matching ``match``, or None."""
    found = select(events, **match)
    return found[0] if found else None
