"""Run the Python code blocks of the docs pages, to prove that every example works.

Usage: ``python docs/run_snippets.py [-v] [PAGE.md ...]`` (all pages by default).

The ```` ```python ```` blocks of one page run in order in one namespace, inside a temporary
directory (so files the examples save vanish) that is also first on ``sys.path``, as for a
reader who runs Python in the directory where the page's files are. A block whose fence
names a file, ```` ```python title="my_layers.py" ````, is that file's content: it is
compiled (to catch syntax errors) and written into the directory, not run, so that later
blocks can import it or pass it to ``xpnet gradcheck``. A block whose first line is
``# requires: NAME`` is skipped when NAME cannot be used here: a backend (CuPy without a
GPU, say) or, for any other name, a module that is not installed. Other fences (``bash``,
``console``, ``pycon``, ``text``) are shown, not run. Exit status 0 when every block ran or
was skipped, 1 at the first failure.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import re
import sys
import tempfile
import traceback
from pathlib import Path
from typing import NamedTuple

# PyTorch on a small shared machine: one thread (two made small ops ~30x slower here).
os.environ.setdefault("OMP_NUM_THREADS", "1")

DOCS = Path(__file__).resolve().parent
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
TITLE = re.compile(r'\btitle="([^"]+)"')
REQUIRES = re.compile(r"^#\s*requires:\s*(\S+)")


class Block(NamedTuple):
    line: int  # of the block's first line of code
    code: str
    file: str | None  # the file the block is the content of (``title="..."``), if any


def blocks(page: Path) -> list[Block]:
    """Each ```` ```python ```` block of ``page``."""
    text = page.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        title = TITLE.search(m.group(1))
        file = title.group(1) if title else None
        if file is not None and (Path(file).name != file or not file.endswith(".py")):
            msg = f"{page.name}: a block's title must be a plain file name NAME.py, got {file!r}"
            raise ValueError(msg)
        found.append(Block(text.count("\n", 0, m.start()) + 2, m.group(2), file))
    return found


def missing(code: str) -> str | None:
    """The backend or module a block requires and this machine lacks, if any."""
    match = REQUIRES.match(code)
    if match is None:
        return None
    from xpnet.backend import BACKENDS, available

    name = match.group(1)
    if name in BACKENDS:
        return None if name in available() else name
    return None if importlib.util.find_spec(name) is not None else name


def _forget_modules(directory: str) -> None:
    """Unload the modules imported from ``directory`` (the page's files), so that the next
    page, or a later run in the same process, cannot see them."""
    root = os.path.realpath(directory) + os.sep
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and os.path.realpath(file).startswith(root):
            del sys.modules[name]


def run_page(page: Path, verbose: bool) -> bool:
    namespace: dict[str, object] = {"__name__": "__main__"}
    ran = skipped = written = 0
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        sys.path.insert(0, tmp)
        try:
            for line, code, file in blocks(page):
                if file is not None:
                    try:
                        compile(code, f"{page.name}:{line} ({file})", "exec")
                    except SyntaxError:
                        print(f"{page.name}:{line}: FAILED (the content of {file})")
                        traceback.print_exc()
                        return False
                    Path(file).write_text(code, encoding="utf-8")
                    written += 1
                    continue
                lacking = missing(code)
                if lacking:
                    print(f"{page.name}:{line}: skipped ({lacking!r} unavailable)")
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
            sys.path.remove(tmp)
            _forget_modules(tmp)
            os.chdir(cwd)
    files = f", {written} file{'s' * (written != 1)} written" if written else ""
    print(f"{page.name}: {ran} blocks ran, {skipped} skipped{files}")
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
