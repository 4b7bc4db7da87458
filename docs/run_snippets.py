"""Run the Python code blocks of the docs pages, to prove that every example works.

Usage: ``python docs/run_snippets.py [-v] [PAGE.md ...]`` (all pages by default).

The ```` ```python ```` blocks of one page run in order in one namespace, inside a temporary
directory (so files the examples save vanish). A block whose first line is
``# requires: BACKEND`` is skipped when that backend cannot be used here (CuPy without a
GPU, say). Other fences (``bash``, ``pycon``, ``text``) are shown, not run. Exit status 0
when every block ran or was skipped, 1 at the first failure.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import tempfile
import traceback
from pathlib import Path

# PyTorch on a small shared machine: one thread (two made small ops ~30x slower here).
os.environ.setdefault("OMP_NUM_THREADS", "1")

DOCS = Path(__file__).resolve().parent
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
REQUIRES = re.compile(r"^#\s*requires:\s*(\S+)")


def blocks(page: Path) -> list[tuple[int, str]]:
    """``(line number, code)`` of each ```` ```python ```` block of ``page``."""
    text = page.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in FENCE.finditer(text)]


def missing(code: str) -> str | None:
    """The backend a block requires and this machine lacks, if any."""
    match = REQUIRES.match(code)
    if match is None:
        return None
    from xpnet.backend import available

    name = match.group(1)
    return None if name in available() else name


def run_page(page: Path, verbose: bool) -> bool:
    namespace: dict[str, object] = {"__name__": "__main__"}
    ran = skipped = 0
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            for line, code in blocks(page):
                lacking = missing(code)
                if lacking:
                    print(f"{page.name}:{line}: skipped (backend {lacking!r} unavailable)")
                    skipped += 1
                    continue
                out = io.StringIO()
                try:
                    with contextlib.redirect_stdout(out):
                        exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
                except Exception:
                    print(out.getvalue(), end="")
                    print(f"{page.name}:{line}: FAILED")
                    traceback.print_exc()
                    return False
                if verbose:
                    print(f"--- {page.name}:{line}")
                    print(out.getvalue(), end="")
                ran += 1
        finally:
            os.chdir(cwd)
    print(f"{page.name}: {ran} blocks ran, {skipped} skipped")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", type=Path, help="pages to check (default: all)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show what blocks print")
    args = parser.parse_args(argv)
    pages = [p.resolve() for p in args.pages] or sorted(DOCS.glob("*.md"))
    for page in pages:
        if not run_page(page, args.verbose):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
