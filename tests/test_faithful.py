"""Faithful mode: the book's numbers, line for line.

The oracle is the book's own code (the classes in ``xpnet.bench.nnfs_book``, the chapter
scripts in ``tests/book/``), run with the ``nnfs`` package in a subprocess (``nnfs.init()``
patches NumPy for the whole process). What those scripts print is kept in the repository
(``tests/book/*.out.txt``, see tests/book/README.md): xpnet is held to those files in every
clone, and the slow tests check that the book's scripts still print them.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xpnet
from _util import BOOK, REFERENCES, reference, run_script, script_env
from xpnet.cli import main


def book(script: str, *args: str) -> list[str]:
    pytest.importorskip("nnfs")  # before any work: nothing trains and then skips
    return run_script(BOOK / script, *args)


def xpnet_lines(*argv: str) -> list[str]:
    out = io.StringIO()
    assert main(["train", "--seed", "nnfs", *argv], out=out) == 0
    return out.getvalue().splitlines()


def test_nnfs_stream_datasets_equal_the_nnfs_package():
    pytest.importorskip("nnfs")
    code = (
        "import nnfs, numpy as np\n"
        "from nnfs.datasets import spiral_data, vertical_data, sine_data\n"
        "nnfs.init()\n"
        "X1, y1 = spiral_data(samples=50, classes=3)\n"
        "X2, y2 = vertical_data(samples=20, classes=4)\n"
        "X3, y3 = sine_data()\n"
        "import sys; np.savez(sys.argv[1], X1=X1, y1=y1, X2=X2, y2=y2, X3=X3, y3=y3)\n"
    )
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"nnfs_data_{os.getpid()}.npz"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=script_env())
    with np.load(path) as ref:
        rng = xpnet.random.Generator("nnfs")
        X1, y1 = xpnet.datasets.spiral(50, 3, seed=rng)
        X2, y2 = xpnet.datasets.vertical(20, 4, seed=rng)
        X3, y3 = xpnet.datasets.sine(dtype="float64")
        for ours, key in ((X1, "X1"), (y1, "y1"), (X2, "X2"), (y2, "y2"), (X3, "X3"), (y3, "y3")):
            np.testing.assert_array_equal(ours, ref[key], err_msg=key)
    path.unlink()


def test_ch15_first_epochs_match_the_reference_on_numpy_and_strict():
    ref = reference("ch15")
    assert xpnet_lines("--preset", "ch15", "--epochs", "500")[:6] == ref[:6]
    pytest.importorskip("array_api_strict")
    strict = xpnet_lines("--preset", "ch15", "--epochs", "500", "--backend", "array_api_strict")
    assert strict[:6] == ref[:6]


@pytest.mark.slow
def test_ch15_prints_every_line_of_the_reference():
    assert xpnet_lines("--preset", "ch15") == reference("ch15")


@pytest.mark.slow
def test_ch15_on_array_api_strict_prints_the_same_lines():
    pytest.importorskip("array_api_strict")
    assert xpnet_lines("--preset", "ch15", "--backend", "array_api_strict") == reference("ch15")


@pytest.mark.parametrize(("preset", "epochs", "name", "lines"), [
    ("ch14", "10000", "ch14", None),
    ("ch16", "10000", "ch16", None),
    ("ch17", "1000", "ch17", 11),  # the first 11 lines: epochs 0, 100, ..., 1000
    ("ch18", "100", "ch18.epochs-100", None),
])
def test_presets_print_the_reference(preset, epochs, name, lines):
    assert xpnet_lines("--preset", preset, "--epochs", epochs) == reference(name)[:lines]


@pytest.mark.slow
@pytest.mark.parametrize(("preset", "epochs", "name"), [("ch17", "10000", "ch17"),
                                                        ("ch18", "400", "ch18.epochs-400")])
def test_long_presets_print_the_reference(preset, epochs, name):
    assert xpnet_lines("--preset", preset, "--epochs", epochs) == reference(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(REFERENCES))
def test_the_books_scripts_still_print_the_references(name):
    """The references were printed by the book's code with nnfs 0.5.1 (tests/book/README.md);
    a change of NumPy, BLAS or nnfs that moves the book's numbers shows here."""
    assert book(f"{name.split('.')[0]}.py", *REFERENCES[name]) == reference(name)


def test_print_every_and_epochs_keep_the_chapter_loop():
    expected = book("ch14.py", "--epochs", "250", "--print-every", "50")
    assert xpnet_lines("--preset", "ch14", "--epochs", "250", "--print-every", "50") == expected


def test_faithful_dtype_flow_follows_the_book():
    """Dropout makes the activations float64 until the next dense product; parameters stay
    float32 and the first layer's bias moments become float64 (DESIGN.md)."""
    model, (X, y), _ = xpnet.presets.build(xpnet.presets.get("ch15"), seed="nnfs")
    out = X
    dtypes = []
    for layer in model.layers:
        out = layer.forward(out, True)
        dtypes.append(str(out.dtype))
    assert dtypes == ["float32", "float32", "float64", "float32", "float32"]
    model.check_ready(training=True)
    model.backward(out, y)
    dense1, dense2 = model.layers[0], model.layers[3]
    assert dense1.grads["b"].dtype == np.float64 and dense1.grads["W"].dtype == np.float32
    assert dense2.grads["b"].dtype == np.float32
    model.optimizer.step(model.trainable_layers)
    assert dense1.params["b"].dtype == np.float32
    assert dense1.optimizer_state["b"]["m"].dtype == np.float64
