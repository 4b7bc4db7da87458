"""The docs pages' code blocks run as written (docs/run_snippets.py, in a subprocess), and
the explain-mode pages match what docs/gen_explain.py generates from the command's output.

The gradcheck pages write their example files (``mae_book.py``, ``my_layers.py``, a pytest
file) into a temporary directory, check them with ``xpnet.gradcheck`` and ``xpnet
gradcheck``, and assert that the deliberately wrong versions fail: so the user-layer example
is proven here. The Adam explain page recomputes Adam's steps from ``xpnet explain --json``.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = ["gradcheck.md", "own-layer.md", "explain/adam.md", "study/index.md", "book-names.md"]
EXPLAIN = DOCS / "explain"
STALE = "docs/explain is stale: run python docs/gen_explain.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _listing(folder: Path) -> list[Path]:
    """Every file and folder under ``folder``, ignored ones (``__pycache__``) included."""
    return sorted(folder.rglob("*"))


@pytest.mark.parametrize("page", PAGES)
def test_page_code_blocks_run(page, tmp_path):
    before = _listing(DOCS)
    result = subprocess.run(
        [sys.executable, str(DOCS / "run_snippets.py"), str(DOCS / page)],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout
    # every python block ran (or was skipped for a missing backend) or was written as a file
    text = (DOCS / page).read_text(encoding="utf-8")
    fences = len(re.findall(r"^```python", text, re.MULTILINE))
    files = len(re.findall(r'^```python[^\n]*title="', text, re.MULTILINE))
    summary = re.search(rf"^{re.escape(Path(page).name)}: (\d+) blocks ran, (\d+) skipped"
                        r"(?:, (\d+) files? written)?$", result.stdout, re.MULTILINE)
    assert summary, result.stdout
    ran, skipped, written = (int(g or 0) for g in summary.groups())
    assert ran > 0 and ran + skipped == fences - files and written == files, result.stdout
    # the pages' files live in run_snippets' own temporary directory, and vanish with it
    assert list(tmp_path.iterdir()) == [], "the page wrote files in the working directory"
    assert _listing(DOCS) == before, "the page left files in docs/"


def test_explain_pages_are_current(tmp_path):
    """docs/gen_explain.py, run into a temporary folder, rewrites every committed page of
    docs/explain byte for byte (the figures are only checked to be drawn, committed, embedded
    and small: matplotlib's bytes may vary between versions)."""
    before = _listing(DOCS)
    out = tmp_path / "explain"
    result = subprocess.run(
        [sys.executable, str(DOCS / "gen_explain.py"), "--out", str(out)],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _listing(DOCS) == before, "the generator left files in docs/"
    generated = {p.name for p in out.glob("*.md")}
    committed = {p.name for p in EXPLAIN.glob("*.md")}
    assert {"index.md", "adam.md", "softmax.md", "dense.md"} <= generated
    if generated != committed:
        pytest.fail(f"{STALE} (only generated: {sorted(generated - committed)}, "
                    f"only committed: {sorted(committed - generated)})")
    differ = []
    for name in sorted(generated):
        new = (out / name).read_text(encoding="utf-8")
        old = (EXPLAIN / name).read_text(encoding="utf-8")
        if new != old:
            diff = difflib.unified_diff(old.splitlines(), new.splitlines(),
                                        f"docs/explain/{name}", "generated", lineterm="", n=1)
            differ.append("\n".join(list(diff)[:30]))
    if differ:
        pytest.fail(f"{STALE}\n\n" + "\n\n".join(differ))
    # each page's figure (xpnet explain TOPIC --plot): drawn by the run, committed, embedded
    # in its page with a caption whose numbers the page comparison above has checked
    figures = {"adam.md": "adam_ch15.png"} | {
        name: name.replace(".md", ".png") for name in generated - {"index.md", "adam.md"}}
    assert len(figures) == 9
    for page, png in figures.items():
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (EXPLAIN / png).is_file(), f"{STALE} (docs/explain/{png} is missing)"
        assert (EXPLAIN / png).stat().st_size < 300_000, f"docs/explain/{png} is over 300 KB"
        assert f"]({png})" in (EXPLAIN / page).read_text(encoding="utf-8"), page
    assert {p.name for p in EXPLAIN.glob("*.png")} == set(figures.values())


def test_explain_pages_are_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    missing = [p.name for p in sorted(EXPLAIN.glob("*.md")) if f"explain/{p.name}" not in nav]
    assert not missing, f"add these pages to the nav of mkdocs.yml: {missing}"


def test_the_side_by_side_page_quotes_the_code_verbatim():
    """Each ``py`` block of docs/book-side-by-side.md is a verbatim excerpt of the book's code
    (xpnet.bench.nnfs_book) or of xpnet's maths (xpnet.nn), so the page cannot drift."""
    src = ROOT / "src" / "xpnet"
    sources = [(src / "bench" / "nnfs_book.py").read_text(),
               *(path.read_text() for path in sorted((src / "nn").glob("*.py")))]
    blocks = re.findall(r"```py\n(.*?)```", (DOCS / "book-side-by-side.md").read_text(), re.S)
    assert len(blocks) >= 6
    for block in blocks:
        lines = block.rstrip("\n").splitlines()
        indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
        for text in sources:  # the excerpt, at any indentation of the file
            if any("\n".join(" " * extra + line[indent:] if line.strip() else ""
                             for line in lines) in text for extra in range(0, 13, 4)):
                break
        else:
            pytest.fail(f"this block is not in nnfs_book.py or xpnet/nn:\n{block}")
