"""Core training-speed benchmark: milliseconds per epoch on the book's reference workload.

Workload: spiral data, 1000 samples per class x 3 classes (X float32 (3000, 2), int64 labels),
Dense(2, 64) -> ReLU -> [Dropout(0.1)] -> Dense(64, 3) -> softmax + categorical cross-entropy,
Adam(learning_rate=0.05, decay=5e-5), full batch; once without and once with dropout.

Contenders (all timed in one process, interleaved per repeat):

* ``book``           plain NumPy in the NNFS book's idioms, float32 ``np.dot``
* ``book_nnfs``      the same with ``nnfs.init()``'s float64 dot workaround (done locally)
* ``xpnet``          xpnet's public API, default precision
* ``xpnet_faithful`` xpnet with ``seed="nnfs"`` (the book's precision policy)
* ``torch_eager``    PyTorch CPU eager, one thread (skipped when torch is missing)

Usage::

    python benchmarks/bench_core.py [--quick] [--json PATH] [--repeats R] [--epochs E]
"""

from __future__ import annotations

import os

# Pin BLAS / OpenMP to one thread *before* NumPy or PyTorch are imported: they read these once.
# On a small shared machine, extra threads only fight each other on 64-wide products.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

SAMPLES_PER_CLASS = 1000
CLASSES = 3
HIDDEN = 64
DROPOUT = 0.1
LEARNING_RATE = 0.05
DECAY = 5e-5
LOG_EVERY = 100
CASES = ("no_dropout", "dropout")
CONTENDERS = ("book", "book_nnfs", "xpnet", "xpnet_faithful", "torch_eager")


# ---------------------------------------------------------------------------------------
# a. / b. The book's plain-NumPy code (chapters 14-16 idioms).
#
# The only change from the book: parameters are created in float32 explicitly, which is what
# the book gets from nnfs.init(default_dtype="float32") -- we must not call nnfs.init(), since
# it monkeypatches NumPy for the whole process (and would skew every other contender).
# ---------------------------------------------------------------------------------------

def _dot_float32(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.dot(a, b)


def _dot_nnfs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # nnfs.init()'s workaround (numpy/numpy#15591): products in float64, results in float32
    return np.dot(a.astype("float64"), b.astype("float64")).astype("float32")


def make_book(dropout: bool, X: np.ndarray, y: np.ndarray, dot: Callable) -> Callable[[int], tuple]:
    """The book's script as a function ``run(epochs) -> (loss, acc)`` that keeps training."""

    class Layer_Dense:
        def __init__(self, n_inputs, n_neurons, weight_regularizer_l1=0, weight_regularizer_l2=0,
                     bias_regularizer_l1=0, bias_regularizer_l2=0):
            # the book's legacy global stream, on purpose (NPY002)
            self.weights = (0.01 * np.random.randn(n_inputs, n_neurons)).astype(  # noqa: NPY002
                "float32")
            self.biases = np.zeros((1, n_neurons), dtype="float32")
            self.weight_regularizer_l1 = weight_regularizer_l1
            self.weight_regularizer_l2 = weight_regularizer_l2
            self.bias_regularizer_l1 = bias_regularizer_l1
            self.bias_regularizer_l2 = bias_regularizer_l2

        def forward(self, inputs):
            self.inputs = inputs
            self.output = dot(inputs, self.weights) + self.biases

        def backward(self, dvalues):
            self.dweights = dot(self.inputs.T, dvalues)
            self.dbiases = np.sum(dvalues, axis=0, keepdims=True)
            if self.weight_regularizer_l1 > 0:
                dL1 = np.ones_like(self.weights)
                dL1[self.weights < 0] = -1
                self.dweights += self.weight_regularizer_l1 * dL1
            if self.weight_regularizer_l2 > 0:
                self.dweights += 2 * self.weight_regularizer_l2 * self.weights
            if self.bias_regularizer_l1 > 0:
                dL1 = np.ones_like(self.biases)
                dL1[self.biases < 0] = -1
                self.dbiases += self.bias_regularizer_l1 * dL1
            if self.bias_regularizer_l2 > 0:
                self.dbiases += 2 * self.bias_regularizer_l2 * self.biases
            self.dinputs = dot(dvalues, self.weights.T)

    class Layer_Dropout:
        def __init__(self, rate):
            self.rate = 1 - rate  # the book stores the keep probability

        def forward(self, inputs):
            self.inputs = inputs
            self.binary_mask = np.random.binomial(  # noqa: NPY002 (the book's stream)
                1, self.rate, size=inputs.shape) / self.rate
            self.output = inputs * self.binary_mask

        def backward(self, dvalues):
            self.dinputs = dvalues * self.binary_mask

    class Activation_ReLU:
        def forward(self, inputs):
            self.inputs = inputs
            self.output = np.maximum(0, inputs)

        def backward(self, dvalues):
            self.dinputs = dvalues.copy()
            self.dinputs[self.inputs <= 0] = 0

    class Activation_Softmax:
        def forward(self, inputs):
            self.inputs = inputs
            exp_values = np.exp(inputs - np.max(inputs, axis=1, keepdims=True))
            probabilities = exp_values / np.sum(exp_values, axis=1, keepdims=True)
            self.output = probabilities

    class Loss:
        def regularization_loss(self, layer):
            regularization_loss = 0
            if layer.weight_regularizer_l1 > 0:
                regularization_loss += layer.weight_regularizer_l1 * np.sum(np.abs(layer.weights))
            if layer.weight_regularizer_l2 > 0:
                regularization_loss += layer.weight_regularizer_l2 * np.sum(
                    layer.weights * layer.weights)
            if layer.bias_regularizer_l1 > 0:
                regularization_loss += layer.bias_regularizer_l1 * np.sum(np.abs(layer.biases))
            if layer.bias_regularizer_l2 > 0:
                regularization_loss += layer.bias_regularizer_l2 * np.sum(
                    layer.biases * layer.biases)
            return regularization_loss

        def calculate(self, output, y):
            sample_losses = self.forward(output, y)
            data_loss = np.mean(sample_losses)
            return data_loss

    class Loss_CategoricalCrossentropy(Loss):
        def forward(self, y_pred, y_true):
            samples = len(y_pred)
            y_pred_clipped = np.clip(y_pred, 1e-7, 1 - 1e-7)
            if len(y_true.shape) == 1:
                correct_confidences = y_pred_clipped[range(samples), y_true]
            elif len(y_true.shape) == 2:
                correct_confidences = np.sum(y_pred_clipped * y_true, axis=1)
            negative_log_likelihoods = -np.log(correct_confidences)
            return negative_log_likelihoods

    class Activation_Softmax_Loss_CategoricalCrossentropy:
        def __init__(self):
            self.activation = Activation_Softmax()
            self.loss = Loss_CategoricalCrossentropy()

        def forward(self, inputs, y_true):
            self.activation.forward(inputs)
            self.output = self.activation.output
            return self.loss.calculate(self.output, y_true)

        def backward(self, dvalues, y_true):
            samples = len(dvalues)
            if len(y_true.shape) == 2:
                y_true = np.argmax(y_true, axis=1)
            self.dinputs = dvalues.copy()
            self.dinputs[range(samples), y_true] -= 1
            self.dinputs = self.dinputs / samples

    class Optimizer_Adam:
        def __init__(self, learning_rate=0.001, decay=0., epsilon=1e-7, beta_1=0.9,
                     beta_2=0.999):
            self.learning_rate = learning_rate
            self.current_learning_rate = learning_rate
            self.decay = decay
            self.iterations = 0
            self.epsilon = epsilon
            self.beta_1 = beta_1
            self.beta_2 = beta_2

        def pre_update_params(self):
            if self.decay:
                self.current_learning_rate = self.learning_rate * (
                    1. / (1. + self.decay * self.iterations))

        def update_params(self, layer):
            if not hasattr(layer, "weight_cache"):
                layer.weight_momentums = np.zeros_like(layer.weights)
                layer.weight_cache = np.zeros_like(layer.weights)
                layer.bias_momentums = np.zeros_like(layer.biases)
                layer.bias_cache = np.zeros_like(layer.biases)
            layer.weight_momentums = self.beta_1 * layer.weight_momentums + (
                1 - self.beta_1) * layer.dweights
            layer.bias_momentums = self.beta_1 * layer.bias_momentums + (
                1 - self.beta_1) * layer.dbiases
            weight_momentums_corrected = layer.weight_momentums / (
                1 - self.beta_1 ** (self.iterations + 1))
            bias_momentums_corrected = layer.bias_momentums / (
                1 - self.beta_1 ** (self.iterations + 1))
            layer.weight_cache = self.beta_2 * layer.weight_cache + (
                1 - self.beta_2) * layer.dweights ** 2
            layer.bias_cache = self.beta_2 * layer.bias_cache + (
                1 - self.beta_2) * layer.dbiases ** 2
            weight_cache_corrected = layer.weight_cache / (
                1 - self.beta_2 ** (self.iterations + 1))
            bias_cache_corrected = layer.bias_cache / (
                1 - self.beta_2 ** (self.iterations + 1))
            layer.weights += -self.current_learning_rate * weight_momentums_corrected / (
                np.sqrt(weight_cache_corrected) + self.epsilon)
            layer.biases += -self.current_learning_rate * bias_momentums_corrected / (
                np.sqrt(bias_cache_corrected) + self.epsilon)

        def post_update_params(self):
            self.iterations += 1

    np.random.seed(0)  # noqa: NPY002 (what nnfs.init() does; no other contender uses it)
    dense1 = Layer_Dense(2, HIDDEN)
    activation1 = Activation_ReLU()
    dropout1 = Layer_Dropout(DROPOUT) if dropout else None
    dense2 = Layer_Dense(HIDDEN, CLASSES)
    loss_activation = Activation_Softmax_Loss_CategoricalCrossentropy()
    optimizer = Optimizer_Adam(learning_rate=LEARNING_RATE, decay=DECAY)
    state = {"epoch": 0}

    def run(epochs: int) -> tuple[float, float]:
        loss = accuracy = float("nan")
        for _ in range(epochs):
            epoch = state["epoch"]
            dense1.forward(X)
            activation1.forward(dense1.output)
            if dropout1 is not None:
                dropout1.forward(activation1.output)
                dense2.forward(dropout1.output)
            else:
                dense2.forward(activation1.output)
            data_loss = loss_activation.forward(dense2.output, y)
            regularization_loss = (loss_activation.loss.regularization_loss(dense1)
                                   + loss_activation.loss.regularization_loss(dense2))
            loss = data_loss + regularization_loss
            predictions = np.argmax(loss_activation.output, axis=1)
            accuracy = np.mean(predictions == y)
            if not epoch % LOG_EVERY:
                # the book prints here; a benchmark must not, but builds the same line
                _ = (f"epoch: {epoch}, acc: {accuracy:.3f}, loss: {loss:.3f}, "
                     f"lr: {optimizer.current_learning_rate}")
            loss_activation.backward(loss_activation.output, y)
            dense2.backward(loss_activation.dinputs)
            if dropout1 is not None:
                dropout1.backward(dense2.dinputs)
                activation1.backward(dropout1.dinputs)
            else:
                activation1.backward(dense2.dinputs)
            dense1.backward(activation1.dinputs)
            optimizer.pre_update_params()
            optimizer.update_params(dense1)
            optimizer.update_params(dense2)
            optimizer.post_update_params()
            state["epoch"] = epoch + 1
        return float(loss), float(accuracy)

    return run


# ---------------------------------------------------------------------------------------
# c. / d. xpnet through its public API.
# ---------------------------------------------------------------------------------------

def make_xpnet(dropout: bool, X: np.ndarray, y: np.ndarray, seed: Any) -> Callable[[int], tuple]:
    import xpnet
    from xpnet.activations import ReLU, Softmax
    from xpnet.layers import Dense, Dropout
    from xpnet.losses import CategoricalCrossentropy
    from xpnet.optimizers import Adam

    m = xpnet.Model(backend="numpy", seed=seed)
    m.add(Dense(2, HIDDEN))
    m.add(ReLU())
    if dropout:
        m.add(Dropout(DROPOUT))
    m.add(Dense(HIDDEN, CLASSES))
    m.add(Softmax())
    m.set(loss=CategoricalCrossentropy(), optimizer=Adam(learning_rate=LEARNING_RATE, decay=DECAY))

    def run(epochs: int) -> tuple[float, float]:
        history = m.train(X, y, epochs=epochs, log_every=LOG_EVERY)
        last = history.records[-1]
        return float(last["loss"]), float(last["acc"])

    return run


# ---------------------------------------------------------------------------------------
# e. PyTorch CPU eager.
# ---------------------------------------------------------------------------------------

def make_torch(dropout: bool, X: np.ndarray, y: np.ndarray) -> Callable[[int], tuple]:
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(2, HIDDEN), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(DROPOUT))
    layers.append(nn.Linear(HIDDEN, CLASSES))
    net = nn.Sequential(*layers)
    net.train()
    # eps=1e-7 as the book's Adam; the book's decay lr / (1 + decay * t) is set per step
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE, eps=1e-7)
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    state = {"step": 0}

    def run(epochs: int) -> tuple[float, float]:
        loss_value = acc = float("nan")
        for i in range(epochs):
            lr = LEARNING_RATE / (1.0 + DECAY * state["step"])
            for group in optimizer.param_groups:
                group["lr"] = lr
            logits = net(Xt)
            loss = F.cross_entropy(logits, yt)
            # metrics only on logged epochs, as xpnet's Model.train records them
            if (state["step"] + 1) % LOG_EVERY == 0 or i == epochs - 1:
                with torch.no_grad():
                    acc = float((logits.argmax(dim=1) == yt).float().mean())
                    loss_value = float(loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            state["step"] += 1
        return loss_value, acc

    return run


# ---------------------------------------------------------------------------------------
# Harness.
# ---------------------------------------------------------------------------------------

def _loadavg() -> float | None:
    """The 1-minute load average: on a shared machine, high load explains a wide spread."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _git_revision() -> str | None:
    """The checkout's commit (``+dirty`` when src/ has uncommitted changes), or None."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def environment(torch_module: Any) -> dict[str, Any]:
    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "loadavg_1m_start": _loadavg(),
        "numpy": np.__version__,
        "torch": getattr(torch_module, "__version__", None),
        "torch_threads": torch_module.get_num_threads() if torch_module is not None else None,
    }
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = os.environ.get(var)
    try:
        import xpnet

        env["xpnet"] = xpnet.__version__
        env["git"] = _git_revision()
    except Exception as exc:  # the benchmark still reports the baselines
        env["xpnet"] = f"unavailable ({exc})"
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        env["numpy_blas"] = f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:
        env["numpy_blas"] = None
    return env


def build_contenders(names: list[str], dropout: bool, X: np.ndarray, y: np.ndarray,
                     have_torch: bool) -> dict[str, Callable[[int], tuple]]:
    factories: dict[str, Callable[[], Callable[[int], tuple]]] = {
        "book": lambda: make_book(dropout, X, y, _dot_float32),
        "book_nnfs": lambda: make_book(dropout, X, y, _dot_nnfs),
        "xpnet": lambda: make_xpnet(dropout, X, y, seed=0),
        "xpnet_faithful": lambda: make_xpnet(dropout, X, y, seed="nnfs"),
        "torch_eager": lambda: make_torch(dropout, X, y),
    }
    return {n: factories[n]() for n in names if n != "torch_eager" or have_torch}


def time_epochs(run: Callable[[int], tuple], epochs: int) -> tuple[float, tuple]:
    gc.collect()
    start = time.perf_counter()
    last = run(epochs)
    elapsed = time.perf_counter() - start
    return elapsed * 1000.0 / epochs, last


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def write_json(path: str, payload: dict[str, Any]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".bench_core.", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer epochs and repeats (100 epochs, 3 repeats)")
    parser.add_argument("--json", metavar="PATH", help="write all numbers to PATH as JSON")
    parser.add_argument("--repeats", type=int, help="timed repeats per contender (default 5)")
    parser.add_argument("--epochs", type=int, help="epochs per timed repeat (default 500)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed epochs first (20)")
    parser.add_argument("--samples-per-class", type=int, default=SAMPLES_PER_CLASS,
                        help=f"spiral samples per class (default {SAMPLES_PER_CLASS}; the "
                        "'big' case of the performance issue uses 10000)")
    parser.add_argument("--hidden", type=int, default=HIDDEN,
                        help=f"hidden units (default {HIDDEN}; the 'wide' and 'big' cases: 512)")
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help=f"comma-separated subset of {','.join(CONTENDERS)}")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 5)
    args.epochs = args.epochs or (100 if args.quick else 500)
    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    unknown = sorted(set(names) - set(CONTENDERS))
    if unknown:
        parser.error(f"unknown contenders {unknown}; choose from {', '.join(CONTENDERS)}")
    args.names = [n for n in CONTENDERS if n in names]
    if args.repeats < 1 or args.epochs < 1 or args.warmup < 0:
        parser.error("--repeats and --epochs must be >= 1, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    global SAMPLES_PER_CLASS, HIDDEN
    args = parse_args(argv)
    # the workload's size, read by the contenders' builders when they are called
    SAMPLES_PER_CLASS, HIDDEN = args.samples_per_class, args.hidden
    try:
        import torch

        torch.set_num_threads(1)  # 2 threads are ~30x slower on a shared 2-core machine
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
    except ImportError:
        torch = None
    if torch is None and "torch_eager" in args.names:
        print("torch is not installed: skipping torch_eager", file=sys.stderr)

    from xpnet.datasets import spiral

    X, y = spiral(SAMPLES_PER_CLASS, CLASSES, seed=0)
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)

    env = environment(torch)
    print("environment: " + ", ".join(f"{k}={v}" for k, v in env.items()))
    print(f"workload: spiral {SAMPLES_PER_CLASS}x{CLASSES} X{X.shape} {X.dtype}, y {y.dtype}; "
          f"Dense(2,{HIDDEN})-ReLU-[Dropout({DROPOUT})]-Dense({HIDDEN},{CLASSES})-softmax-CCE, "
          f"Adam(lr={LEARNING_RATE}, decay={DECAY}), full batch")
    print(f"timing: warmup {args.warmup} epochs, then {args.repeats} x {args.epochs} epochs "
          "per contender, interleaved\n")

    runs = {case: build_contenders(args.names, case == "dropout", X, y, torch is not None)
            for case in CASES}
    samples: dict[str, dict[str, list[float]]] = {c: {n: [] for n in runs[c]} for c in CASES}
    last: dict[str, dict[str, tuple]] = {c: {} for c in CASES}
    for case in CASES:
        for run in runs[case].values():
            if args.warmup:
                run(args.warmup)
    for r in range(args.repeats):
        for case in CASES:
            names = list(runs[case])
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:  # rotate the order each repeat
                ms, last[case][name] = time_epochs(runs[case][name], args.epochs)
                samples[case][name].append(ms)
        print(f"  repeat {r + 1}/{args.repeats} done", file=sys.stderr, flush=True)

    results: dict[str, dict[str, dict[str, Any]]] = {}
    for case in CASES:
        results[case] = {}
        for name, times in samples[case].items():
            loss, acc = last[case][name]
            results[case][name] = {
                "median_ms": statistics.median(times), "min_ms": min(times),
                "max_ms": max(times), "samples_ms": times,
                "final_loss": loss, "final_acc": acc,
            }
        med = {n: v["median_ms"] for n, v in results[case].items()}
        for name, v in results[case].items():
            v["vs_book"] = ratio(v["median_ms"], med.get("book"))
            v["vs_book_nnfs"] = ratio(v["median_ms"], med.get("book_nnfs"))
            v["vs_torch_eager"] = (ratio(v["median_ms"], med.get("torch_eager"))
                                   if name.startswith("xpnet") else None)

    header = (f"{'case':<11} {'contender':<15} {'median ms/ep':>12} {'spread (min-max)':>17} "
              f"{'vs book':>8} {'vs book_nnfs':>12} {'vs torch':>9} {'acc':>6}")
    print(header)
    print("-" * len(header))
    for case in CASES:
        for name, v in results[case].items():
            spread = f"{v['min_ms']:.3f}-{v['max_ms']:.3f}"
            print(f"{case:<11} {name:<15} {v['median_ms']:>12.3f} {spread:>17} "
                  f"{fmt_ratio(v['vs_book']):>8} {fmt_ratio(v['vs_book_nnfs']):>12} "
                  f"{fmt_ratio(v['vs_torch_eager']):>9} {v['final_acc']:>6.3f}")
    env["loadavg_1m_end"] = _loadavg()
    print(f"\nload average (1 min): {env['loadavg_1m_start']} at start, "
          f"{env['loadavg_1m_end']} at end (cpu_count={env['cpu_count']})")
    print("ratios are median/median (>1 = slower than the reference); acc is the accuracy "
          "at the last timed epoch (a sanity check that every contender trains)")

    if args.json:
        payload = {
            "benchmark": "bench_core",
            "environment": env,
            "config": {
                "samples_per_class": SAMPLES_PER_CLASS, "classes": CLASSES, "hidden": HIDDEN,
                "dropout": DROPOUT, "learning_rate": LEARNING_RATE, "decay": DECAY,
                "epochs": args.epochs, "repeats": args.repeats, "warmup": args.warmup,
                "quick": args.quick, "contenders": list(args.names),
            },
            "results": results,
        }
        write_json(args.json, payload)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
