"""Answer sheets: one per learner's question, a plain verdict first, then each common claim
judged from measured numbers.

A :class:`Sheet` is data (so tests can check what was concluded, not only how it reads);
:func:`render` adds it to a :class:`~xpnet.experiments.document.Document`, which gives the
Markdown of ``answers.md`` and its HTML. Every sentence of a sheet carries the number it
rests on: the functions that build sheets write their numbers into the sentences.

>>> sheet = Sheet("What does X do?", "X raises accuracy by 2 points [1, 3].",
...               [Claim("X always helps", "partly", "only up to 300/class: 0.81 vs 0.80")])
>>> doc = Document()
>>> render(doc, [sheet])
>>> print(doc.markdown())  # doctest: +NORMALIZE_WHITESPACE
## What does X do?
<BLANKLINE>
**Answer.** X raises accuracy by 2 points [1, 3].
<BLANKLINE>
| claim | verdict | what decides it |
|---|---|---|
| "X always helps" | partly | only up to 300/class: 0.81 vs 0.80 |
<BLANKLINE>
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .document import Document

__all__ = ["VERDICTS", "Claim", "Sheet", "render"]

#: What a claim can be judged: ``"open"`` when the runs at hand cannot decide it (the
#: sentence then says which study would).
VERDICTS = ("true", "false", "partly", "open")
Verdict = Literal["true", "false", "partly", "open"]


@dataclass(frozen=True)
class Claim:
    """A claim learners bring, judged.

    Attributes
    ----------
    quote : str
        The claim as it is usually put ("fewer test samples raise accuracy").
    verdict : str
        One of :data:`VERDICTS`.
    because : str
        The sentence that decides it, with its numbers ("partly: only when ...").
    """

    quote: str
    verdict: Verdict
    because: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            msg = f"a claim's verdict is one of {', '.join(VERDICTS)}, got {self.verdict!r}."
            raise ValueError(msg)


@dataclass
class Sheet:
    """The answer to one question.

    Attributes
    ----------
    question : str
        The learner's question.
    answer : str
        The plain-language verdict, with its numbers, read first.
    claims : list of Claim
        Common claims, each judged.
    evidence : list of str
        Further measured facts behind the answer (one sentence each, with numbers).
    figures : list of (str, str)
        ``(file, caption)`` of the pictures that show it (relative to the sheet's folder).
    source : str
        Where the numbers come from (which runs, how many seeds).
    numbers : dict of str to float
        The measured values the sentences quote, by name, unrounded (for tests and
        tables; not rendered).
    """

    question: str
    answer: str
    claims: list[Claim] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""
    numbers: dict[str, float] = field(default_factory=dict)


def render(doc: Document, sheets: list[Sheet], level: int = 2) -> None:
    """Add ``sheets`` to ``doc``: per sheet a heading (the question), the answer, the claims
    table, the evidence list, the figures and the source."""
    for sheet in sheets:
        doc.heading(level, sheet.question)
        doc.paragraph(f"**Answer.** {sheet.answer}")
        if sheet.claims:
            doc.table(["claim", "verdict", "what decides it"],
                      [[f'"{c.quote}"', c.verdict, c.because] for c in sheet.claims])
        doc.items(sheet.evidence)
        for src, caption in sheet.figures:
            doc.image(src, caption)
        if sheet.source:
            doc.paragraph(f"*{sheet.source}*")
