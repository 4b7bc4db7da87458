"""Small helpers shared by the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import xpnet
from xpnet import book
from xpnet.backend import to_numpy


def host(x) -> np.ndarray:
    """Any backend's array as a NumPy array."""
    return np.asarray(to_numpy(x))


def numerical_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar function ``f`` at the float64 array ``x``."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f(x)
        flat[i] = old - eps
        fm = f(x)
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g


# -- the book's chapter scripts and their reference outputs (tests/book/README.md) ----------

#: The chapter scripts and their reference outputs.
BOOK = Path(__file__).parent / "book"

#: Each reference output, ``tests/book/{name}.out.txt``, and the arguments of the chapter
#: script that printed it (``python tests/book/{chapter}.py *args``).
REFERENCES: dict[str, tuple[str, ...]] = {
    "ch14": (),
    "ch15": (),
    "ch16": (),
    "ch17": (),
    "ch18.epochs-100": ("--epochs", "100"),
    "ch18.epochs-400": ("--epochs", "400"),
}


def reference(name: str) -> list[str]:
    """The lines of the reference output ``name`` (a key of :data:`REFERENCES`)."""
    return (BOOK / f"{name}.out.txt").read_text().splitlines()


def script_env() -> dict[str, str]:
    """The environment of a chapter script's subprocess: one BLAS thread (the references'
    setting), and the ``xpnet`` the tests import first on the path."""
    src = str(Path(xpnet.__file__).resolve().parents[1])
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}


def run_script(path: Path, *args: str) -> list[str]:
    """The lines a chapter script (``tests/book/chNN.py`` or a copy) prints."""
    proc = subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True,
                          env=script_env(), check=False)
    if proc.returncode != 0:
        msg = f"{path.name} {' '.join(args)} failed:\n{proc.stderr}"
        raise AssertionError(msg)
    return proc.stdout.splitlines()


def book_classifier():
    """The book's Model of ``Layer_Dense(2, 3)`` and softmax, finalized (after ``book.init()``)."""
    net = book.Model()
    for layer in (book.Layer_Dense(2, 3), book.Activation_Softmax()):
        net.add(layer)
    net.set(loss=book.Loss_CategoricalCrossentropy(), optimizer=book.Optimizer_Adam(),
            accuracy=book.Accuracy_Categorical())
    net.finalize()
    return net
