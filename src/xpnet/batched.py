"""Many models at once: M independent copies of a chapter's classifier, trained as one model
with a leading model axis.

Each copy has its own seed (data, initial weights, dropout masks), learning rate and L2
strength; every array carries the model axis first (``W1`` is ``(M, 2, H)``), so one batched
matrix product does the work of M small ones. The arithmetic is the default mode's, operation
for operation, so each copy ends bit-for-bit where training it alone with
:class:`xpnet.Model` ends (a test checks this on NumPy).

Supported: the spiral classifiers (``ch14``, ``ch15``, ``ch18``: Dense -> ReLU ->
[Dropout] -> Dense -> Softmax with cross-entropy and Adam), full batch.

>>> many = ManyModels("ch14", seeds=[0, 1, 2], lr=[0.01, 0.02, 0.05])
>>> logs = many.train(epochs=50)
>>> len(logs["loss"]), logs["epoch"]
(3, 50)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from . import presets
from .activations import _row_max
from .backend import resolve, to_numpy
from .random import Generator
from .workspace import Workspace

__all__ = ["ManyModels"]

#: Default budget for one block's (copies, n, hidden) float32 activation, in bytes.
_BLOCK_BYTES = 3 * 2**20


class ManyModels:
    """M copies of a preset's classifier trained together.

    Parameters
    ----------
    preset : str or Preset
        ``ch14``, ``ch15`` or ``ch18``, or a :class:`~xpnet.presets.Preset` with the same shape
        of network (e.g. ``dataclasses.replace(presets.get("ch15"), dropout=0.0)``).
    seeds : sequence of int
        One seed per copy (its data, initial weights and dropout masks).
    lr, l2 : float or sequence of float, optional
        Adam's initial learning rate and the first layer's L2 strength, per copy (the
        preset's by default).
    backend : str
        Array backend.
    block : int, optional
        Copies computed together per operation. Many copies at once share Python's overhead,
        but arrays that outgrow the CPU caches stream through memory at a fraction of the
        speed; the default keeps a block's activations within a few megabytes.
    """

    def __init__(self, preset: str | presets.Preset, *, seeds: Sequence[int], lr: Any = None,
                 l2: Any = None, backend: Any = "numpy", block: int | None = None):
        p = preset if isinstance(preset, presets.Preset) else presets.get(preset)
        if p.task != "classification" or p.hidden_layers != 1:
            msg = f"ManyModels trains the spiral classifiers (ch14, ch15, ch18), not {p.name!r}."
            raise ValueError(msg)
        self.preset = p
        self.M = len(seeds)
        if self.M < 1:
            msg = "ManyModels needs at least one seed."
            raise ValueError(msg)
        self.seeds = [int(s) for s in seeds]
        self.lrs = self._per_model(lr, p.lr, "lr")
        self.l2s = self._per_model(l2, p.l2, "l2")
        if min(self.lrs) <= 0 or min(self.l2s) < 0:
            msg = "learning rates must be > 0 and L2 strengths >= 0."
            raise ValueError(msg)
        self.b = resolve(backend)
        xp, f32 = self.b.xp, self.b.xp.float32
        self.rngs = [Generator(s) for s in self.seeds]
        Xs, ys, W1, W2 = [], [], [], []
        for rng in self.rngs:  # the draw order of presets.build: data, then each Dense
            X, y = presets.draw_data(p, p.train_samples, rng, "numpy")
            Xs.append(X)
            ys.append(y)
            W1.append(p.init_scale * rng.randn(2, p.hidden))
            W2.append(p.init_scale * rng.randn(p.hidden, p.classes))
        self.X = self.b.asarray(np.stack(Xs), dtype=f32)
        self.y = self.b.asarray(np.stack(ys), dtype=xp.int64)
        self.n = int(self.X.shape[1])
        zeros = np.zeros
        self.params = {
            "W1": self.b.asarray(np.stack(W1), dtype=f32),
            "b1": self.b.asarray(zeros((self.M, 1, p.hidden)), dtype=f32),
            "W2": self.b.asarray(np.stack(W2), dtype=f32),
            "b2": self.b.asarray(zeros((self.M, 1, p.classes)), dtype=f32),
        }
        self.state = {k: {"m": xp.zeros_like(v), "v": xp.zeros_like(v)}
                      for k, v in self.params.items()}
        self.iterations = 0
        self.keep = 1 - p.dropout
        # per-copy constants as float32 columns: the same rounding as the Python floats
        # a single model multiplies by
        self._two_l2 = self._column([2 * v for v in self.l2s])
        self._ones_n = xp.ones((1, self.n), dtype=f32, device=self.b.device)
        self._ones_k = xp.ones((p.classes, 1), dtype=f32, device=self.b.device)
        self._one_hot = xp.astype(
            self.y[..., None] == xp.arange(p.classes, device=self.b.device), f32)
        self.ws = Workspace(self.b)
        self._host_masks: dict[tuple[int, ...], np.ndarray] = {}
        if block is None:
            # copies per block: enough that the (copies, n, hidden) activations of a block
            # stay in a CPU's outer cache instead of streaming through memory
            block = max(1, _BLOCK_BYTES // (self.n * p.hidden * 4))
        if not isinstance(block, int) or block < 1:
            msg = f"block must be a positive integer or None, got {block!r}."
            raise ValueError(msg)
        self.block = min(block, self.M)

    def _per_model(self, value: Any, default: float, name: str) -> list[float]:
        """One value per copy, from None (the preset's), a number, or a sequence."""
        if value is None:
            return [default] * self.M
        if isinstance(value, (int, float, np.floating, np.integer)):
            return [float(value)] * self.M
        values = [float(v) for v in value]
        if len(values) != self.M:
            msg = f"{name} has {len(values)} values for {self.M} seeds; give one per seed."
            raise ValueError(msg)
        return values

    def _column(self, values: list[float]) -> Any:
        return self.b.asarray(np.asarray(values, dtype=np.float32).reshape(-1, 1, 1))

    # -- one epoch ------------------------------------------------------------------------
    def _step(self, logged: bool) -> dict[str, Any] | None:
        """One epoch of every copy: forward and backward block by block, then one Adam step."""
        logs: dict[str, list[float]] = {}
        parts = []
        for lo in range(0, self.M, self.block):
            block_grads, block_logs = self._forward_backward(
                lo, min(lo + self.block, self.M), logged)
            parts.append(block_grads)
            for key, values in (block_logs or {}).items():
                logs.setdefault(key, []).extend(values)
        # gradients are small (parameter-sized): joining the blocks' costs little
        grads = parts[0] if len(parts) == 1 else {
            k: self.b.xp.concat([part[k] for part in parts], axis=0) for k in parts[0]}
        self._adam(grads)
        return logs if logged else None

    def _forward_backward(self, lo: int, hi: int,
                          logged: bool) -> tuple[dict[str, Any], dict[str, Any] | None]:
        # The operations of Model.train's layers on their workspace path, in their order, with
        # a model axis in front; buffers are reused from step to step (see xpnet.workspace).
        # Multiplying by the dropout and ReLU masks in another order, or by the two combined,
        # gives the same bits (up to the sign of zeros, which no later step sees): every
        # factor is exactly 0 or 1.
        xp, ws, keep = self.b.xp, self.ws, self.keep
        P = {k: v[lo:hi, ...] for k, v in self.params.items()}
        X = self.X[lo:hi, ...]
        native = ws.native
        # forward: Dense, ReLU, [Dropout], Dense, Softmax
        if ws.folds_bias(X, P["W1"], P["b1"]):
            # the bias folded into the product, as Dense does on its workspace path
            X1 = ws.with_ones("X1", self.X)[lo:hi, ...]
            h = ws.matmul("h", X1, ws.stack_rows("W1b", P["W1"], P["b1"]))
        else:
            h = ws.matmul("h", X, P["W1"])
            h += P["b1"]
        mask = kept = None
        if self.preset.dropout:
            mask = self._masks(lo, hi)
        if native is not None:
            # One boolean mask, [h > 0] and [kept by dropout], serves both passes: ReLU then
            # dropout is h * scale * mask on it, in place (up to the sign of zeros).
            kept = native.greater(h, 0, out=ws.buffer("kept", tuple(h.shape), bool))
            if mask is not None:
                kept &= mask
                a = native.multiply(h, 1 / keep, out=h)
                a *= kept
            else:
                a = native.maximum(h, ws.zeros_like(h), out=h)
        else:
            a = relu = xp.maximum(h, 0)
            if mask is not None:
                a = relu * (xp.astype(mask, relu.dtype) * (1 / keep))
        z = ws.matmul("z", a, P["W2"])
        z += P["b2"]
        e = xp.exp(z - _row_max(xp, z))
        s = e / xp.matmul(e, self._ones_k)
        logs = self._metrics(s, lo, hi) if logged else None
        # backward: the fused softmax + cross-entropy gradient, then the layers
        dz = (s - self._one_hot[lo:hi, ...]) / self.n
        dW2 = xp.matmul(xp.matrix_transpose(a), dz)
        db2 = xp.matmul(self._ones_n, dz)
        da = ws.matmul("da", dz, ws.transpose("W2t", P["W2"]))
        if native is not None:
            if mask is not None:
                da *= 1 / keep
            dh = native.multiply(da, kept, out=da)
        else:
            if mask is not None:
                da = da * (xp.astype(mask, da.dtype) * (1 / keep))
            dh = xp.astype(relu > 0, da.dtype)
            dh *= da
        dW1 = xp.matmul(xp.matrix_transpose(X), dh)
        db1 = xp.matmul(self._ones_n, dh)
        if any(self.l2s):
            two_l2 = self._two_l2[lo:hi, ...]
            dW1 = dW1 + two_l2 * P["W1"]
            db1 = db1 + two_l2 * P["b1"]
        return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}, logs

    def _masks(self, lo: int, hi: int) -> Any:
        """Keep masks of copies lo..hi-1, each from its own stream, as one array."""
        shape = (hi - lo, self.n, self.preset.hidden)
        host = self._host_masks.get(shape)
        if host is None:
            host = self._host_masks[shape] = np.empty(shape, dtype=bool)
        for m in range(lo, hi):
            self.rngs[m].keep_mask(self.keep, shape[1:], out=host[m - lo])
        return self.b.asarray(host)

    def _adam(self, grads: dict[str, Any]) -> None:
        xp = self.b.xp
        p = self.preset
        t = self.iterations + 1
        rates = [lr * (1.0 / (1.0 + p.decay * self.iterations)) if p.decay else lr
                 for lr in self.lrs]
        neg_lr = self._column([-r for r in rates])
        b1, b2, eps = 0.9, 0.999, 1e-7
        for name, g in grads.items():
            state = self.state[name]
            m = state["m"] = b1 * state["m"] + (1 - b1) * g
            v = state["v"] = b2 * state["v"] + (1 - b2) * g**2
            m_hat = m / (1 - b1**t)
            v_hat = v / (1 - b2**t)
            self.params[name] += neg_lr * m_hat / (xp.sqrt(v_hat) + eps)
        self.iterations += 1

    def _metrics(self, s: Any, lo: int, hi: int) -> dict[str, Any]:
        xp = self.b.xp
        clipped = xp.clip(s, 1e-7, 1 - 1e-7)
        y = self.y[lo:hi, ...]
        conf = xp.take_along_axis(clipped, y[..., None], axis=-1)[..., 0]
        data_loss = xp.mean(-xp.log(conf), axis=-1)
        W1, b1 = self.params["W1"][lo:hi, ...], self.params["b1"][lo:hi, ...]
        l2 = self._column(self.l2s[lo:hi])[:, 0, 0]
        reg = l2 * xp.sum(W1 * W1, axis=(1, 2)) + l2 * xp.sum(b1 * b1, axis=(1, 2))
        hits = xp.astype(xp.argmax(s, axis=-1) == y, xp.float64)
        return {"data_loss": to_numpy(data_loss).tolist(), "reg_loss": to_numpy(reg).tolist(),
                "loss": to_numpy(data_loss + reg).tolist(),
                "acc": to_numpy(xp.mean(hits, axis=-1)).tolist()}

    def train(self, epochs: int) -> dict[str, Any]:
        """Train every copy for ``epochs`` epochs; returns the last epoch's metrics per copy
        (``{"epoch", "acc", "loss", "data_loss", "reg_loss"}``, lists of length M)."""
        logs: dict[str, Any] | None = None
        with self.b.quiet_float_errors():
            for epoch in range(1, epochs + 1):
                logs = self._step(logged=epoch == epochs)
        assert logs is not None
        return {"epoch": self.iterations, **logs}

    def parameters(self, m: int) -> dict[str, Any]:
        """Copy ``m``'s parameters, named as :meth:`xpnet.Model.parameters` names them."""
        names = {"W1": "layers.0.W", "b1": "layers.0.b", "W2": "layers.{}.W", "b2": "layers.{}.b"}
        second = 3 if self.preset.dropout else 2  # Dense, ReLU, [Dropout], Dense, Softmax
        return {names[k].format(second): v[m] for k, v in self.params.items()}

    def preset_of(self, m: int) -> presets.Preset:
        """The preset that trains copy ``m`` alone, settings included."""
        return replace(self.preset, lr=self.lrs[m], l2=self.l2s[m])
