"""``xpnet.book``: the book's names on xpnet.

The main check runs the book's own chapter scripts (tests/book/chNN.py) with their imports
swapped for ``from xpnet.book import *`` and ``init()`` and holds them to the reference
outputs the book's code printed (tests/book/*.out.txt).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from _util import BOOK, CV2_STANDIN, REFERENCES, host, reference, run_script, write_fashion_mnist
from xpnet import book, gradcheck, trace
from xpnet.bench import nnfs_book
from xpnet.cli import main
from xpnet.nn.layers import Dense, Dropout

# -- the chapter scripts, with their imports swapped ---------------------------------------

#: (pattern, replacement, how many times it matches) per line the swap changes
SWAPS = (
    (r"^import nnfs\n", "", {1}),
    (r"^from nnfs\.datasets import \w+\n", "", {0, 1}),  # (chapters 19-22 read files)
    (r"^from xpnet\.bench\.nnfs_book import \([^)]*\)\n", "from xpnet.book import *\n", {1}),
    (r"^nnfs\.init\(\)\n", "{init}\n", {1}),
)


def swapped(chapter: str, tmp_path: Path, init: str = "init()") -> Path:
    """A copy of ``tests/book/{chapter}.py`` that runs on xpnet.book."""
    text = (BOOK / f"{chapter}.py").read_text()
    for pattern, replacement, counts in SWAPS:
        text, count = re.subn(pattern, replacement.format(init=init), text, flags=re.M)
        assert count in counts, f"{chapter}.py: {pattern!r} matched {count} times"
    path = tmp_path / f"{chapter}_xpnet_book.py"
    path.write_text(text)
    return path


def test_the_swap_changes_only_the_imports_and_init(tmp_path):
    original = (BOOK / "ch14.py").read_text().splitlines()
    copy = swapped("ch14", tmp_path).read_text().splitlines()
    removed = [line for line in original if line not in copy]
    assert removed == ["import nnfs", "from nnfs.datasets import spiral_data",
                       "from xpnet.bench.nnfs_book import (", "    Activation_ReLU,",
                       "    Activation_Softmax_Loss_CategoricalCrossentropy,",
                       "    Layer_Dense,", "    Optimizer_Adam,", ")", "nnfs.init()"]
    assert [line for line in copy if line not in original] == ["from xpnet.book import *",
                                                               "init()"]


def test_ch14_on_xpnet_book_prints_the_books_first_epochs(tmp_path):
    lines = run_script(swapped("ch14", tmp_path), "--epochs", "1000")
    assert lines[:-1] == reference("ch14")[:11]  # epochs 0, 100, ..., 1000
    assert lines[-1].startswith("validation, acc: ")


def test_ch14_with_its_own_classes_prints_the_books_epochs_after_init(tmp_path):
    """A script that keeps the book's classes (here imported from the project's copy, as a
    listing defines them) with only nnfs's lines swapped: init() changes NumPy as
    nnfs.init() does, so the book's own Layer_Dense draws and multiplies as in the book."""
    text = (BOOK / "ch14.py").read_text()
    for old, new in (("import nnfs\n", "from xpnet.book import *\n"),
                     ("from nnfs.datasets import spiral_data\n", ""),
                     ("nnfs.init()\n", "init()\n")):
        assert text.count(old) == 1
        text = text.replace(old, new)
    path = tmp_path / "ch14_own_classes.py"
    path.write_text(text)
    lines = run_script(path, "--epochs", "500")
    assert lines[:-1] == reference("ch14")[:6]  # epochs 0, 100, ..., 500


def test_ch18_on_xpnet_book_prints_the_reference(tmp_path):
    assert run_script(swapped("ch18", tmp_path), "--epochs", "100") == \
        reference("ch18.epochs-100")


def test_ch18_on_array_api_strict_prints_the_reference(tmp_path):
    pytest.importorskip("array_api_strict")
    script = swapped("ch18", tmp_path, init='init(backend="array_api_strict")')
    assert run_script(script, "--epochs", "100") == reference("ch18.epochs-100")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(REFERENCES))
def test_every_chapter_on_xpnet_book_prints_the_reference(name, tmp_path):
    chapter = name.split(".")[0]
    assert run_script(swapped(chapter, tmp_path), *REFERENCES[name]) == reference(name)


# -- students' scripts: the same lines on nnfs and on xpnet.book -----------------------------
#: scripts written as a student would (hand loops with accuracy by np.argmax, a subclass of a
#: book layer, a class of one's own beside the library's, the arrays of a trained Model
#: printed), each run with ``nnfs`` (the nnfs package and the book's classes) or ``xpnet``
STUDENTS = sorted((BOOK / "students").glob("*.py"))


@pytest.mark.parametrize("script", [
    pytest.param(path, marks=() if path.stem == "ch18_model_inspected" else pytest.mark.slow,
                 id=path.stem) for path in STUDENTS])
def test_a_students_script_prints_the_same_lines_on_xpnet_book_as_on_nnfs(script):
    theirs = run_script(script, "nnfs")
    assert len(theirs) > 5
    assert run_script(script, "xpnet") == theirs


# -- chapters 19-22: Fashion MNIST, read from image files -----------------------------------
# The book's scripts and their copies on xpnet.book run on a small dataset in the book's
# layout (no download), written once per session; each run has a working folder of its own
# (ch21 saves the model there that ch22 loads: the book's code pickles it, xpnet does not).
# The book's load_mnist_dataset lists the folders with os.listdir, whose order is the file
# system's: what the scripts print is compared between runs on the same folder, not kept.

#: The chapter scripts in the order they run, with their arguments (a few short epochs)
FASHION = {"ch19": ("--epochs", "3", "--print-every", "2"),
           "ch21": ("--epochs", "2", "--print-every", "2"),
           "ch22": ()}


@pytest.fixture(scope="module")
def fashion_mnist(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fashion_mnist")
    write_fashion_mnist(folder)
    return folder


def run_chapters(scripts: dict[str, Path], data: Path, folder: Path) -> dict[str, list[str]]:
    """What each of ``scripts`` (chapter: script) prints, run in turn in ``folder``, where
    the dataset and pictures of ``data`` are linked and ``import cv2`` finds the stand-in."""
    folder.mkdir()
    for name in ("fashion_mnist_images", "tshirt.png", "pants.png"):
        (folder / name).symlink_to(data / name)
    return {chapter: run_script(script, *FASHION[chapter], cwd=folder, paths=(CV2_STANDIN,))
            for chapter, script in scripts.items()}


@pytest.fixture(scope="module")
def fashion_book(fashion_mnist, tmp_path_factory) -> dict[str, list[str]]:
    """What the book's code (the scripts as they are, with nnfs) prints."""
    pytest.importorskip("nnfs")
    return run_chapters({chapter: BOOK / f"{chapter}.py" for chapter in FASHION},
                        fashion_mnist, tmp_path_factory.mktemp("book") / "run")


def test_the_books_fashion_mnist_scripts_train_save_load_and_predict(fashion_book):
    """What the book's code does with the dataset: the oracle the next tests hold xpnet to."""
    ch19, ch21, ch22 = fashion_book["ch19"], fashion_book["ch21"], fashion_book["ch22"]
    assert ch19[0] == "(600, 28, 28) uint8 (600,) uint8"  # 60 per label, the labels uint8
    assert ch19[3] == "-1.0 1.0 (600, 784) float32"  # scaled and reshaped
    # 600 samples in batches of 128: steps 0-4, printed at 0, 2 and the last, 4
    epoch = ["step: 0", "step: 2", "step: 4", "training", "validation"]
    assert [line.split(",")[0] for line in ch19[4:]] == [
        *(head for n in (1, 2, 3) for head in (f"epoch: {n}", *epoch)),
        "validation", "validation"]  # chapter 20: evaluate on the test and training data
    assert ch19[-2] == ch19[-3]  # evaluate(X_test, y_test): the 120 samples are one batch
    # chapter 21: the parameters set, the parameters loaded and the model loaded evaluate
    # alike, and the loaded model in batches as the trained model's last validation did
    heads = [line.split(",")[0] for line in ch21]
    params = heads.index("3 [((784")
    assert heads[params:] == ["3 [((784", *["validation"] * 4]
    assert ch21[params + 1] == ch21[params + 2] == ch21[params + 3]
    assert ch21[params + 4] == ch21[params - 1]
    # chapter 22: the loaded model's predictions, named
    assert ch22[0] == "(5, 10) float32"
    labels = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
              "Sneaker", "Bag", "Ankle boot"}
    names = [line for line in ch22 if line in labels]
    assert len(names) == 5 + 2


def test_chapters_19_to_22_on_xpnet_book_print_what_the_books_code_prints(
        fashion_mnist, fashion_book, tmp_path):
    """The scripts with their imports swapped for ``from xpnet.book import *`` and
    ``init()``: the shuffle, the batches, evaluate, the parameters, save/load (xpnet's
    file, not a pickle) and predict print the book's lines, to the last digit."""
    scripts = {chapter: swapped(chapter, tmp_path) for chapter in FASHION}
    ours = run_chapters(scripts, fashion_mnist, tmp_path / "run")
    for chapter, lines in fashion_book.items():
        assert ours[chapter] == lines, chapter


@pytest.mark.parametrize("model", ["the book's Model", "xpnet's Model"])
def test_chapter_19_with_its_own_classes_prints_the_books_lines(
        fashion_mnist, fashion_book, tmp_path, model):
    """The script keeps the book's classes (imported from the project's copy, as a listing
    defines them) and swaps nnfs for xpnet.book: init() shuffles and computes as
    nnfs.init() does, and xpnet's Model runs the book's loop over the student's classes."""
    text = (BOOK / "ch19.py").read_text()
    changes = [("import nnfs\n", "from xpnet.book import *\n"), ("nnfs.init()\n", "init()\n")]
    if model == "xpnet's Model":
        changes.append(("                       Model19 as Model,\n", ""))
    for old, new in changes:
        assert text.count(old) == 1
        text = text.replace(old, new)
    script = tmp_path / "ch19_own_classes.py"
    script.write_text(text)
    ours = run_chapters({"ch19": script}, fashion_mnist, tmp_path / "run")
    assert ours["ch19"] == fashion_book["ch19"]


# -- the adapters -----------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def fresh_stream():
    """Each test starts from the book's stream on NumPy (init() is module-wide state)."""
    book.init(backend="numpy")
    yield
    book.init(backend="numpy")


def test_dense_has_the_books_attributes_over_xpnets_dense():
    X, _ = book.spiral_data(samples=10, classes=3)
    dense = book.Layer_Dense(2, 4, weight_regularizer_l2=5e-4, bias_regularizer_l1=0.1)
    assert isinstance(dense.xpnet, Dense)
    assert dense.weights is dense.xpnet.params["W"] and dense.weights.shape == (2, 4)
    assert dense.weight_regularizer_l2 == 5e-4 and dense.bias_regularizer_l1 == 0.1
    assert not hasattr(dense, "dweights") and not hasattr(dense, "weight_momentums")
    assert dense.forward(X) is None
    assert dense.inputs is X
    np.testing.assert_array_equal(dense.output, dense.xpnet.forward(X))
    assert dense.backward(np.ones((30, 4), dtype=np.float32)) is None
    assert dense.dinputs.shape == (30, 2)
    assert dense.dweights is dense.xpnet.grads["W"] and dense.dbiases.shape == (1, 4)


def test_optimizer_state_under_the_books_names():
    dense = book.Layer_Dense(2, 3)
    dense.forward(np.ones((5, 2), dtype=np.float32))
    dense.backward(np.ones((5, 3), dtype=np.float32))
    adam = book.Optimizer_Adam(learning_rate=0.01, decay=0.1)
    adam.pre_update_params()
    adam.update_params(dense)
    adam.post_update_params()
    state = dense.xpnet.optimizer_state
    assert dense.weight_momentums is state["W"]["m"] and dense.weight_cache is state["W"]["v"]
    assert dense.bias_momentums is state["b"]["m"] and dense.bias_cache is state["b"]["v"]
    assert adam.iterations == 1 and adam.current_learning_rate == 0.01
    adam.pre_update_params()
    assert adam.current_learning_rate == pytest.approx(0.01 / 1.1)
    for optimizer, momentums, cache in ((book.Optimizer_SGD(momentum=0.5), "u", None),
                                        (book.Optimizer_Adagrad(), None, "cache"),
                                        (book.Optimizer_RMSprop(), None, "cache")):
        layer = book.Layer_Dense(2, 3)
        layer.forward(np.ones((5, 2), dtype=np.float32))
        layer.backward(np.ones((5, 3), dtype=np.float32))
        optimizer.update_params(layer)
        state = layer.xpnet.optimizer_state["W"]
        assert hasattr(layer, "weight_momentums") == (momentums is not None)
        assert hasattr(layer, "weight_cache") == (cache is not None)
        if momentums:
            assert layer.weight_momentums is state[momentums]
        if cache:
            assert layer.weight_cache is state[cache]


def test_optimizer_defaults_are_the_books():
    assert (book.Optimizer_SGD().learning_rate, book.Optimizer_SGD().momentum) == (1.0, 0.0)
    assert (book.Optimizer_Adagrad().learning_rate, book.Optimizer_Adagrad().epsilon) == \
        (1.0, 1e-7)
    rms = book.Optimizer_RMSprop()
    assert (rms.learning_rate, rms.decay, rms.epsilon, rms.rho) == (0.001, 0.0, 1e-7, 0.9)
    adam = book.Optimizer_Adam()
    assert (adam.learning_rate, adam.epsilon, adam.beta_1, adam.beta_2) == \
        (0.001, 1e-7, 0.9, 0.999)


def test_dropout_rate_is_the_drop_rate_and_stores_the_keep_rate():
    drop = book.Layer_Dropout(0.1)
    assert isinstance(drop.xpnet, Dropout) and drop.xpnet.rate == 0.1
    assert drop.rate == pytest.approx(0.9)  # the book stores 1 - rate
    x = np.ones((4, 50), dtype=np.float32)
    drop.forward(x)
    assert set(np.unique(drop.output).round(6).tolist()) <= {0.0, round(1 / 0.9, 6)}
    assert drop.binary_mask is drop.xpnet.mask
    drop.forward(x, False)
    assert drop.output is x


def test_losses_calculate_regularize_and_accumulate():
    dense = book.Layer_Dense(2, 3, weight_regularizer_l2=0.5)
    loss = book.Loss_CategoricalCrossentropy()
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4]], dtype=np.float32)
    y = np.array([0, 1])
    expected = -(np.log(0.7) + np.log(0.5)) / 2
    assert float(loss.calculate(p, y)) == pytest.approx(expected, rel=1e-6)
    penalty = 0.5 * float(np.sum(host(dense.weights) ** 2))
    assert float(loss.regularization_loss(dense)) == pytest.approx(penalty, rel=1e-6)
    loss.remember_trainable_layers([dense])
    data, reg = loss.calculate(p, y, include_regularization=True)
    assert float(data) == pytest.approx(expected, rel=1e-6)
    assert float(reg) == pytest.approx(penalty, rel=1e-6)
    assert float(loss.calculate_accumulated()) == pytest.approx(expected, rel=1e-6)
    loss.new_pass()
    loss.calculate(p[:1], y[:1])
    assert float(loss.calculate_accumulated()) == pytest.approx(-np.log(0.7), rel=1e-6)
    assert loss.backward(p, y) is None and loss.dinputs.shape == (2, 3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_backward_after_init_is_the_books_per_sample_jacobian_to_the_bit(dtype):
    """Chapter 9 checks the separate softmax and loss gradients against the combined one;
    the book's loop of float64 np.dot products cast to float32 prints -0.09999999 there."""
    book.init()
    rng = np.random.default_rng(0)
    for s, dvalues in ((np.array([[0.7, 0.1, 0.2], [0.1, 0.5, 0.4], [0.02, 0.9, 0.08]]),
                        -np.eye(3)[[0, 1, 1]] / np.array([[0.7, 0.1, 0.2], [0.1, 0.5, 0.4],
                                                           [0.02, 0.9, 0.08]]) / 3),
                       (rng.dirichlet(np.ones(4), size=50), rng.normal(size=(50, 4)))):
        s, dvalues = s.astype(dtype), dvalues.astype(dtype)
        ours, theirs = book.Activation_Softmax(), nnfs_book.Activation_Softmax()
        ours.output = theirs.output = s
        ours.backward(dvalues)
        theirs.backward(dvalues)
        assert host(ours.dinputs).dtype == theirs.dinputs.dtype
        np.testing.assert_array_equal(host(ours.dinputs), theirs.dinputs)


def test_relu_backward_after_init_leaves_the_books_positive_zeros():
    """The book zeroes the gradient where the unit is off (``dinputs[inputs <= 0] = 0``): a
    student printing activation1.dinputs sees 0., not the -0. of a product with the mask."""
    book.init()
    x = np.array([[-1.0, 0.0, 2.0, -3.0]], dtype=np.float32)
    dvalues = np.array([[-0.5, -0.25, -1.0, 0.5]], dtype=np.float32)
    ours, theirs = book.Activation_ReLU(), nnfs_book.Activation_ReLU()
    for relu in (ours, theirs):
        relu.forward(x)
        relu.backward(dvalues)
    np.testing.assert_array_equal(ours.dinputs, theirs.dinputs)
    assert not np.signbit(ours.dinputs[0, :2]).any()
    assert str(ours.dinputs) == str(theirs.dinputs) == "[[ 0.  0. -1.  0.]]"


def test_softmax_with_crossentropy_sets_output_and_the_joint_gradient():
    combined = book.Activation_Softmax_Loss_CategoricalCrossentropy()
    logits = np.array([[2.0, 1.0, 0.1]], dtype=np.float32)
    assert float(combined.forward(logits, np.array([0]))) == pytest.approx(0.417, abs=1e-3)
    combined.backward(combined.output, np.array([0]))
    np.testing.assert_allclose(combined.dinputs, combined.output - [[1, 0, 0]])


def test_chapter_9s_separate_gradient_check_differentiates_the_outputs_it_sets():
    # the book sets a softmax's output by hand, then runs its backward pass on it
    outputs = np.array([[0.7, 0.1, 0.2], [0.1, 0.5, 0.4], [0.02, 0.9, 0.08]])
    targets = np.array([0, 1, 1])
    combined = book.Activation_Softmax_Loss_CategoricalCrossentropy()
    combined.backward(outputs, targets)
    activation, loss = book.Activation_Softmax(), book.Loss_CategoricalCrossentropy()
    activation.output = outputs
    loss.backward(outputs, targets)
    activation.backward(loss.dinputs)
    np.testing.assert_allclose(host(activation.dinputs), host(combined.dinputs), atol=1e-12)
    np.testing.assert_allclose(host(activation.dinputs)[0], [-0.1, 1 / 30, 2 / 30])
    # and after a forward pass, the output it computed (a sigmoid likewise)
    activation.forward(np.array([[0.0, np.log(2.0)]]))
    activation.backward(np.array([[1.0, 0.0]]))
    np.testing.assert_allclose(host(activation.dinputs), [[2 / 9, -2 / 9]])
    sigmoid = book.Activation_Sigmoid()
    sigmoid.output = np.array([[0.25]])
    sigmoid.backward(np.array([[1.0]]))
    np.testing.assert_allclose(host(sigmoid.dinputs), [[0.25 * 0.75]])


def test_a_scripts_own_numpy_draws_come_from_the_books_stream():
    # chapter 6 perturbs the weights with np.random.randn and chapter 19 shuffles with
    # np.random.shuffle: after init() those draws follow the data's and weights' as in the
    # book, where every draw is NumPy's global generator seeded with 0
    import nnfs.datasets

    book.init()
    book.vertical_data(samples=10, classes=3)
    book.Layer_Dense(2, 3)
    ours = np.random.randn(2, 3)  # noqa: NPY002
    np.random.seed(0)  # noqa: NPY002
    nnfs.datasets.vertical_data(samples=10, classes=3)
    np.random.randn(2, 3)  # the book's Layer_Dense(2, 3) weights  # noqa: NPY002
    np.testing.assert_array_equal(ours, np.random.randn(2, 3))  # noqa: NPY002


def test_the_global_stream_rewinds_in_place_and_copies_apart():
    import copy

    from xpnet.random import Generator

    stream = Generator.numpy_global()
    state = stream.get_state()
    first = stream.randn(3)
    stream.set_state(state)  # gradcheck rewinds a dropout layer's stream so
    np.testing.assert_array_equal(np.float32(np.random.RandomState(0).randn(3)), first)
    np.testing.assert_array_equal(np.random.randn(3).astype(np.float32), first)  # noqa: NPY002 (global)
    twin = copy.deepcopy(stream)  # a copy is a RandomState of its own, in the same state
    np.testing.assert_array_equal(twin.randn(2), stream.randn(2))
    np.random.seed(1)  # noqa: NPY002
    assert not np.array_equal(twin.randn(2), stream.randn(2))


def test_a_books_style_loss_subclass_gets_calculate_from_the_base():
    class Loss_Half(book.Loss):
        def forward(self, y_pred, y_true):
            return np.mean(y_pred - y_true, axis=-1) / 2

    loss = Loss_Half()
    assert float(loss.calculate(np.ones((4, 2)), np.zeros((4, 2)))) == 0.5
    assert loss.regularization_loss() == 0


def test_accuracies():
    acc = book.Accuracy_Categorical()
    assert float(acc.calculate(np.array([0, 2, 1]), np.array([0, 1, 1]))) == \
        pytest.approx(2 / 3)
    assert book.Accuracy_Categorical(binary=True).binary
    reg = book.Accuracy_Regression()
    reg.init(np.array([[0.0], [2.0]]))
    assert float(reg.precision) == pytest.approx(1 / 250)
    assert float(acc.calculate_accumulated()) == pytest.approx(2 / 3)


def spiral_model(dropout: bool = False) -> tuple[book.Model, tuple, tuple]:
    X, y = book.spiral_data(samples=50, classes=3)
    X_test, y_test = book.spiral_data(samples=20, classes=3)
    model = book.Model()
    model.add(book.Layer_Dense(2, 16, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4))
    model.add(book.Activation_ReLU())
    if dropout:
        model.add(book.Layer_Dropout(0.1))
    model.add(book.Layer_Dense(16, 3))
    model.add(book.Activation_Softmax())
    model.set(loss=book.Loss_CategoricalCrossentropy(),
              optimizer=book.Optimizer_Adam(learning_rate=0.05, decay=5e-5),
              accuracy=book.Accuracy_Categorical())
    model.finalize()
    return model, (X, y), (X_test, y_test)


NUMBER = r"\d+\.\d{3}"
LINE = (rf"acc: {NUMBER}, loss: {NUMBER} \(data_loss: {NUMBER}, reg_loss: {NUMBER}\), "
        r"lr: [0-9.e-]+")


def test_model_train_prints_the_chapter_18_lines(capsys):
    model, (X, y), test = spiral_model(dropout=True)
    assert model.train(X, y, epochs=25, print_every=10, validation_data=test) is None
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["epoch: 10", "epoch: 20", "validation"]
    assert all(re.fullmatch(rf"epoch: \d+, {LINE}", line) for line in lines[:2])
    assert re.fullmatch(rf"validation, acc: {NUMBER}, loss: {NUMBER}", lines[2])
    assert model.trainable_layers == [model.layers[0], model.layers[3]]
    assert model.output_layer_activation is model.layers[-1]


def test_model_train_with_batches_prints_the_chapter_19_lines(capsys):
    model, (X, y), test = spiral_model()
    model.train(X, y, epochs=2, batch_size=40, print_every=2, validation_data=test)
    lines = capsys.readouterr().out.splitlines()
    heads = [line.split(",")[0] for line in lines]
    # 150 samples in batches of 40: steps 0-3, printed at 0, 2 and the last, 3
    epoch = ["step: 0", "step: 2", "step: 3", "training", "validation"]
    assert heads == ["epoch: 1", *epoch, "epoch: 2", *epoch]
    assert all(re.fullmatch(rf"(step: \d|training), {LINE}", line)
               for line in lines if not line.startswith(("epoch", "validation")))
    assert model.optimizer.iterations == 8


def test_the_batched_train_checks_the_data_and_the_model_once(capsys):
    """One xpnet run per call, not one per batch, each checking the data and the model."""
    model, (X, y), test = spiral_model()
    checks = []
    model.xpnet.check_ready = lambda training: checks.append(training)
    model.train(X, y, epochs=3, batch_size=40, print_every=2, validation_data=test)
    assert checks == [True]
    assert model.optimizer.iterations == 3 * 4
    capsys.readouterr()


def test_after_a_batched_train_the_layers_and_the_loss_hold_the_books_dinputs(capsys):
    """Chapter 19's Model with a binary output (no joint gradient): each part's dinputs of
    the last step, to the bit and in the book's dtypes (the first layer's is not computed)."""
    def trained(classes, model, loss, accuracy):
        book.init()
        X, y = book.spiral_data(samples=45, classes=2)
        y = y.reshape(-1, 1)
        model = model()
        for layer in (classes.Layer_Dense(2, 16, weight_regularizer_l2=5e-4),
                      classes.Activation_ReLU(), classes.Layer_Dropout(0.1),
                      classes.Layer_Dense(16, 1), classes.Activation_Sigmoid()):
            model.add(layer)
        model.set(loss=loss(), optimizer=classes.Optimizer_Adam(decay=5e-7),
                  accuracy=accuracy(binary=True))
        model.finalize()
        model.train(X, y, epochs=2, batch_size=32, print_every=1)
        return model

    theirs = trained(nnfs_book, nnfs_book.Model19, nnfs_book.Loss_BinaryCrossentropy19,
                     nnfs_book.Accuracy_Categorical19)
    book_lines = capsys.readouterr().out
    ours = trained(book, book.Model, book.Loss_BinaryCrossentropy, book.Accuracy_Categorical)
    assert capsys.readouterr().out == book_lines
    for mine, books in zip([*ours.layers[1:], ours.loss], [*theirs.layers[1:], theirs.loss],
                           strict=True):
        np.testing.assert_array_equal(mine.dinputs, books.dinputs)
        assert mine.dinputs.dtype == books.dinputs.dtype
    assert ours.layers[-1].dinputs.shape == (90 - 64, 1)  # the last, short batch's
    assert not hasattr(ours.layers[0], "dinputs")


def test_model_predict_evaluate_and_parameters(tmp_path, capsys):
    model, (X, y), test = spiral_model()
    model.train(X, y, epochs=5, print_every=100)
    out = model.predict(X)
    np.testing.assert_array_equal(model.predict(X, batch_size=7), out)
    model.evaluate(*test)
    assert capsys.readouterr().out.startswith("validation, acc: ")
    params = model.get_parameters()
    assert [tuple(w.shape) for w, _ in params] == [(2, 16), (16, 3)]
    model.save_parameters(tmp_path / "p.npz")
    other, _, _ = spiral_model()
    other.load_parameters(tmp_path / "p.npz")
    np.testing.assert_array_equal(other.predict(X), out)
    other.set_parameters([(np.zeros((2, 16)), np.zeros((1, 16))), params[1]])
    assert not np.any(host(other.layers[0].weights))


def test_after_train_with_validation_each_layer_holds_the_books_inputs_and_output(capsys):
    """Students print model.layers[i].output after training: the book's layers hold the
    last pass's (here chapter 18's validation pass), and so do these, to the bit, and the
    last training step's dinputs; what xpnet's training loop does not compute (the first
    layer's dinputs) is named with the call that sets it."""
    def trained(classes):
        book.init()  # the same stream for both models
        X, y = book.spiral_data(samples=50, classes=3)
        X_test, y_test = book.spiral_data(samples=20, classes=3)
        model = classes.Model()
        for layer in (classes.Layer_Dense(2, 16, weight_regularizer_l2=5e-4),
                      classes.Activation_ReLU(), classes.Layer_Dropout(0.1),
                      classes.Layer_Dense(16, 3), classes.Activation_Softmax()):
            model.add(layer)
        model.set(loss=classes.Loss_CategoricalCrossentropy(),
                  optimizer=classes.Optimizer_Adam(learning_rate=0.05, decay=5e-5),
                  accuracy=classes.Accuracy_Categorical())
        model.finalize()
        model.train(X, y, epochs=3, print_every=1, validation_data=(X_test, y_test))
        return model, X_test

    theirs, X_test = trained(nnfs_book)
    ours, _ = trained(book)
    assert ours.xpnet is not None  # trained on xpnet's loop
    for mine, books in zip(ours.layers, theirs.layers, strict=True):
        for name in ("inputs", "output"):
            np.testing.assert_array_equal(getattr(mine, name), getattr(books, name))
    assert ours.layers[0].inputs.shape == X_test.shape
    for mine, books in zip(ours.layers[1:], theirs.layers[1:], strict=True):
        np.testing.assert_array_equal(mine.dinputs, books.dinputs)  # the last step's
        assert mine.dinputs.dtype == books.dinputs.dtype
    with pytest.raises(AttributeError, match=r"this Layer_Dense has no dinputs yet: "
                                             r"model\.backward\(output, y\) or "
                                             r"layer\.backward\(dvalues\) sets it.*but the "
                                             r"first layer's"):
        _ = ours.layers[0].dinputs
    with pytest.raises(AttributeError, match="has no attribute 'dinputz'"):
        _ = ours.layers[3].dinputz
    fresh = book.Layer_Dense(2, 3)
    assert not hasattr(fresh, "output")  # the book's hasattr still tells
    with pytest.raises(AttributeError, match=r"no output yet: model\.forward\(X, "):
        _ = fresh.output
    capsys.readouterr()
    ours.evaluate(X_test, [int(label) for label in X_test[:, 0] > 0], batch_size=7)
    assert capsys.readouterr().out.startswith("validation, acc: ")  # (lists, in batches)
    assert ours.layers[-1].output.shape == (60 % 7, 3)  # the last batch's, as the book's


def test_a_pass_with_dropout_off_leaves_the_last_training_mask_as_the_books_does():
    """The book's Layer_Dropout.forward with training off returns before the mask: after
    training and a prediction, binary_mask still holds the last training step's."""
    def predicted(classes):
        book.init()
        X, y = book.spiral_data(samples=30, classes=3)
        model = classes.Model()
        for layer in (classes.Layer_Dense(2, 8), classes.Activation_ReLU(),
                      classes.Layer_Dropout(0.2), classes.Layer_Dense(8, 3),
                      classes.Activation_Softmax()):
            model.add(layer)
        model.set(loss=classes.Loss_CategoricalCrossentropy(),
                  optimizer=classes.Optimizer_Adam(), accuracy=classes.Accuracy_Categorical())
        model.finalize()
        model.train(X, y, epochs=2, print_every=100)
        model.forward(X[:5], training=False)
        return model.layers[2]

    theirs = predicted(nnfs_book)
    ours = predicted(book)
    assert theirs.binary_mask.shape == (90, 8)
    np.testing.assert_array_equal(host(ours.binary_mask), theirs.binary_mask)
    assert host(ours.binary_mask).dtype == theirs.binary_mask.dtype
    fresh = book.Layer_Dropout(0.2)
    assert not hasattr(fresh, "binary_mask")  # as the book's, before a training pass
    with pytest.raises(AttributeError, match="no binary_mask yet: a forward pass with "):
        _ = fresh.binary_mask


def test_model_save_and_load_round_trip(tmp_path):
    model, (X, y), _ = spiral_model()
    model.train(X, y, epochs=5, print_every=100)
    model.save(tmp_path / "spiral.model")  # the book's name, written as it is (an .npz inside)
    assert (tmp_path / "spiral.model").is_file()
    loaded = book.Model.load(tmp_path / "spiral.model")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert isinstance(loaded.layers[0], book.Layer_Dense)
    assert isinstance(loaded.optimizer, book.Optimizer_Adam)
    assert loaded.optimizer.iterations == 5
    loaded.train(X, y, epochs=1, print_every=100)  # (trains on, keeping dinputs as the book's)
    model.train(X, y, epochs=1, print_every=100)
    np.testing.assert_array_equal(loaded.layers[1].dinputs, model.layers[1].dinputs)


def test_a_loaded_model_draws_its_dropout_masks_from_numpys_global_stream(tmp_path, capsys):
    """The book's Model.load unpickles layers that draw from np.random, where the program is
    now: a loaded model trains as a deep copy of the saved one does (the book's copies
    share the stream too), not from where the saved model's stream was."""
    import copy

    book.init()
    model, (X, y), _ = spiral_model(dropout=True)
    model.train(X, y, epochs=1, print_every=1)
    model.save(tmp_path / "m.model")
    twin = copy.deepcopy(model)
    np.random.random()  # noqa: NPY002 (the program draws on between the save and the load)
    state = np.random.get_state()  # noqa: NPY002
    loaded = book.Model.load(tmp_path / "m.model")
    capsys.readouterr()
    loaded.train(X, y, epochs=3, print_every=1)
    from_loaded = capsys.readouterr().out
    assert not np.array_equal(np.random.get_state()[1], state[1])  # noqa: NPY002 (it drew)
    np.random.set_state(state)  # noqa: NPY002
    twin.train(X, y, epochs=3, print_every=1)
    assert capsys.readouterr().out == from_loaded


def test_load_finds_what_save_wrote_beside_the_books_pickle_and_names_pickles(tmp_path):
    """A pickle the book's own code left at x.model is named as one (not as a corrupt file);
    model.save('x.model') writes x.model itself, as the book does, and xpnet.Model's
    x.model.npz beside a pickle is found."""
    import pickle
    import zipfile

    from xpnet.errors import ModelFileError

    book.init()
    model, (X, _), _ = spiral_model()
    pickled = tmp_path / "fashion_mnist.model"
    pickled.write_bytes(pickle.dumps({"the book's": "model"}))
    with pytest.raises(ModelFileError, match=r"is a pickle \(the book's own code writes them\): "
                                             r"xpnet never reads pickles"):
        book.Model.load(pickled)
    model._net().save(pickled)  # xpnet's own save: x.model.npz, beside the pickle
    np.testing.assert_array_equal(book.Model.load(pickled).predict(X), model.predict(X))
    model.save(pickled)  # the book's: over the pickle, at its very name
    assert zipfile.is_zipfile(pickled)
    np.testing.assert_array_equal(book.Model.load(pickled).predict(X), model.predict(X))
    (tmp_path / "p.parms").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ModelFileError, match=r"'.*p\.parms' is a pickle.*"
                                             r"model\.save_parameters\(path\), an \.npz"):
        model.load_parameters(tmp_path / "p.parms")
    with pytest.raises(ModelFileError, match=r"no parameters file at '.*nope\.parms'"):
        model.load_parameters(tmp_path / "nope.parms")
    with pytest.raises(TypeError, match=r"xpnet's objects are not pickled: they hold an array "
                                        r"library .*model\.save\(path\)"):
        pickle.dumps(model.layers[0])


# -- the student's own parts in the book's Model: the book's loop runs them ------------------
class CountingDense(book.Layer_Dense):
    """A subclass that overrides forward (and changes nothing else)."""

    calls = 0

    def forward(self, inputs, training=True):
        CountingDense.calls += 1
        super().forward(inputs, training)


#: A ReLU typed from the book (the project's copy of the book's code), not xpnet.book's.
MyReLU = nnfs_book.Activation_ReLU


class LeakyReLU(book.Activation_ReLU):
    def forward(self, inputs, training=True):
        self.inputs = inputs
        self.output = np.where(inputs > 0, inputs, 0.01 * inputs)

    def backward(self, dvalues):
        self.dinputs = np.where(self.inputs > 0, dvalues, 0.01 * dvalues)


def trained_lines(capsys, dense=book.Layer_Dense, relu=book.Activation_ReLU, batch_size=None):
    """The printed lines of the book's spiral model, with these classes, from a fresh
    stream (so two calls draw the same data and weights)."""
    book.init(backend="numpy")
    X, y = book.spiral_data(samples=50, classes=3)
    X_test, y_test = book.spiral_data(samples=20, classes=3)
    model = book.Model()
    for layer in (dense(2, 16, weight_regularizer_l2=5e-4), relu(), book.Layer_Dropout(0.1),
                  dense(16, 3), book.Activation_Softmax()):
        model.add(layer)
    model.set(loss=book.Loss_CategoricalCrossentropy(),
              optimizer=book.Optimizer_Adam(learning_rate=0.05, decay=5e-5),
              accuracy=book.Accuracy_Categorical())
    model.finalize()
    capsys.readouterr()
    model.train(X, y, epochs=30, print_every=10, batch_size=batch_size,
                validation_data=(X_test, y_test))
    return model, capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("batch_size", [None, 64])
def test_a_subclass_that_overrides_forward_runs_and_prints_the_same_lines(capsys, batch_size):
    plain, expected = trained_lines(capsys, batch_size=batch_size)
    assert plain.book_loop == [] and plain.xpnet is not None
    CountingDense.calls = 0
    model, lines = trained_lines(capsys, dense=CountingDense, batch_size=batch_size)
    assert model.book_loop == ["CountingDense", "CountingDense"] and model.xpnet is None
    steps = 30 * (1 if batch_size is None else 3)  # 150 samples: 3 batches of 64
    assert CountingDense.calls == 2 * steps + 2 * (1 if batch_size is None else 1 * 30)
    assert lines == expected  # the book's loop computes what xpnet's model does


def test_the_students_own_class_trains_in_the_model_as_in_the_book(capsys):
    _, expected = trained_lines(capsys)
    model, lines = trained_lines(capsys, relu=MyReLU)
    assert model.book_loop == ["Activation_ReLU"] and lines == expected
    assert model.layers[1].prev is model.layers[0] and model.layers[-1].next is model.loss
    _, leaky = trained_lines(capsys, relu=LeakyReLU)  # an override that changes the maths
    assert leaky[0] != expected[0]


def test_a_model_of_the_students_own_classes_keeps_parameters_not_model_files(tmp_path,
                                                                           capsys):
    model, _ = trained_lines(capsys, relu=MyReLU)
    with pytest.raises(RuntimeError, match=r"your own classes \(Activation_ReLU\).*"
                                           r"save_parameters"):
        model.save(tmp_path / "m")
    model.save_parameters(tmp_path / "p.npz")
    X = np.ones((4, 2), dtype=np.float32)
    np.testing.assert_array_equal(model.predict(X, batch_size=3), model.predict(X))


def optimizer_steps(X, pairs, steps=3):
    """Chapter 10's loop: each (layer, optimizer) pair takes ``steps`` steps on ``X``
    with a gradient of ones."""
    for _ in range(steps):
        for layer, optimizer in pairs:
            layer.forward(X)
            layer.backward(np.ones((X.shape[0], 3), dtype=np.float32))
            optimizer.pre_update_params()
            optimizer.update_params(layer)
            optimizer.post_update_params()


def test_an_optimizer_typed_from_the_book_trains_the_books_layers():
    """Chapter 10's Adam as the book writes it (the project's copy of the book's code, not
    one of xpnet.book's classes) sets the layers' state attributes itself."""
    from xpnet.bench.nnfs_book import Optimizer_Adam as TypedAdam

    X = np.linspace(-1, 1, 10, dtype=np.float32).reshape(5, 2)
    ours, theirs = book.Layer_Dense(2, 3), book.Layer_Dense(2, 3)
    theirs.set_parameters(ours.weights.copy(), ours.biases.copy())
    optimizer_steps(X, ((ours, TypedAdam(learning_rate=0.05)),
                        (theirs, book.Optimizer_Adam(learning_rate=0.05))))
    np.testing.assert_allclose(ours.weights, theirs.weights, rtol=1e-6)
    assert ours.weight_cache is ours.xpnet.optimizer_state["W"]["v"]


def test_a_second_optimizer_on_a_layer_starts_its_own_state_as_the_books_do():
    layer = book.Layer_Dense(2, 3)
    layer.forward(np.ones((5, 2), dtype=np.float32))
    layer.backward(np.ones((5, 3), dtype=np.float32))
    book.Optimizer_SGD(momentum=0.5).update_params(layer)
    before = host(layer.weights).copy()
    book.Optimizer_Adam(learning_rate=0.01).update_params(layer)  # no KeyError 'm'
    state = layer.xpnet.optimizer_state["W"]
    assert set(state) == {"u", "m", "v"} and not np.array_equal(host(layer.weights), before)


def test_model_needs_finalize_and_a_loss():
    model = book.Model()
    with pytest.raises(RuntimeError, match=r"model\.finalize\(\)"):
        model.predict(np.ones((1, 2), dtype=np.float32))
    model.add(book.Layer_Dense(2, 1))
    with pytest.raises(RuntimeError, match="no loss"):
        model.finalize()


def test_before_init_the_plain_engine_and_after_it_the_books_stream():
    book.init()
    first = host(book.Layer_Dense(2, 3).weights)
    assert book.Layer_Dense(2, 3).xpnet.ops.name == "faithful"
    book.init()
    np.testing.assert_array_equal(host(book.Layer_Dense(2, 3).weights), first)
    np.testing.assert_array_equal(first[0], (0.01 * np.float32(
        np.random.RandomState(0).randn(6)[:3])).astype(np.float32))


def test_another_backend_holds_the_books_arrays():
    torch = pytest.importorskip("torch")
    book.init(backend="torch")
    X, _ = book.spiral_data(samples=5, classes=2)
    dense = book.Layer_Dense(2, 3)
    dense.forward(X)
    assert isinstance(dense.output, torch.Tensor) and isinstance(dense.weights, torch.Tensor)
    book.set_backend("numpy")
    assert isinstance(book.Layer_Dense(2, 3).weights, np.ndarray)


def test_gradcheck_understands_the_books_layers():
    book.set_backend("numpy")
    for layer in (book.Layer_Dense(3, 4, 0.01, 0.02, 0.03, 0.04), book.Layer_Dropout(0.3),
                  book.Activation_ReLU(), book.Activation_Softmax(),
                  book.Activation_Sigmoid(), book.Activation_Linear()):
        report = gradcheck.check(layer)
        assert report.passed, str(report)
    assert [c.parameter for c in gradcheck.check(book.Layer_Dense(3, 2)).checks] == \
        ["x", "weights", "biases"]
    report = gradcheck.check(book.Loss_MeanSquaredError(),
                             (np.array([[0.5, 1.0]]), np.array([[0.0, 2.0]])))
    assert report.passed


def test_xpnet_gradcheck_command_checks_a_book_layer():
    import io

    out = io.StringIO()
    code = main(["gradcheck", "xpnet.book:Layer_Dense", "--arg", "n_inputs=3",
                 "--arg", "n_neurons=2", "--arg", "weight_regularizer_l2=0.1"], out=out)
    assert code == 0, out.getvalue()


def test_explain_mode_sees_the_xpnet_classes_underneath():
    dense = book.Layer_Dense(2, 3)
    with trace.Tracer() as tracer:
        dense.forward(np.ones((4, 2), dtype=np.float32))
    assert {(e.component, e.quantity) for e in tracer.events} >= {("Dense", "y")}


def test_the_books_optimizers_train_a_layer_typed_from_the_book():
    """A student's own Layer_Dense (the project's copy of the book's code) with xpnet.book's
    optimizers: the same bits as the book's optimizers on the same layer, its state under
    the book's names."""
    book.init()
    X = np.linspace(-1, 1, 10, dtype=np.float32).reshape(5, 2)
    for name in ("Optimizer_Adam", "Optimizer_SGD", "Optimizer_Adagrad", "Optimizer_RMSprop"):
        kwargs = {"momentum": 0.5} if name == "Optimizer_SGD" else {}
        mine, theirs = nnfs_book.Layer_Dense(2, 3), nnfs_book.Layer_Dense(2, 3)
        theirs.weights, theirs.biases = mine.weights.copy(), mine.biases.copy()
        optimizer_steps(X, (
            (mine, getattr(book, name)(learning_rate=0.05, decay=1e-3, **kwargs)),
            (theirs, getattr(nnfs_book, name)(learning_rate=0.05, decay=1e-3, **kwargs))))
        np.testing.assert_array_equal(mine.weights, theirs.weights, err_msg=name)
        np.testing.assert_array_equal(mine.biases, theirs.biases, err_msg=name)
        assert mine.weights.dtype == np.float32  # init() patched np.random.randn, as nnfs
        state = "weight_cache" if name != "Optimizer_SGD" else "weight_momentums"
        np.testing.assert_array_equal(getattr(mine, state), getattr(theirs, state))
    with pytest.raises(AttributeError, match="this Activation_ReLU has no weights, dweights, "
                                             "biases, dbiases"):
        book.Optimizer_Adam().update_params(nnfs_book.Activation_ReLU())


def test_a_subclass_with_its_own_forward_backpropagates_what_it_computed():
    """The inherited backward reads self.inputs, as the book's does, even when the
    subclass's forward never called super().forward."""
    class MyReLU(book.Activation_ReLU):
        def forward(self, inputs, training=True):
            self.inputs = inputs
            self.output = np.maximum(0, inputs)

    class MyDense(book.Layer_Dense):
        def forward(self, inputs, training=True):
            self.inputs = inputs
            self.output = inputs @ self.weights + self.biases

    x = np.array([[1.0, -2.0], [-0.5, 3.0]], dtype=np.float32)
    relu = MyReLU()
    relu.forward(np.ones((2, 2), dtype=np.float32))  # an older pass the xpnet layer held
    relu.forward(x)
    relu.backward(np.ones((2, 2), dtype=np.float32))
    np.testing.assert_array_equal(host(relu.dinputs), (x > 0).astype(np.float32))
    dense = MyDense(2, 3)
    dense.forward(x)
    dense.backward(np.ones((2, 3), dtype=np.float32))
    np.testing.assert_allclose(host(dense.dweights), x.T @ np.ones((2, 3)), rtol=1e-6)

    class Forgetful(book.Activation_ReLU):
        def forward(self, inputs, training=True):
            self.output = np.maximum(0, inputs)

    forgetful = Forgetful()
    forgetful.forward(x)
    with pytest.raises(AttributeError, match=r"Forgetful.backward \(inherited from "
                                             r"xpnet.book\) reads self.inputs"):
        forgetful.backward(x)


def test_a_model_with_the_students_own_softmax_and_loss_classes_uses_the_joint_gradient():
    """The book's finalize tests the names its script defines: a student's own
    Loss_CategoricalCrossentropy (here the project's copy of the book's) counts."""
    book.init()
    model = book.Model()
    for layer in (book.Layer_Dense(2, 8), book.Activation_ReLU(), book.Layer_Dense(8, 3),
                  nnfs_book.Activation_Softmax()):
        model.add(layer)
    model.set(loss=nnfs_book.Loss_CategoricalCrossentropy(),
              optimizer=book.Optimizer_Adam(), accuracy=book.Accuracy_Categorical())
    model.finalize()
    assert model.book_loop and model.softmax_classifier_output is not None
    with pytest.raises(TypeError, match=r"Model.set expects loss= an object, got the class "
                                        r"Loss_CategoricalCrossentropy; call it"):
        model.set(loss=book.Loss_CategoricalCrossentropy)


def test_init_changes_numpy_as_nnfs_init_does_and_can_leave_it_alone():
    import nnfs

    book.restore_numpy()  # the fresh_stream fixture called init()
    own = np.dot
    book.init()
    a = np.array([[0.1, 0.2]], dtype=np.float32)
    assert np.dot(a, a.T).dtype == np.float32 and np.zeros(3).dtype == np.float32
    assert np.eye(2).dtype == np.float32 and np.random.randn(2).dtype == np.float32  # noqa: NPY002
    assert np.zeros(3, dtype=np.float64).dtype == np.float64
    book.init()  # a second init keeps one layer of replacement
    book.restore_numpy()
    assert np.dot is own and np.zeros(3).dtype == np.float64
    book.init(patch_numpy=False)
    assert np.dot is own
    with pytest.raises(TypeError, match="patch_numpy must be True or False, got"):
        book.init(patch_numpy="yes")
    # the same values as nnfs's own replacements
    book.init()
    ours = (np.dot(a, a.T), np.random.randn(3))  # noqa: NPY002
    book.restore_numpy()
    saved = [(owner, name, getattr(owner, name)) for owner, name in
             ((np, "dot"), (np, "zeros"), (np, "eye"), (np.random, "randn"))]
    nnfs.init()
    try:
        theirs = (np.dot(a, a.T), np.random.randn(3))  # noqa: NPY002
    finally:  # nnfs keeps no handle to undo its replacements
        for owner, name, function in saved:
            setattr(owner, name, function)
    for x, y in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(x, y)
        assert x.dtype == y.dtype


def test_the_books_data_functions_give_uint8_labels_on_numpy_as_nnfs_does():
    book.init()
    for draw in (book.spiral_data, book.vertical_data):
        X, y = draw(samples=5, classes=3)
        assert y.dtype == np.uint8 and X.dtype == np.float32
        assert sorted(set(y.tolist())) == [0, 1, 2]


def test_a_deep_copy_of_a_book_model_draws_from_the_same_global_stream():
    import copy

    book.init()
    dropout = book.Layer_Dropout(0.5)
    twin = copy.deepcopy(dropout)
    x = np.ones((1, 8), dtype=np.float32)
    state = np.random.get_state()  # noqa: NPY002
    twin.forward(x)
    dropout.forward(x)  # the next draw of the one stream, as in the book
    np.random.set_state(state)  # noqa: NPY002
    first = np.random.binomial(1, 0.5, size=(1, 8))  # noqa: NPY002
    second = np.random.binomial(1, 0.5, size=(1, 8))  # noqa: NPY002
    np.testing.assert_array_equal(host(twin.binary_mask) > 0, first > 0)
    np.testing.assert_array_equal(host(dropout.binary_mask) > 0, second > 0)


def test_predict_in_batches_that_do_not_divide_the_samples_on_array_api_strict():
    pytest.importorskip("array_api_strict")
    import xpnet
    from xpnet.nn import Dense, Softmax

    model = xpnet.Model(backend="array_api_strict", seed=0)
    model.add(Dense(2, 3))
    model.add(Softmax())
    X = model.backend.xp.asarray(np.ones((10, 2), dtype=np.float32))
    assert tuple(model.predict(X, batch_size=4).shape) == (10, 3)


def test_the_books_losses_and_accuracy_take_chapter_5s_python_lists():
    softmax_outputs = [[0.7, 0.1, 0.2], [0.1, 0.5, 0.4], [0.02, 0.9, 0.08]]
    class_targets = [0, 1, 1]
    expected = -np.mean(np.log([0.7, 0.5, 0.9]))
    loss = book.Loss_CategoricalCrossentropy().calculate(softmax_outputs, class_targets)
    assert float(loss) == pytest.approx(expected)
    assert float(book.Loss_CategoricalCrossentropy().calculate(
        np.array(softmax_outputs), class_targets)) == pytest.approx(expected)
    assert float(book.Accuracy_Categorical().calculate(np.array([0, 1, 2]),
                                                       class_targets)) == pytest.approx(2 / 3)
    both = book.Activation_Softmax_Loss_CategoricalCrossentropy()
    both.backward(softmax_outputs, class_targets)
    np.testing.assert_allclose(host(both.dinputs),
                               (np.array(softmax_outputs) - np.eye(3)[class_targets]) / 3)


def test_one_sample_as_a_vector_is_a_row_as_the_books_dot_makes_it():
    """The book's np.dot(x, W) + b turns a vector into a row: ch22 predicts one image; a
    string is no data (it raised an IndexError)."""
    book.init()
    dense = book.Layer_Dense(2, 3)
    dense.forward(np.array([0.5, -1.0], dtype=np.float32))
    row = host(dense.output)
    dense.forward(np.array([[0.5, -1.0]], dtype=np.float32))
    np.testing.assert_array_equal(row, host(dense.output))
    assert row.shape == (1, 3)
    model, (X, _), _ = spiral_model()
    np.testing.assert_array_equal(host(model.predict(X[0])), host(model.predict(X[:1])))
    with pytest.raises(TypeError, match=r"Layer_Dense\.forward expects numbers .*got the "
                                        r"string 'abc'"):
        dense.forward("abc")


def test_on_array_api_strict_losses_and_accuracies_print_as_on_numpy():
    """Chapter 5 prints ``print('loss:', loss)``: array-api-strict's 0-d arrays cannot be
    formatted, so the book's classes give NumPy's scalar of the same dtype there, which
    prints what the NumPy run prints (a Python float would print 1.0986103653907776)."""
    pytest.importorskip("array_api_strict")

    def chapter_5(backend):
        book.init(backend=backend)
        X, y = book.spiral_data(samples=100, classes=3)
        dense1 = book.Layer_Dense(2, 3, weight_regularizer_l2=5e-4)
        activation1 = book.Activation_ReLU()
        dense2 = book.Layer_Dense(3, 3)
        activation2 = book.Activation_Softmax()
        dense1.forward(X)
        activation1.forward(dense1.output)
        dense2.forward(activation1.output)
        activation2.forward(dense2.output)
        loss_function = book.Loss_CategoricalCrossentropy()
        return (loss_function.calculate(activation2.output, y),
                loss_function.regularization_loss(dense1),
                book.Accuracy_Categorical().calculate(
                    activation2.predictions(activation2.output), y))

    on_numpy, on_strict = chapter_5("numpy"), chapter_5("array_api_strict")
    for mine, books in zip(on_strict, on_numpy, strict=True):
        assert isinstance(mine, np.generic) and mine.dtype == books.dtype
        assert str(mine) == str(books) and f"{mine:.3f}" == f"{books:.3f}"
    # the book's chapter 5 lines, printed by its code under nnfs
    assert (str(on_strict[0]), str(on_strict[2])) == ("1.0986104", "0.34")
