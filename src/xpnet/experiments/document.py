"""A tiny document: headings, paragraphs, lists, tables and images, written as Markdown; the
HTML page is that Markdown rendered by the ``markdown`` package (with its ``tables``
extension), so the two never disagree.

>>> doc = Document()
>>> doc.heading(1, "Results")
>>> doc.paragraph("Accuracy rose.")
>>> doc.table(["lr", "acc"], [["0.05", "0.74 [0.70, 0.78]"]])
>>> print(doc.markdown())
# Results
<BLANKLINE>
Accuracy rose.
<BLANKLINE>
| lr | acc |
|---|---|
| 0.05 | 0.74 [0.70, 0.78] |
<BLANKLINE>
>>> print(doc.html("Results").split("<body>")[1])
<BLANKLINE>
<h1>Results</h1>
<p>Accuracy rose.</p>
<table>
<thead>
<tr>
<th>lr</th>
<th>acc</th>
</tr>
</thead>
<tbody>
<tr>
<td>0.05</td>
<td>0.74 [0.70, 0.78]</td>
</tr>
</tbody>
</table>
</body></html>
<BLANKLINE>
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import markdown

__all__ = ["Document"]

_CSS = """body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;
line-height:1.45}table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}img{max-width:100%}
p>em{color:#555;font-size:.9rem}"""
_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title><style>{css}</style></head><body>
{body}
</body></html>
"""


@dataclass
class Document:
    """An ordered list of blocks: ``("heading", level, text)``, ``("paragraph", text)``,
    ``("list", items)``, ``("table", header, rows)``, ``("image", src, caption)``."""

    blocks: list[tuple[Any, ...]] = field(default_factory=list)

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("heading", level, text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("paragraph", text))

    def items(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("list", list(items)))

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.blocks.append(("table", list(header), [list(r) for r in rows]))

    def image(self, src: str, caption: str) -> None:
        self.blocks.append(("image", src, caption))

    def markdown(self) -> str:
        """The document as Markdown (GitHub tables)."""
        out: list[str] = []
        for kind, *rest in self.blocks:
            if kind == "heading":
                out.append(f"{'#' * rest[0]} {rest[1]}\n")
            elif kind == "paragraph":
                out.append(f"{rest[0]}\n")
            elif kind == "list":
                out.append("".join(f"- {item}\n" for item in rest[0]))
            elif kind == "table":
                header, rows = rest

                def line(cells: list[str]) -> str:
                    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |\n"

                out.append(line(header) + "|" + "---|" * len(header) + "\n"
                           + "".join(line(r) for r in rows))
            else:
                out.append(f"![{rest[1]}]({rest[0]})\n\n*{rest[1]}*\n")
        return "\n".join(out)

    def html(self, title: str) -> str:
        """The document as a standalone HTML page: :meth:`markdown`, rendered."""
        body = markdown.markdown(self.markdown(), extensions=["tables"], output_format="html")
        return _PAGE.format(title=html.escape(title), css=_CSS, body=body)
