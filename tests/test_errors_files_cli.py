"""The errors a user meets with files and the command line: model files checked against the
format, saves that leave no temporary behind, one-line CLI errors, study folders locked and
plans kept, workers that die with their parent."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import xpnet
from _util import book_classifier
from xpnet import cli, files
from xpnet.errors import ModelFileError, StudyError, UserCodeError
from xpnet.experiments import run_study
from xpnet.experiments.study import PLAN_FILE
from xpnet.files import FolderLock
from xpnet.nn.activations import ReLU, Softmax
from xpnet.nn.layers import Dense, Dropout
from xpnet.nn.losses import CategoricalCrossentropy
from xpnet.nn.optimizers import Adam

SRC = str(Path(xpnet.__file__).resolve().parent.parent)
ENV = {**os.environ, "PYTHONPATH": SRC, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


# -- model files ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A trained model's file: Dense(2,8), ReLU, Dropout, Dense(8,3), Softmax; Adam state."""
    X, y = xpnet.datasets.spiral(20, 3, seed=0)
    model = xpnet.Model(seed=0)
    for layer in (Dense(2, 8), ReLU(), Dropout(0.1), Dense(8, 3), Softmax()):
        model.add(layer)
    model.set(loss=CategoricalCrossentropy(), optimizer=Adam(learning_rate=0.01))
    model.train(X, y, epochs=3)
    path = tmp_path_factory.mktemp("good") / "m.npz"
    model.save(path)
    return path


def contents(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    return json.loads(arrays.pop("xpnet.json").tobytes()), arrays


def write(path: Path, meta: object, arrays: dict[str, np.ndarray]) -> Path:
    meta_bytes = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **{"xpnet.json": meta_bytes, **arrays})
    return path


def edited(good: Path, tmp_path: Path, edit) -> Path:
    meta, arrays = contents(good)
    edit(meta, arrays)
    return write(tmp_path / "bad.npz", meta, arrays)


def refused(path: Path, *fragments: str) -> str:
    with pytest.raises(ModelFileError) as info:
        xpnet.Model.load(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


RESAVE = "model.save("


def test_a_save_that_cannot_be_written_names_the_path_asked_for(good, tmp_path):
    model = xpnet.Model.load(good)
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(NotADirectoryError, match=r"cannot write there: '.*afile' is a file, "
                                                 r"not a folder .*: '.*afile/m\.npz'"):
        model.save(tmp_path / "afile" / "m.npz")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(PermissionError, match=r"cannot write there: permission denied "
                                                  r".*: '.*locked/m\.npz'"):
            model.save(locked / "m.npz")


def test_a_model_file_without_read_permission_says_so(good, tmp_path, monkeypatch):
    unreadable = tmp_path / "m.npz"
    shutil.copy(good, unreadable)
    unreadable.chmod(0)
    if os.geteuid() == 0:  # root reads any file: refuse it as the system would
        opened = Path.open

        def denied(self, *args, **kwargs):
            if self == unreadable:
                raise PermissionError(13, "Permission denied", str(self))
            return opened(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", denied)
    refused(unreadable, "permission denied", "chmod u+r")


def test_the_books_model_files_and_parameters_say_what_is_wrong(tmp_path):
    from xpnet import book

    book.init()
    model = book.Model()
    for layer in (book.Layer_Dense(2, 4), book.Activation_ReLU(), book.Layer_Dense(4, 3),
                  book.Activation_Softmax()):
        model.add(layer)
    model.set(loss=book.Loss_CategoricalCrossentropy(), optimizer=book.Optimizer_Adam(),
              accuracy=book.Accuracy_Categorical())
    model.finalize()
    with pytest.raises(ValueError, match=r"weights have shape \(2, 4\), got \(3, 3\)"):
        model.set_parameters([(np.ones((3, 3)), np.ones((1, 3)))] * 2)
    with pytest.raises(ValueError, match=r"has 2 trainable layers, got 1 \(weights, biases\) "
                                         r"pairs"):
        model.set_parameters([(np.ones((2, 4)), np.ones((1, 4)))])
    X, y = book.spiral_data(samples=5, classes=3)
    with pytest.raises(ValueError, match=r"print_every must be a positive integer, got 0"):
        model.train(X, y, print_every=0)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match=r"not an \.npz of this model's parameters") as info:
        model.load_parameters(text)
    assert "allow_pickle" not in str(info.value)
    with pytest.raises(ModelFileError, match=r"'.*notes\.txt' is a text file, not an xpnet model"):
        book.Model.load(text)  # the file named, not notes.txt.npz


def test_the_books_parameters_file_is_checked_against_the_model(tmp_path, good):
    """A truncated file, one of another architecture, a damaged array: one ModelFileError
    naming the file and the array, never zipfile's or NumPy's own error."""
    from xpnet import book

    book.init()
    model = book_classifier
    saved = model()
    saved.save_parameters(tmp_path / "p.parms")
    data = (tmp_path / "p.parms").read_bytes()
    (tmp_path / "cut.parms").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"'.*cut\.parms': it is not an \.npz of this "
                                             r"model's parameters, or is truncated or corrupt "
                                             r"\(BadZipFile\)"):
        model().load_parameters(tmp_path / "cut.parms")
    with np.load(tmp_path / "p.parms") as f:
        arrays = {k: f[k] for k in f.files}

    def load(**changed):
        path = tmp_path / "changed.npz"
        np.savez(path, **{k: v for k, v in {**arrays, **changed}.items() if v is not None})
        target = model()
        before = target.get_parameters()[0][0].copy()
        with pytest.raises(ModelFileError) as info:
            target.load_parameters(path)
        np.testing.assert_array_equal(target.get_parameters()[0][0], before)  # untouched
        return str(info.value)

    assert "'changed.npz' should hold this model's parameters, the arrays 0.weights, " \
           "0.biases (1 layer with parameters), but it has also ['1.biases', '1.weights'] " \
           "(the parameters of another architecture?)" in load(
               **{"1.weights": np.ones((3, 3), np.float32),
                  "1.biases": np.ones((1, 3), np.float32)}).replace(str(tmp_path) + "/", "")
    assert "but it has no array '0.biases'" in load(**{"0.biases": None})
    for bad, problem in ((np.ones((3, 3), np.float32), "shape (3, 3)"),
                         (np.ones((2, 3), np.int64), "dtype int64"),
                         (np.full((2, 3), np.nan, np.float32), "NaN or infinite values")):
        message = load(**{"0.weights": bad})
        assert "the array '0.weights' should be the weights of Layer_Dense 0 (finite " \
               f"floating-point numbers of shape (2, 3)), but it has {problem}" in message
        assert "model.save_parameters(path)" in message
    with pytest.raises(ModelFileError, match=r"It is a whole model: load it with Model\.load"):
        model().load_parameters(good)


def test_the_books_set_parameters_refuses_nan(tmp_path):
    """NaN parameters make every later output NaN: refused when they are set."""
    from xpnet import book

    book.init()
    dense = book.Layer_Dense(2, 3)
    before = dense.weights.copy()
    with pytest.raises(ValueError, match=r"set_parameters: the biases hold NaN or infinite "
                                         r"values, which would make every output and loss NaN"):
        dense.set_parameters(np.ones((2, 3)), np.array([[0.0, np.inf, 0.0]]))
    np.testing.assert_array_equal(dense.weights, before)
    dense.set_parameters(np.ones((2, 3)), np.zeros((1, 3)))
    np.testing.assert_array_equal(dense.weights, np.ones((2, 3), np.float32))


def test_a_good_file_loads_with_its_state(good):
    model = xpnet.Model.load(good)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Dense", "ReLU", "Dropout", "Dense", "Softmax"]
    assert model.optimizer.iterations == 3
    assert set(model.layers[0].optimizer_state["W"]) == {"m", "v"}


def test_a_faithful_model_with_float64_state_round_trips(tmp_path):
    run = xpnet.presets.run(xpnet.presets.get("ch15"), seed="nnfs", epochs=2,
                            log_every=0)
    run.model.save(tmp_path / "m.npz")
    again = xpnet.Model.load(tmp_path / "m.npz")
    assert again.precision == "nnfs"
    assert again.layers[0].optimizer_state["b"]["m"].dtype == np.float64


def test_a_model_without_loss_round_trips(tmp_path):
    model = xpnet.Model(seed=0)
    model.add(Dense(2, 3))
    model.save(tmp_path / "m.npz")
    assert xpnet.Model.load(tmp_path / "m.npz").loss is None


def drop_last_layers(meta, arrays):
    meta["layers"] = meta["layers"][:2]


def set_key(key, value):
    def edit(meta, arrays):
        meta[key] = value
    return edit


def del_key(key):
    def edit(meta, arrays):
        del meta[key]
    return edit


def set_layer(i, **config):
    def edit(meta, arrays):
        meta["layers"][i]["config"].update(config)
    return edit


def set_array(key, value):
    def edit(meta, arrays):
        arrays[key] = value
    return edit


def del_array(key):
    def edit(meta, arrays):
        del arrays[key]
    return edit


def set_optimizer(**values):
    def edit(meta, arrays):
        meta["optimizer"].update(values)
    return edit


def test_optimizer_state_in_float64_loads_as_faithful_mode_saves_it(good, tmp_path):
    """Faithful mode keeps some of a float32 model's optimizer state in float64 (the book's
    float64 gradients through a dropout mask): such a file loads, its state as saved."""
    def edit(meta, arrays):
        arrays["optimizer.0.b.m"] = arrays["optimizer.0.b.m"].astype(np.float64)
    model = xpnet.Model.load(edited(good, tmp_path, edit))
    assert model.layers[0].optimizer_state["b"]["m"].dtype == np.float64
    assert model.layers[0].params["b"].dtype == np.float32


@pytest.mark.parametrize(("edit", "fragments"), [
    (drop_last_layers, ["'layers.3.W' that the model does not use", "cut short"]),
    (del_key("layers"), ["'layers'", "a list", "no such key", RESAVE]),
    (del_key("precision"), ["'precision'", "a string", "no such key"]),
    (del_key("rng"), ["'rng'", "an object", "no such key"]),
    (del_key("dtype"), ["'dtype'", "no such key"]),
    (set_key("dtype", "int8"), ["'dtype'", "['float32', 'float64']", "'int8'"]),
    (set_key("dtype", 32), ["'dtype'", "a string", "32 (int)"]),
    (set_key("precision", "fast"), ["'precision'", "['default', 'nnfs']", "'fast'"]),
    (set_key("layers", {"0": 1}), ["'layers'", "a list", "(dict)"]),
    (set_key("version", 2), ["'version'", "pip install --upgrade xpnet"]),
    (set_key("version", True), ["'version'", "True"]),
    (set_key("format", "keras"), ["'format'", "'keras'", "numpy.load("]),
    (set_key("extra", 1), ["also ['extra']"]),
    (set_key("rng", {"x": 1}), ["'rng'", "Generator.get_state()"]),
    (set_key("rng", {"pcg64": "nonsense", "nnfs": False}), ["'rng'", "nonsense"]),
    (set_key("loss", {"class": "Hinge", "config": {}}), ["'loss.class'", "'Hinge'",
                                                           "CategoricalCrossentropy"]),
    (set_key("accuracy", {"class": "CategoricalAccuracy"}), ["'accuracy.config'",
                                                              "no such key"]),
    (set_key("loss", None), ["'optimizer'", "null when 'loss' is null"]),
    (lambda m, a: m["layers"].__setitem__(1, "ReLU"), ["'layers[1]'", "'ReLU'"]),
    (lambda m, a: m["layers"][0].__setitem__("class", "Conv2D"),
     ["'layers[0].class'", "'Conv2D'", "import the module that defines it"]),
    (lambda m, a: m["layers"][0].__setitem__("weights", []), ["also ['weights']"]),
    (set_layer(0, n_in=-1), ["'layers[0].config'", "must be a positive integer"]),
    (set_layer(0, bogus=1), ["'layers[0].config'", "bogus"]),
    (set_layer(3, n_in=5), ["'layers[3].config.n_in'", "8 (the width of the previous",
                            "has 5"]),
    (set_layer(0, n_out=5), ["'layers.0.W'", "of shape (2, 5)", "has shape (2, 8)"]),
    (set_array("layers.0.W", np.ones((5, 5), np.float32)), ["'layers.0.W'", "(2, 8)",
                                                            "shape (5, 5)"]),
    (del_array("layers.3.b"), ["'layers.3.b'", "(1, 3)", "no such array"]),
    (set_array("layers.0.W", np.ones((2, 8), np.int8)), ["'layers.0.W'", "dtype float32",
                                                         "dtype int8"]),
    # float16 (and float64 in a float32 model) was cast silently, precision lost
    (set_array("layers.0.W", np.ones((2, 8), np.float16)),
     ["'layers.0.W' should be of dtype float32 (the model's dtype, as model.save writes it)",
      "but the file has dtype float16"]),
    (set_array("layers.3.b", np.ones((1, 3), np.float64)), ["'layers.3.b'", "dtype float64"]),
    (set_array("optimizer.0.W.m", np.ones((2, 8), np.float16)),
     ["'optimizer.0.W.m' should be of dtype float32 or float64", "dtype float16"]),
    # a negative second moment made the next step's square root NaN
    (set_array("optimizer.0.W.v", np.full((2, 8), -1.0, np.float32)),
     ["'optimizer.0.W.v' should be numbers >= 0 (Adam's 'v' sums squared gradients; the "
      "next step takes its square root)", "has 16 negative values (the smallest -1)"]),
    (set_array("layers.0.W", np.ones((2, 8), np.complex64)), ["dtype complex64"]),
    (set_array("optimizer.0.W.m", np.ones((3, 3), np.float32)),
     ["'optimizer.0.W.m'", "shape (2, 8)", "Adam state 'm'", "shape (3, 3)"]),
    (set_array("optimizer.0.W.v", np.ones((2, 8), np.int32)), ["'optimizer.0.W.v'",
                                                               "dtype int32"]),
    (set_array("optimizer.0.W.z", np.ones((2, 8), np.float32)),
     ["'optimizer.0.W.z'", "does not use", "['m', 'v']"]),
    (set_array("optimizer.1.W.m", np.ones((2, 8), np.float32)), ["'optimizer.1.W.m'"]),
    (del_array("optimizer.3.b.v"), ["'optimizer.3.b.v'", "all or none"]),
    (set_array("notes", np.ones(3)), ["'notes' that the model does not use"]),
    (set_array("layers.9.W", np.ones(3)), ["'layers.9.W'", "lists 5 layers"]),
    (set_key("optimizer", None), ["'optimizer.0.W.m' that the model does not use"]),
    (set_optimizer(iterations=-1), ["'optimizer.iterations'", ">= 0", "-1"]),
    (set_optimizer(iterations="3"), ["'optimizer.iterations'", "an integer", "'3' (str)"]),
    (set_optimizer(current_learning_rate=float("nan")), ["current_learning_rate",
                                                         "finite"]),
    (lambda m, a: m["optimizer"]["config"].update(learning_rate=-1.0),
     ["'optimizer.config'", "learning_rate must be > 0"]),
    (set_optimizer(learning_rate=-1.0), ["the key 'optimizer'", "also ['learning_rate']"]),
    (lambda m, a: m["optimizer"].pop("iterations"), ["'optimizer.iterations'",
                                                     "no such key"]),
    (set_array("layers.0.W", np.full((2, 8), np.nan, np.float32)),
     ["'layers.0.W'", "finite numbers", "16 NaN or infinite values", "smaller learning rate"]),
    (set_array("optimizer.0.W.m", np.full((2, 8), np.inf, np.float32)),  # NaN at the next step
     ["'optimizer.0.W.m'", "finite numbers", "16 NaN or infinite values"]),
    (set_key("dropout_masks", "gpu"), ["'dropout_masks'", "['host', 'counter']", "'gpu'"]),
    (set_key("dropout_masks", 1), ["'dropout_masks'", "a string", "1 (int)"]),
    (lambda m, a: m.update(precision="nnfs", dropout_masks="counter"),
     ["'dropout_masks'", "'host' in faithful mode", "'counter'"]),
    (lambda m, a: m["layers"][2]["stream"].update(position=-1),
     ["'layers[2].stream.position'", "an integer in [0,", "-1"]),
    (lambda m, a: m["layers"][2]["stream"].update(key="k"),
     ["'layers[2].stream.key'", "an integer", "'k' (str)"]),
    (lambda m, a: m["layers"][2]["stream"].update(key=2**64), ["'layers[2].stream.key'"]),
    (lambda m, a: m["layers"][2].__setitem__("stream", 5),
     ["'layers[2].stream'", "an object {'key'"]),
])
def test_a_broken_description_or_array_is_named_with_the_fix(good, tmp_path, edit, fragments):
    path = edited(good, tmp_path, edit)
    message = refused(path, *fragments)
    assert "should be" in message and "but the file has" in message


def test_the_description_must_be_a_json_object_of_bytes(tmp_path, good):
    _, arrays = contents(good)
    np.savez(tmp_path / "a.npz", **{"xpnet.json": np.frombuffer(b"[1, 2]", np.uint8)},
             **arrays)
    refused(tmp_path / "a.npz", "a JSON object", "list")
    np.savez(tmp_path / "b.npz", **{"xpnet.json": np.frombuffer(b"{oops", np.uint8)})
    refused(tmp_path / "b.npz", "a JSON document", "unreadable")
    np.savez(tmp_path / "c.npz", **{"xpnet.json": np.ones(3)})
    refused(tmp_path / "c.npz", "1-D uint8", "float64")


def forged(tmp_path: Path, good: Path, member: str, data: bytes, name="forged.npz") -> Path:
    out = tmp_path / name
    with zipfile.ZipFile(good) as z, zipfile.ZipFile(out, "w") as w:
        for item in z.namelist():
            w.writestr(item, data if item == member else z.read(item))
        if member not in z.namelist():
            w.writestr(member, data)
    return out


def with_magic(shape, descr="<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def test_a_huge_header_is_refused_before_any_allocation(tmp_path, good):
    path = forged(tmp_path, good, "layers.0.W.npy",
                  with_magic((100000, 100000)) + b"\0" * 64)
    start = time.perf_counter()
    refused(path, "'layers.0.W.npy'", "40000000000 bytes of data", "64 bytes")
    assert time.perf_counter() - start < 2


def test_an_object_array_is_never_unpickled(tmp_path, good):
    path = forged(tmp_path, good, "layers.0.W.npy", with_magic((2, 8), "|O") + b"\0" * 64)
    refused(path, "never does", "dtype object")


def test_an_unreadable_npy_header_is_refused(tmp_path, good):
    refused(forged(tmp_path, good, "layers.0.W.npy", b"not an array"), "'layers.0.W.npy'",
            "version 1.0 or 2.0")
    refused(forged(tmp_path, good, "layers.0.W.npy", np.lib.format.magic(3, 0) + b"x" * 20,
                   "v3.npz"), "version 1.0 or 2.0")


def test_a_member_that_is_not_an_array_is_refused(tmp_path, good):
    refused(forged(tmp_path, good, "readme.txt", b"hello"), "'readme.txt'", "a .npy array")


def test_a_file_of_another_kind_is_named_as_what_it_is(tmp_path):
    """An empty file, numpy.save's .npy and a text file were each 'not a readable xpnet model
    file (File is not a zip file). It may be truncated or corrupt'."""
    (tmp_path / "empty.npz").write_bytes(b"")
    np.save(tmp_path / "w.npy", np.ones(3))
    (tmp_path / "notes.json").write_text('{"layers": []}\n')
    for name, kind in (("empty.npz", "empty (0 bytes)"),
                       ("w.npy", "a single NumPy array (.npy, numpy.save's format: load it "
                                 "with numpy.load)"),
                       ("notes.json", "a text file")):
        message = refused(tmp_path / name, f"'{tmp_path / name}' is {kind}, not an xpnet model "
                                           "file (the .npz archive model.save writes). Give the "
                                           "path of a file written by model.save.")
        assert "truncated" not in message


def test_truncated_foreign_missing_and_folder_paths(tmp_path, good):
    data = good.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    refused(tmp_path / "cut.npz", "not a readable xpnet model file", RESAVE)
    np.savez(tmp_path / "foreign.npz", weights=np.ones(3))
    refused(tmp_path / "foreign.npz", "not one written by xpnet", "numpy.load(")
    refused(tmp_path / "missing.npz", "no model file", RESAVE)
    with pytest.raises(IsADirectoryError, match=r"is a folder holding cut\.npz, foreign\.npz; "
                                                r"give a file path inside it"):
        xpnet.Model.load(tmp_path)


def test_a_user_layer_file_is_checked_against_its_built_parameters(tmp_path):
    class Scale(xpnet.nn.layers.Layer):
        def build(self, ops, rng, dtype="float32"):
            super().build(ops, rng, dtype)
            self.params = {"s": ops.xp.ones((1, 2), dtype=getattr(ops.xp, dtype))}

        def forward(self, x, training=True):
            return x * self.params["s"]

        def backward(self, dy):
            return dy

    model = xpnet.Model(seed=0)
    model.add(Scale())
    model.save(tmp_path / "m.npz")
    assert xpnet.Model.load(tmp_path / "m.npz").layers[0].params["s"].shape == (1, 2)
    path = edited(tmp_path / "m.npz", tmp_path, set_array("layers.0.s", np.ones((3, 3))))
    refused(path, "'layers.0.s'", "(1, 2)", "shape (3, 3)")


# -- saving leaves no temporary file ---------------------------------------------------------

KILLED_SAVE = """
import os, sys, time
import xpnet
from xpnet import files
from xpnet.nn.layers import Dense
if sys.argv[2] == "named":
    files._unnamed_file = lambda folder: None
def stop(fd):
    print("writing", flush=True)
    time.sleep(60)
os.fsync = stop
model = xpnet.Model(seed=0)
model.add(Dense(2, 3))
model.save(sys.argv[1])
"""


def killed_mid_save(tmp_path: Path, mode: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(tmp_path / "m.npz"), mode],
                            stdout=subprocess.PIPE, env=ENV, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()


@pytest.mark.skipif(not hasattr(os, "O_TMPFILE"), reason="Linux's O_TMPFILE")
def test_a_save_killed_mid_write_leaves_no_file(tmp_path):
    killed_mid_save(tmp_path, "unnamed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="pids are checked on POSIX")
def test_a_named_temporary_of_a_killed_save_goes_at_the_next_save(tmp_path):
    killed_mid_save(tmp_path, "named")
    stale = list(tmp_path.glob(".m.npz.*.tmp"))
    assert len(stale) == 1
    model = xpnet.Model(seed=0)
    model.add(Dense(2, 3))
    model.save(tmp_path / "m.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_a_live_writers_temporary_is_left_alone(tmp_path):
    mine = tmp_path / f".m.npz.{os.getpid()}.abcd.tmp"
    mine.write_bytes(b"")
    files.atomic_write_bytes(tmp_path / "m.npz", b"data")
    assert mine.exists() and (tmp_path / "m.npz").read_bytes() == b"data"


def test_an_atomic_write_keeps_the_umask_permissions(tmp_path):
    files.atomic_write_bytes(tmp_path / "deep" / "f.txt", b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "deep" / "f.txt").stat().st_mode & 0o777 == 0o666 & ~umask


# -- the command line ----------------------------------------------------------------------

def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, out.getvalue(), err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("xpnet ") and ": error: " in lines[0]
    return lines[0]


TRAIN = ("train", "--preset", "ch14", "--epochs", "2")


@pytest.mark.parametrize(("setting", "fragments"), [
    ("task=foo", ["task='foo'", "one of classification, binary, regression",
                  "--set task=classification"]),
    ("train_samples=1.5", ["train_samples='1.5'", "an integer", "--set train_samples=100"]),
    ("train_samples=0", ["an integer >= 1"]),
    ("lr=nan", ["lr='nan'", "a number > 0", "--set lr=0.02"]),
    ("lr=-1", ["a number > 0"]),
    ("lr=inf", ["a number > 0"]),
    ("dropout=1", ["a number in [0, 1)"]),
    ("hidden=0", ["hidden='0'", "an integer >= 1"]),
    ("hidden=abc", ["an integer"]),
    ("log_every=-3", ["an integer >= 0"]),
    ("loop=fast", ["book or model"]),
    ("test_data=later", ["one of after, before, none"]),
    ("batch_size=-1", ["an integer >= 0"]),
    ("classes=1", ["do not fit together", "--set classes=3"]),
    ("test_samples=0", ["do not fit together", "--set test_samples=100"]),
    ("learning_rate=0.1", ["unknown preset setting 'learning_rate'", "lr"]),
    ("lrr=0.1", ["unknown preset setting 'lrr'. Did you mean 'lr'? Settings are: batch_size"]),
])
def test_a_bad_preset_setting_is_one_line_exit_2(capsys, setting, fragments):
    code, out, err = run_cli(capsys, *TRAIN, "--set", setting)
    assert code == 2 and out == ""
    line = one_line(err)
    for fragment in fragments:
        assert fragment in line


@pytest.mark.parametrize(("argv", "fragments"), [
    (("train", "--preset", "ch17", "--epochs", "1", "--set", "classes=3"),
     ["do not fit together", "a regression has none to set", "leave classes out"]),
    ((*TRAIN, "--set", "epochs=3"), ["--epochs 2 and --set epochs=3 say two things"]),
])
def test_settings_that_would_be_ignored_are_refused(capsys, argv, fragments):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    for fragment in fragments:
        assert fragment in one_line(err)
    # the same value twice, or a task switched without classes, is fine
    assert run_cli(capsys, *TRAIN, "--set", "epochs=2")[0] == 0
    assert run_cli(capsys, "train", "--preset", "ch14", "--epochs", "1", "--set",
                   "task=regression")[0] == 0


def test_log_every_0_logs_nothing_but_the_validation(capsys):
    code, out, _ = run_cli(capsys, *TRAIN, "--set", "log_every=0")
    assert code == 0
    assert out.splitlines()[0].startswith("validation, acc: ")
    assert len(out.splitlines()) == 1


@pytest.mark.parametrize("argv", [
    ["train", "--preset", "ch14", "--epochs", "-1"],
    ["train", "--preset", "ch14", "--epochs", "1.5"],
    ["study", "samples", "--train-samples", "1.5"],
    ["study", "samples", "--train-samples", "10,-3"],
    ["study", "samples", "--train-samples", "10,,20"],  # a typo, not [10, 20]
    ["study", "lr", "--lr", "0.1,inf"],
])
def test_bad_numbers_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "expected" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "said"), [
    (["explain", "adam", "--plot-steps", "5"], "--plot-steps sets how long the --plot run "
                                                "trains; give --plot FILE.png too"),
    (["gradcheck", "Dense", "--arg", "n_in=3"], "--arg gives constructor arguments to your "
                                                 "own component"),
    (["explain", "adam", "--plot", "p.png", "--json", "--full"],
     "--plot draws a picture only, so --json and --full would change nothing; leave them out"),
    (["explain", "adam", "--param", "Dense[0].W[0,0]", "--markdown"],
     "--param prints one weight's table (JSON lines with --json), so --markdown would change "
     "nothing"),
])
def test_an_option_that_would_change_nothing_is_refused(argv, said, capsys):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == "" and said in one_line(err)


def test_save_under_a_file_is_refused_before_training(capsys, tmp_path):
    (tmp_path / "afile").write_text("x")
    code, out, err = run_cli(capsys, *TRAIN, "--save", str(tmp_path / "afile" / "m.npz"))
    assert code == 2 and out == ""  # nothing trained: no line printed
    line = one_line(err)
    assert "is a file, not a folder" in line and "--save" in line


def test_save_onto_a_folder_is_refused(capsys, tmp_path):
    (tmp_path / "m.npz").mkdir()
    code, out, err = run_cli(capsys, *TRAIN, "--save", str(tmp_path / "m.npz"))
    assert code == 2 and out == ""
    assert "is a folder; give a file path inside it" in one_line(err)


def test_loading_a_folder_names_the_model_files_inside_it(tmp_path):
    """Model.load of a folder said 'no model file at DIR'; the book's load_parameters gave
    pathlib's bare IsADirectoryError, and save_parameters(None) pathlib's TypeError."""
    from xpnet import book

    models = tmp_path / "models"
    models.mkdir()
    xpnet.Model.load(good_model(tmp_path)).save(models / "run1.npz")
    (models / "empty").mkdir()
    with pytest.raises(IsADirectoryError, match=r"models' is a folder holding run1\.npz; give a "
                                                r"file path inside it: Model\.load\('.*"
                                                r"models/run1\.npz'\)\.$"):
        xpnet.Model.load(models)
    with pytest.raises(IsADirectoryError, match=r"is a folder; give a file path inside it: "
                                                r"Model\.load\('.*/model\.npz'\)"):
        xpnet.Model.load(models / "empty")
    book.init()
    net = book_classifier()
    with pytest.raises(IsADirectoryError, match=r"is a folder; give a file path inside it: "
                                                r"model\.load_parameters\('.*/model\.parms'\)"):
        net.load_parameters(models)
    with pytest.raises(TypeError, match=r"^model\.save_parameters needs a file path \(a string "
                                        r"or a pathlib\.Path\), got None \(a NoneType\); e\.g\. "
                                        r"model\.save_parameters\('model\.parms'\)\.$"):
        net.save_parameters(None)
    with pytest.raises(IsADirectoryError, match=r"model\.save_parameters\('.*/model\.parms'\)"):
        net.save_parameters(models)


def test_save_onto_a_folder_without_the_suffix_is_refused(capsys, tmp_path):
    # not saved as files.npz beside the folder files
    (tmp_path / "files").mkdir()
    code, out, err = run_cli(capsys, *TRAIN, "--save", str(tmp_path / "files"))
    assert code == 2 and out == "" and not (tmp_path / "files.npz").exists()
    assert "is a folder; give a file path inside it" in one_line(err)
    with pytest.raises(IsADirectoryError, match="is a folder; give a file path inside it"):
        xpnet.Model.load(good_model(tmp_path)).save(tmp_path / "files")


def good_model(tmp_path):
    model = xpnet.Model(seed=0)
    model.add(Dense(2, 3))
    model.save(tmp_path / "g.npz")
    return tmp_path / "g.npz"


@pytest.mark.parametrize("argv", [
    (*TRAIN, "--save", ""),
    ("study", "lr", "--quick", "--out", ""),
    ("explain", "adam", "--plot", ""),
])
def test_an_empty_output_path_is_refused(capsys, argv):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert "needs a" in one_line(err) and "got an empty one" in one_line(err)


@pytest.mark.parametrize(("call", "error"), [
    (lambda: xpnet.Model().save(5), TypeError),
    (lambda: xpnet.Model().save(None), TypeError),
    (lambda: xpnet.Model.load(5), TypeError),
])
def test_a_path_that_is_not_one_is_named(call, error):
    with pytest.raises(error, match=r"needs a file path \(a string or a pathlib\.Path\), got"):
        call()


def test_explain_plot_into_a_name_that_is_no_image_format_is_refused_first(capsys, tmp_path):
    status, _, err = run_cli(capsys, "explain", "relu", "--plot", str(tmp_path / "p.txt"))
    line = one_line(err)
    assert status == 2 and ".png" in line and "p.png" in line and "image format" in line
    # and a plot goes into a folder that does not exist yet, as --save does
    status, _, _ = run_cli(capsys, "explain", "relu", "--plot",
                             str(tmp_path / "new" / "p.svg"), "--plot-steps", "3")
    assert status == 0 and (tmp_path / "new" / "p.svg").read_text().lstrip().startswith("<")


def test_save_into_a_read_only_folder_is_refused_before_training(capsys, tmp_path,
                                                                 monkeypatch):
    locked = tmp_path / "ro"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != locked and real(p, mode))
    code, out, err = run_cli(capsys, *TRAIN, "--save", str(locked / "m.npz"))
    assert code == 2 and out == ""
    assert "is not writable" in one_line(err)


def test_save_into_new_folders_works(capsys, tmp_path):
    code, _, _ = run_cli(capsys, *TRAIN, "--save", str(tmp_path / "a" / "b" / "m"))
    assert code == 0
    assert xpnet.Model.load(tmp_path / "a" / "b" / "m.npz").layers


def test_an_os_error_while_saving_is_one_line_exit_1(capsys, tmp_path, monkeypatch):
    def refuse(self, path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(xpnet.Model, "save", refuse)
    code, _, err = run_cli(capsys, *TRAIN, "--save", str(tmp_path / "m.npz"))
    assert code == 1
    assert "Permission denied" in one_line(err)


def test_a_bug_keeps_its_traceback_and_says_so(capsys, monkeypatch):
    def broken(*args, **kwargs):
        return {}["missing"]

    monkeypatch.setattr(xpnet.presets, "run", broken)
    with pytest.raises(KeyError):
        cli.main(list(TRAIN), out=io.StringIO())
    assert "internal error" in capsys.readouterr().err


def test_xpnet_debug_shows_the_traceback_of_a_user_error(capsys, monkeypatch):
    monkeypatch.setenv("XPNET_DEBUG", "1")
    with pytest.raises(ValueError, match="task='foo'"):
        cli.main([*TRAIN, "--set", "task=foo"], out=io.StringIO())


def test_exit_status_tells_a_users_error_from_a_bug():
    def raised(make):
        try:
            make()
        except Exception as exc:
            return exc
        raise AssertionError

    assert cli.exit_status(raised(lambda: xpnet.presets.get("ch99"))) == 2
    assert cli.exit_status(raised(lambda: np.ones(2) + np.ones(3))) is None
    assert cli.exit_status(raised(lambda: 1 / 0)) is None
    assert cli.exit_status(raised(lambda: int("x"))) is None
    assert cli.exit_status(FileNotFoundError(2, "No such file", "x.npz")) == 1
    assert cli.exit_status(UserCodeError("m", "check")) == 1
    assert cli.exit_status(UserCodeError("m", "load")) == 2
    assert cli.exit_status(StudyError("m")) == 2


USER = {
    "syntax.py": "class L:\n    def forward(self x):\n        return x\n",
    "init.py": """
        import xpnet
        class L(xpnet.nn.layers.Layer):
            def __init__(self):
                super().__init__()
                raise ValueError("width must be even")
            def forward(self, x, training=True):
                return x
            def backward(self, dy):
                return dy
    """,
    "forward.py": """
        import xpnet
        class L(xpnet.nn.layers.Layer):
            def forward(self, x, training=True):
                return x[99]
            def backward(self, dy):
                return dy
    """,
    "inspect.py": """
        import xpnet
        class Double(xpnet.nn.layers.Layer):
            def forward(self, x, training=True):
                return 2 * x
            def backward(self, dy):
                return 2 * dy
        class NotALayer:
            pass
        class Needs(xpnet.nn.layers.Layer):
            def __init__(self, width):
                super().__init__()
            def forward(self, x, training=True):
                return x
            def backward(self, dy):
                return dy
    """,
    "importerror.py": "import no_such_module_xyz\n",
    "noreturn.py": """
        import xpnet
        class L(xpnet.nn.layers.Layer):
            def forward(self, x, training=True):
                return 2 * x
            def backward(self, dy):
                dx = 2 * dy
        class Dense(xpnet.nn.Dense):
            def backward(self, dy):
                super().backward(dy)
    """,
    "shapes.py": """
        import xpnet
        class Transposed(xpnet.nn.layers.Layer):
            def forward(self, x, training=True):
                return 2 * x
            def backward(self, dy):
                return (2 * dy).T
        class NoOutput(xpnet.nn.layers.Layer):
            def forward(self, x, training=True):
                self.y = 2 * x
            def backward(self, dy):
                return 2 * dy
    """,
}


@pytest.fixture
def user_dir(tmp_path) -> Path:
    for name, text in USER.items():
        (tmp_path / name).write_text(textwrap.dedent(text).lstrip())
    return tmp_path


@pytest.mark.parametrize(("spec", "code", "fragments"), [
    ("syntax.py:L", 2, ["SyntaxError", "syntax.py, line 2", "def forward(self x):"]),
    ("init.py:L", 2, ["L() raised ValueError: width must be even", "init.py, line 5",
                      "in __init__"]),
    ("forward.py:L", 1, ["IndexError", "forward.py, line 4, in forward", "x[99]"]),
    ("importerror.py:L", 2, ["ModuleNotFoundError", "importerror.py, line 1"]),
    ("inspect.py:Nope", 2, ["has no class 'Nope'", "inspect.py:Double"]),
    ("inspect.py:NotALayer", 2, ["needs forward and backward methods"]),
    ("inspect.py:Needs", 2, ["needs the argument 'width'", "--arg width=VALUE"]),
    ("missing.py:L", 2, ["file not found"]),
    ("nosuchcomponent", 2, ["unknown component 'nosuchcomponent'", "Dense"]),
    # a near miss of a built-in name, a file without its class
    ("Dens", 2, ["unknown component 'Dens'. Did you mean 'Dense'? Give a built-in name"]),
    ("inspect.py", 2, ["unknown component 'inspect.py'. Name the class in it too: "
                       "inspect.py:ClassName. Give"]),
    # the user's backward forgot its return: no silent pass on W and b alone
    ("noreturn.py:L", 1, ["noreturn.py:L: L.backward returned None and set no .dinputs",
                          "e.g. 'return dx'"]),
    ("noreturn.py:Dense", 1, ["Dense.backward returned None and set no .dinputs"]),
    ("shapes.py:Transposed", 1, ["Transposed.backward returned a gradient of shape (5, 4) for "
                                 "an input of shape (4, 5): dx must have the input's shape"]),
    ("shapes.py:NoOutput", 1, ["NoOutput.forward returned None and set no .output"]),
])
def test_a_users_file_error_is_shown_at_its_line(capsys, user_dir, spec, code, fragments):
    target = str(user_dir / spec) if ":" in spec else spec
    status, _, err = run_cli(capsys, "gradcheck", target)
    assert status == code
    line = one_line(err)
    for fragment in fragments:
        assert fragment in line, line
    if spec.partition(":")[0] in ("syntax.py", "init.py", "forward.py", "importerror.py"):
        assert "Fix that line of your code" in line


def test_a_file_that_is_no_python_source_is_named(capsys, tmp_path):
    """It was imported as a module: "cannot import module 'notes.txt' ... give the file:
    path/to/txt.py:L"."""
    (tmp_path / "notes.txt").write_text("class L: pass\n")
    status, _, err = run_cli(capsys, "gradcheck", f"{tmp_path / 'notes.txt'}:L")
    assert status == 2
    assert f"'{tmp_path / 'notes.txt'}' (from '{tmp_path / 'notes.txt'}:L') is a file but not " \
           "Python source: components are loaded from a .py file (path/to/file.py:ClassName) " \
           "or an importable module (package.module:ClassName)." in one_line(err)


def test_a_class_missing_from_a_package_lists_its_re_exports_and_names_a_near_miss(capsys):
    """A package such as xpnet.nn defines no class itself: it listed 'none'."""
    status, _, err = run_cli(capsys, "gradcheck", "xpnet.nn:dense")
    assert status == 2
    line = one_line(err)
    assert "'xpnet.nn' has no class 'dense' (its layers and losses: [" in line
    assert "'Dense', 'Dropout'" in line and "Did you mean xpnet.nn:Dense?" in line
    status, _, err = run_cli(capsys, "gradcheck", "xpnet.nn.layers:Nope")
    assert "Name one of them: xpnet.nn.layers:Dense." in one_line(err)


@pytest.mark.parametrize("value", ["abc", "0", "-3"])
def test_a_bad_size_given_with_arg_is_not_blamed_on_the_users_file(capsys, tmp_path, value):
    (tmp_path / "scale.py").write_text(textwrap.dedent("""\
        class Scale:
            def __init__(self, n_in, factor=2.0):
                self.n_in, self.factor = n_in, factor
            def forward(self, x, training=True):
                self.output = x * self.factor
            def backward(self, d):
                self.dinputs = d * self.factor
        """))
    status, _, err = run_cli(capsys, "gradcheck", f"{tmp_path / 'scale.py'}:Scale", "--arg",
                             f"n_in={value}")
    line = one_line(err)
    assert status == 2 and "in xpnet's code, not in scale.py: check what your class's " \
        "forward and backward return" in line and "any values given with --arg" in line
    assert "Fix that line" not in line


@pytest.mark.parametrize(("target", "arg", "fragment"), [
    ("xpnet.book:Layer_Dense", "n_input=3", "Layer_Dense has no argument 'n_input' (its "
     "arguments are n_inputs, n_neurons, weight_regularizer_l1"),
    ("{dir}/inspect.py:Double", "x=1", "Double has no argument 'x' (it takes no arguments): "
     "drop --arg x=..."),
])
def test_an_arg_the_class_does_not_take_is_named_not_called_a_bug(capsys, user_dir, target,
                                                                   arg, fragment):
    status, _, err = run_cli(capsys, "gradcheck", target.format(dir=user_dir), "--arg", arg)
    line = one_line(err)
    assert status == 2 and fragment in line and "internal error" not in line, line


def test_a_module_that_is_not_installed(capsys):
    status, _, err = run_cli(capsys, "gradcheck", "no_such_pkg_xyz.layers:L")
    assert status == 2
    assert "cannot import module 'no_such_pkg_xyz.layers'" in one_line(err)


def test_a_user_file_named_like_a_stdlib_module_shadows_nothing(capsys, user_dir):
    import inspect

    status, out, _ = run_cli(capsys, "gradcheck", f"{user_dir / 'inspect.py'}:Double")
    assert status == 0 and "Double" in out
    assert sys.modules["inspect"] is inspect
    assert any(name.startswith("_xpnet_user_inspect_") for name in sys.modules)


def test_a_user_file_edited_at_once_runs_its_new_code(capsys, tmp_path):
    path = tmp_path / "layer.py"
    body = ("import xpnet\nclass L(xpnet.nn.layers.Layer):\n"
            "    def forward(self, x, training=True):\n        return {}\n"
            "    def backward(self, dy):\n        return dy\n")
    path.write_text(body.format("x"))
    assert run_cli(capsys, "gradcheck", f"{path}:L")[0] == 0
    path.write_text(body.format("2 * x"))
    assert run_cli(capsys, "gradcheck", f"{path}:L")[0] == 1  # backward now wrong


def test_gradcheck_exit_codes_keep_their_contract(capsys):
    assert run_cli(capsys, "gradcheck", "Dense")[0] == 0
    with pytest.raises(SystemExit) as info:
        cli.main(["gradcheck", "--dtype", "int8"])
    assert info.value.code == 2


def test_explain_plot_into_a_file_path_is_refused(capsys, tmp_path):
    (tmp_path / "f").write_text("")
    status, _, err = run_cli(capsys, "explain", "adam", "--plot", str(tmp_path / "f" / "p.png"))
    assert status == 2 and "--plot" in one_line(err)


def test_study_out_that_is_a_file_is_refused(capsys, tmp_path):
    (tmp_path / "f").write_text("")
    status, _, err = run_cli(capsys, "study", "lr", "--quick", "--out", str(tmp_path / "f"))
    assert status == 2
    assert "is a file, not a folder" in one_line(err)


# -- studies -------------------------------------------------------------------------------

TINY = {"quick": True, "seeds": 1, "train_samples": (10,), "test_samples": (10,),
        "workers": 1}


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("study") / "s"
    run_study("samples", out, **TINY)
    return out


@pytest.fixture
def copy(study_dir, tmp_path) -> Path:
    out = tmp_path / "s"
    shutil.copytree(study_dir, out)
    return out


def test_a_study_records_its_plan_and_frees_its_lock(study_dir):
    plan = json.loads((study_dir / PLAN_FILE).read_text())
    assert plan["studies"] == ["samples"] and plan["preset"] == ["ch15"]
    assert (study_dir / FolderLock.NAME).read_text() == ""


def test_resume_with_the_same_plan_runs_nothing(copy):
    result = run_study("samples", copy, resume=True, **TINY)
    assert result["ran"] == 0 and result["notes"] == []


@pytest.mark.parametrize(("change", "fragments"), [
    ({"preset": "ch14"}, ["preset: [\"ch15\"] there, [\"ch14\"] now"]),
    ({"train_samples": (20,)}, ["train_samples: [10] there, [20] now"]),
    ({"test_samples": (20,)}, ["test_samples: [10] there, [20] now"]),
    ({"studies": "lr"}, ["studies: [\"samples\"] there, [\"lr\"] now"]),
])
def test_resume_refuses_another_plan_and_says_what_differs(copy, change, fragments):
    kwargs = {**TINY, **change}
    studies = kwargs.pop("studies", "samples")
    if studies != "samples":
        del kwargs["train_samples"]  # the samples study's setting, refused without it
    with pytest.raises(StudyError) as info:
        run_study(studies, copy, resume=True, **kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message
    assert "--resume can add trials to it (more --seeds, more --train-samples or --lr " \
        "values, another study) but not change or drop the stored ones" in message
    assert "--out OTHER_DIR" in message


def sqlite_rows(folder: Path) -> dict[str, tuple]:
    """Every stored trial's configuration, time and measurements, by key, read raw."""
    with sqlite3.connect(folder / "results.sqlite") as db:
        trials = db.execute("SELECT key, config, seconds, diverged_at FROM trials").fetchall()
        return {key: (rest, db.execute("SELECT * FROM rows WHERE key = ? ORDER BY rowid",
                                       (key,)).fetchall()) for key, *rest in trials}


def test_resume_with_more_seeds_and_sizes_runs_only_the_new_trials(copy):
    """A user who wants more repeats resumes with more --seeds: the stored trial is kept as
    it is (not run again), the new ones run, and the plan grows to hold them all."""
    before = sqlite_rows(copy)
    result = run_study("samples", copy, resume=True, **{**TINY, "seeds": 2,
                                                        "train_samples": (10, 20)})
    assert (result["ran"], result["skipped"]) == (3, 1)  # seed 1 at 10/class, both at 20
    assert result["notes"] == [
        f"the plan in {str(copy)!r} is extended (seeds: 1 there, 2 now; train_samples: [10] "
        "there, [10, 20] now): 3 new trials beside its 1 planned ones, which are kept as "
        "stored"]
    after = sqlite_rows(copy)
    assert {k: after[k] for k in before} == before  # the old results untouched
    plan = json.loads((copy / PLAN_FILE).read_text())
    assert (plan["seeds"], plan["train_samples"], len(plan["trials"])) == (2, [10, 20], 4)
    # the larger plan is the folder's now: going back to fewer seeds would drop trials
    with pytest.raises(StudyError, match="seeds: 2 there, 1 now"):
        run_study("samples", copy, resume=True, **TINY)
    assert run_study("samples", copy, resume=True, **{**TINY, "seeds": 2,
                                                       "train_samples": (10, 20)})["ran"] == 0


def test_resuming_with_another_quick_names_quick_first(copy):
    kwargs = {**TINY, "quick": False}
    with pytest.raises(StudyError) as info:
        run_study("samples", copy, resume=True, **kwargs)
    assert "holds another study (quick (--quick): True there, False now; " in str(info.value)


def test_a_plan_recorded_without_quick_still_resumes(copy):
    recorded = json.loads((copy / PLAN_FILE).read_text())
    del recorded["quick"]
    (copy / PLAN_FILE).write_text(json.dumps(recorded))
    assert run_study("samples", copy, resume=True, **TINY)["ran"] == 0


@pytest.mark.parametrize(("kwargs", "error", "pattern"), [
    ({"workers": "2"}, TypeError, r"^workers must be an integer, got the string '2'; pass the "
                                  r"number 2 \(without quotes\)\.$"),
    ({"workers": -1}, ValueError, r"^workers must be a positive integer, got -1; pass e\.g\. "
                                   r"workers=10\.$"),
    ({"workers": 0}, ValueError, r"^workers must be a positive integer, got 0; pass e\.g\. "
                                  r"workers=10\.$"),
    ({"group_size": 1.5}, TypeError, r"^group_size must be an integer, got 1\.5 \(a float\); "
                                     r"pass a whole number such as 1 or 2"),
    ({"group_size": 0}, ValueError, r"^group_size must be a positive integer, got 0; pass "
                                     r"e\.g\. group_size=10\.$"),
    ({"quick": "no"}, TypeError, r"^quick must be True or False, got the string 'no'\.$"),
    ({"resume": "yes"}, TypeError, r"^resume must be True or False, got the string 'yes'\.$"),
    ({"dask": 8786}, TypeError, r"^dask must be 'local' or a scheduler's address such as "
                                r"'tcp://HOST:8786', got 8786 \(an int\)"),
    ({"dask": ""}, ValueError, r"^dask must be 'local' or a scheduler's address .* got the "
                               r"string ''; or leave it out \(None\)"),
    ({"progress": "bar"}, TypeError, r"^progress must be a function progress\(done, total, "
                                     r"trial\), called after each stored trial, got the "
                                     r"string 'bar'; or leave it out \(None\)\.$"),
    ({"studies": "epochs", "epochs": 1.5}, TypeError, r"^epochs must be an integer, got 1\.5 "
                                                      r"\(a float\)"),
    ({"studies": None}, TypeError, r"^studies must be a study's name .* got None "
                                   r"\(a NoneType\); pass e\.g\. 'lr'"),
    ({"studies": []}, ValueError, r"^studies is an empty list: there is nothing to run"),
    ({"studies": "lr", "lr": np.array(0.05)}, TypeError,
     r"^lr must be a tuple of learning rates, got an object of type ndarray with shape \(\); "
     r"pass lr=\(0\.05,\) for that one value"),
    ({"studies": "lr", "lr": {0.05: 1}}, TypeError, r"^lr must be a tuple of learning rates, "
                                                    r"got \{0\.05: 1\} \(a dict\)"),
    ({"backend": "bogus"}, ValueError, r"^backend must be one of 'numpy', .* got the string "
                                       r"'bogus'\.$"),
    ({"test_samples": (10**9,)}, ValueError, r"^a size in test_samples must be at most "
                                             r"3,333,333 samples per class .*got "
                                             r"1,000,000,000; ask for fewer, e\.g\. "
                                             r"test_samples=\(10, 100, 1000\)\.$"),
])
def test_a_bad_study_argument_is_refused_before_anything_is_written(tmp_path, kwargs, error,
                                                                      pattern):
    kwargs = {**TINY, **kwargs}
    studies = kwargs.pop("studies", "samples")
    if studies != "samples":
        del kwargs["train_samples"]
    with pytest.raises(error, match=pattern):
        run_study(studies, tmp_path / "s", **kwargs)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("out", "error", "pattern"), [
    ("f", ValueError, r"^out must be a folder to write into, but '.*/f' is a file, not a "
                      r"folder; give a folder, e\.g\. out='.*/results'\.$"),
    ("f/s", ValueError, r"^out must be a folder to write into, but '.*/f/s' is under '.*/f', "
                        r"which is a file, not a folder"),
    (5, TypeError, r"^out must be a folder's path \(a str or a pathlib\.Path\), got 5 "
                   r"\(an int\); e\.g\. out='results'\.$"),
    ("  ", ValueError, r"^out must be a folder's path, got an empty one"),
])
def test_an_out_that_cannot_be_a_folder_is_refused_before_anything_is_written(
        tmp_path, monkeypatch, out, error, pattern):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f").write_text("x")
    with pytest.raises(error, match=pattern):
        run_study("samples", tmp_path / out if isinstance(out, str) and out.strip() else out,
                  **TINY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]
    assert (tmp_path / "f").read_text() == "x"


def test_a_full_folder_without_resume_is_refused(copy, capsys):
    with pytest.raises(StudyError, match="resume=True"):
        run_study("samples", copy, **TINY)
    status, _, err = run_cli(capsys, "study", "samples", "--quick", "--seeds", "1",
                             "--train-samples", "10", "--test-samples", "10", "--workers",
                             "1", "--out", str(copy))
    assert status == 2 and "pass --resume" in one_line(err)


def test_an_unreadable_plan_is_refused(copy):
    (copy / PLAN_FILE).write_text("{not json")
    with pytest.raises(StudyError, match="not a readable study plan"):
        run_study("samples", copy, resume=True, **TINY)


HOLD = """
import sys, time
from xpnet.files import FolderLock
with FolderLock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_run_on_a_locked_folder_refuses_naming_the_holder(tmp_path, capsys):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "s")],
                            stdout=subprocess.PIPE, env=ENV, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(StudyError) as info:
            run_study("samples", tmp_path / "s", **TINY)
        assert f"pid {proc.pid}" in str(info.value) and "started 20" in str(info.value)
        status, _, err = run_cli(capsys, "study", "samples", "--quick", "--out",
                                 str(tmp_path / "s"))
        assert status == 2
        assert f"in use by another xpnet study (pid {proc.pid}" in one_line(err)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()


def test_the_lock_of_a_killed_run_is_taken_over_saying_so(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "s")],
                            stdout=subprocess.PIPE, env=ENV, text=True)
    assert proc.stdout.readline().strip() == "held"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    with FolderLock(tmp_path / "s") as lock:
        assert lock.note is not None and f"pid {proc.pid}" in lock.note
        assert "no longer runs" in lock.note
    with FolderLock(tmp_path / "s") as lock:
        assert lock.note is None  # released cleanly the last time


ORPHANS = """
import sys
from xpnet.experiments import Store, plan, run
trials = plan(["samples"], grid="quick", seeds=4, train_samples=(1000, 3000))
with Store(sys.argv[1]) as store:
    run(trials, store, workers=2, group_size=1)
"""


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_workers_and_resource_tracker_die_with_a_killed_parent(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", ORPHANS, str(tmp_path / "s")], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(children) < 3:  # 2 workers + tracker
            time.sleep(0.2)
            children = _children(proc.pid)
        assert len(children) >= 3, children
        time.sleep(3)  # the workers start their watch
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_running(c) for c in children):
            time.sleep(0.2)
        assert not [c for c in children if _running(c)]
    finally:
        for child in children:
            if _running(child):
                os.kill(child, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
