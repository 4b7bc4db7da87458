"""The gradcheck pages' code blocks run as written (docs/run_snippets.py, in a subprocess).

The pages write their example files (``mae_book.py``, ``my_layers.py``, a pytest file) into
a temporary directory, check them with ``xpnet.gradcheck`` and ``xpnet gradcheck``, and
assert that the deliberately wrong versions fail: so the user-layer example is proven here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = ["gradcheck.md", "own-layer.md"]


def _listing(folder: Path) -> list[Path]:
    """Every file and folder under ``folder``, ignored ones (``__pycache__``) included."""
    return sorted(folder.rglob("*"))


@pytest.mark.parametrize("page", PAGES)
def test_page_code_blocks_run(page, tmp_path):
    before = _listing(DOCS)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(DOCS / "run_snippets.py"), str(DOCS / page)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout
    # every python block ran (or was skipped for a missing backend) or was written as a file
    text = (DOCS / page).read_text(encoding="utf-8")
    fences = len(re.findall(r"^```python", text, re.MULTILINE))
    files = len(re.findall(r'^```python[^\n]*title="', text, re.MULTILINE))
    summary = re.search(rf"^{re.escape(page)}: (\d+) blocks ran, (\d+) skipped"
                        r"(?:, (\d+) files? written)?$", result.stdout, re.MULTILINE)
    assert summary, result.stdout
    ran, skipped, written = (int(g or 0) for g in summary.groups())
    assert ran > 0 and ran + skipped == fences - files and written == files, result.stdout
    # the pages' files live in run_snippets' own temporary directory, and vanish with it
    assert list(tmp_path.iterdir()) == [], "the page wrote files in the working directory"
    assert _listing(DOCS) == before, "the page left files in docs/"
