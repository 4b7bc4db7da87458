"""A tiny document: headings, paragraphs, lists, tables and images, written as Markdown and
as HTML from the same blocks (so the two never disagree, and no dependency is needed).

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
>>> "<table>" in doc.html("Results")
True
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Document"]

_CSS = """body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;
line-height:1.45}table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}img{max-width:100%}
figcaption{color:#555;font-size:.9rem}"""


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
        """The document as a standalone HTML page."""
        e = html.escape
        out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
               f"<title>{e(title)}</title><style>{_CSS}</style></head><body>"]
        for kind, *rest in self.blocks:
            if kind == "heading":
                out.append(f"<h{rest[0]}>{e(rest[1])}</h{rest[0]}>")
            elif kind == "paragraph":
                out.append(f"<p>{e(rest[0])}</p>")
            elif kind == "list":
                out.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in rest[0]) + "</ul>")
            elif kind == "table":
                header, rows = rest
                head = "".join(f"<th>{e(c)}</th>" for c in header)
                body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>"
                               for r in rows)
                out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
                           "</table>")
            else:
                out.append(f"<figure><img src=\"{e(rest[0])}\" alt=\"{e(rest[1])}\">"
                           f"<figcaption>{e(rest[1])}</figcaption></figure>")
        out.append("</body></html>")
        return "\n".join(out) + "\n"
