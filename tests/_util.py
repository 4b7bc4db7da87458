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
from xpnet.engine import fused


def host(x) -> np.ndarray:
    """Any backend's array as a NumPy array."""
    return np.asarray(to_numpy(x))


class UnrecordedCupyKernels(fused.CupyKernels):
    """CuPy's kernels for a run that asks for a graph (the whole step's mask position on the
    device, the scalars read from the step table), each step launched eagerly: the very
    compiled kernels a recorded run replays, so that a replay can be checked against them
    bit for bit. (NVRTC contracts ``a * b + c`` into one rounding where it chooses: the
    kernels of a run without a graph, compiled from another source, may round otherwise.)"""

    def capture(self, step):
        return step


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


#: The stand-in for OpenCV that chapters 19-22 import as ``cv2`` (tests/book/README.md).
CV2_STANDIN = BOOK / "cv2_standin"


def write_fashion_mnist(folder: Path, *, train: int = 60, test: int = 12) -> None:
    """A small dataset in the book's Fashion MNIST layout under ``folder``:
    ``fashion_mnist_images/{train,test}/<label>/<nnnn>.png``, 28x28 grey uint8 images,
    ``train`` and ``test`` per label (the book's has 6000 and 1000), each a noisy copy of
    its label's pattern of blocks so that a model learns something; and the two pictures
    chapter 22 predicts on, ``tshirt.png`` and ``pants.png``: 84x84 colour, dark on white,
    as the book's photos are. Deterministic (its own generator, not NumPy's global one)."""
    from PIL import Image

    rng = np.random.default_rng(19)
    blocks = rng.random((10, 7, 7)) > 0.5
    patterns = 60.0 + np.kron(blocks, np.ones((4, 4))) * 40.0  # 10 patterns of 28x28

    def noisy(label: int) -> np.ndarray:
        image = patterns[label] + rng.normal(0.0, 150.0, (28, 28))
        return np.clip(image, 0, 255).astype(np.uint8)

    for split, count in (("train", train), ("test", test)):
        for label in range(10):
            where = folder / "fashion_mnist_images" / split / str(label)
            where.mkdir(parents=True)
            for i in range(count):
                Image.fromarray(noisy(label)).save(where / f"{i:04d}.png")
    for name, label in (("tshirt.png", 0), ("pants.png", 1)):
        dark_on_white = np.kron(255 - noisy(label), np.ones((3, 3), dtype=np.uint8))
        Image.fromarray(np.stack([dark_on_white] * 3, axis=-1)).save(folder / name)


def reference(name: str) -> list[str]:
    """The lines of the reference output ``name`` (a key of :data:`REFERENCES`)."""
    return (BOOK / f"{name}.out.txt").read_text().splitlines()


def script_env(*paths: Path) -> dict[str, str]:
    """The environment of a chapter script's subprocess: one BLAS thread (the references'
    setting), and the ``xpnet`` the tests import first on the path, then ``paths``."""
    src = str(Path(xpnet.__file__).resolve().parents[1])
    path = [src, *map(str, paths), os.environ.get("PYTHONPATH")]
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, path))}


def run_script(path: Path, *args: str, cwd: Path | None = None,
               paths: tuple[Path, ...] = ()) -> list[str]:
    """The lines a chapter script (``tests/book/chNN.py`` or a copy) prints, run in ``cwd``
    with ``paths`` on its ``PYTHONPATH`` too."""
    proc = subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True,
                          env=script_env(*paths), cwd=cwd, check=False)
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
