"""A griffe extension that makes xpnet's reStructuredText-flavoured docstrings read well
as Markdown in the API reference. It changes only what the docs site shows, never the source.

* ``:class:`~xpnet.Model``` and the other roles become code spans (``Model``).
* ``:math:`x W + b``` becomes ``\\(x W + b\\)`` and a ``.. math::`` block a ``\\[ ... \\]``
  block, which ``pymdownx.arithmatex`` marks and MathJax typesets (``mkdocs.yml``).
* ``text::`` literal blocks become fenced code blocks.
* Doctest blocks outside a numpydoc ``Examples`` section (module docstrings have them)
  become fenced ``pycon`` blocks; without this, Markdown would run them into one paragraph
  and read ``[50, 100]`` in their output as a link.

Loaded from ``mkdocs.yml`` (``plugins: mkdocstrings: handlers: python: options:
extensions``); excluded from the site itself.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj):`(~?)([^`]+)`")
_MATH = re.compile(r":math:`([^`]+)`")
_SECTION_RULE = re.compile(r"^\s*-{3,}\s*$")


def _role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    if tilde:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block(lines: list[str], start: int, base: int) -> int:
    """Index just past the indented block that starts at ``start`` (deeper than ``base``)."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > base):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return end


def _fence(body: list[str], lang: str, indent: str) -> list[str]:
    depth = min(_indent(line) for line in body if line.strip())
    return [f"{indent}```{lang}", *(indent + line[depth:] for line in body), f"{indent}```"]


def markdownify(text: str) -> str:
    """The docstring ``text`` with the reST constructs above turned into Markdown."""
    lines = _MATH.sub(r"\\(\1\\)", _ROLE.sub(_role, text)).splitlines()
    out: list[str] = []
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if i + 1 < len(lines) and stripped and _SECTION_RULE.match(lines[i + 1]):
            section = stripped.lower()
        if stripped.startswith(".. math::"):
            base = _indent(line)
            end = _block(lines, i + 1, base)
            body = [stripped[len(".. math::"):].strip()] if stripped != ".. math::" else []
            body += [ln.strip() for ln in lines[i + 1:end] if ln.strip()]
            indent = line[:base]
            out += ["", f"{indent}\\[", *(indent + ln for ln in body), f"{indent}\\]", ""]
            i = end
            continue
        if stripped.endswith("::") and not stripped.startswith(".."):
            base = _indent(line)
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            end = _block(lines, j, base)
            if end > j:
                out += [line[:-1], ""]
                out += _fence(lines[j:end], "python", line[:base])
                i = end
                continue
        if stripped.startswith(">>>") and section != "examples":
            end = i
            while end < len(lines) and lines[end].strip():
                end += 1
            out += _fence(lines[i:end], "pycon", line[: _indent(line)])
            i = end
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring with :func:`markdownify` as griffe loads it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdownify(obj.docstring.value)
