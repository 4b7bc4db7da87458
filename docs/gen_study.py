"""Build the experiment-lab pages (docs/study/) from a finished ``xpnet study all`` run.

    xpnet study all --out xpnet-study          # the full default grid (minutes)
    python docs/gen_study.py xpnet-study --seconds 812 --command "xpnet study all ..."

Each of the report's four sections becomes a page (with its plots); the inside measurements,
the decision boundaries and the data section go on the page of the last one. The answer
sheets (``answers.md``) become the page ``answers.md``. (The run's ``explorer.html``,
about 4 MB for the full grid, is not copied: every run writes its own.) The pages state the
command, date and duration of the run they come from. Nothing is typed by hand: rerun this
after a new run to refresh them.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

from xpnet.experiments.answers import EXPLORER

#: What the pages say of the explorer, which is not copied here (every run writes its own).
EXPLORER_HERE = ("Every run also writes `explorer.html`, a page to browse its stored runs, "
                 "curves and decision regions ([what it shows](index.md#the-explorer)).")

PAGES = {
    "## 1.": ("samples.md", "Training and test samples"),
    "## 2.": ("epochs.md", "Epochs"),
    "## 3.": ("lr.md", "Learning rate"),
    "## 4.": ("regularizers.md", "Regularizers"),
}


def split(report: str) -> tuple[str, dict[str, str]]:
    """The report's preamble and its sections by question prefix."""
    parts = re.split(r"(?m)^(?=## )", report)
    preamble, sections, current = parts[0], {}, None
    for part in parts[1:]:
        prefix = next((p for p in PAGES if part.startswith(p)), None)
        if prefix is not None:
            current = prefix
            sections[current] = part
        elif current is not None:
            sections[current] += part
    return preamble, sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="the --out directory of the study run")
    parser.add_argument("--out", default=str(Path(__file__).parent / "study"))
    parser.add_argument("--command", required=True, help="the command that made the run")
    parser.add_argument("--seconds", type=float, required=True, help="how long it took")
    parser.add_argument("--date", required=True)
    parser.add_argument("--machine", default="the 2-core, 24 GiB development machine")
    args = parser.parse_args(argv)
    run, out = Path(args.run), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    preamble, sections = split((run / "report.md").read_text())
    provenance = (
        f"These numbers and plots are the real report of `{args.command}`, run on "
        f"{args.date} on {args.machine}, which took {args.seconds / 60:.1f} minutes. "
        "The full report (Markdown and HTML), the results table (`results.csv`) and the "
        "trial database come with every run in its `--out` directory.\n")
    intro = "\n".join(line for line in preamble.splitlines()[1:]).strip()
    intro = intro.replace(EXPLORER, EXPLORER_HERE)
    for prefix, (name, title) in PAGES.items():
        body = sections.get(prefix, "")
        body = re.sub(r"(?m)^## [0-9.]+ ", "## ", body)  # the page's H2: the question
        page = f"# {title}\n\n{provenance}\n{intro}\n\n{body.strip()}\n"
        (out / name).write_text(page)
    title, rest = (run / "answers.md").read_text().split("\n", 1)
    rest = rest.replace("The report (report.md) has every table behind them.",
                        "The report's pages have every table behind them: "
                        + ", ".join(f"[{t.lower()}]({n})" for n, t in PAGES.values()) + ".")
    rest = rest.replace(EXPLORER, EXPLORER_HERE)
    (out / "answers.md").write_text(f"{title}\n\n{provenance}{rest}")
    for png in run.glob("*.png"):
        shutil.copyfile(png, out / png.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
