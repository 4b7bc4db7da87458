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
from .backend import resolve
from .random import Generator

__all__ = ["ManyModels"]


class ManyModels:
    """M copies of a preset's classifier trained together.

    Parameters
    ----------
    preset : str
        ``ch14``, ``ch15`` or ``ch18`` (or any preset with the same shape of network).
    seeds : sequence of int
        One seed per copy (its data, initial weights and dropout masks).
    lr, l2 : float or sequence of float, optional
        Adam's initial learning rate and the first layer's L2 strength, per copy (the
        preset's by default).
    backend : str
        Array backend.
    """

    def __init__(self, preset: str, *, seeds: Sequence[int], lr: Any = None, l2: Any = None,
                 backend: Any = "numpy"):
        p = presets.get(preset)
        if p.task != "classification" or p.hidden_layers != 1:
            msg = f"ManyModels trains the spiral classifiers (ch14, ch15, ch18), not {preset!r}."
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
        xp, P = self.b.xp, self.params
        # forward
        h = xp.matmul(self.X, P["W1"])
        h += P["b1"]
        a = xp.maximum(h, 0)
        mask = None
        if self.preset.dropout:
            masks = [rng.dropout_mask(self.keep, (self.n, self.preset.hidden), "float32")
                     for rng in self.rngs]
            mask = self.b.asarray(np.stack(masks))
            a = a * mask
        z = xp.matmul(a, P["W2"])
        z += P["b2"]
        e = xp.exp(z - _row_max(xp, z))
        s = e / xp.matmul(e, self._ones_k)
        logs = self._metrics(s) if logged else None
        # backward: the fused softmax + cross-entropy gradient, then the layers
        dz = (s - self._one_hot) / self.n
        dW2 = xp.matmul(xp.matrix_transpose(a), dz)
        db2 = xp.matmul(self._ones_n, dz)
        da = xp.matmul(dz, xp.matrix_transpose(P["W2"]))
        if mask is not None:
            da = da * mask
        dh = xp.astype(h > 0, da.dtype)
        dh *= da
        dW1 = xp.matmul(xp.matrix_transpose(self.X), dh)
        db1 = xp.matmul(self._ones_n, dh)
        if any(self.l2s):
            dW1 = dW1 + self._two_l2 * P["W1"]
            db1 = db1 + self._two_l2 * P["b1"]
        self._adam({"W1": dW1, "b1": db1, "W2": dW2, "b2": db2})
        return logs

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

    def _metrics(self, s: Any) -> dict[str, Any]:
        xp = self.b.xp
        clipped = xp.clip(s, 1e-7, 1 - 1e-7)
        conf = xp.take_along_axis(clipped, self.y[..., None], axis=-1)[..., 0]
        data_loss = xp.mean(-xp.log(conf), axis=-1)
        W1, b1 = self.params["W1"], self.params["b1"]
        l2 = self._column(self.l2s)[:, 0, 0]
        reg = l2 * xp.sum(W1 * W1, axis=(1, 2)) + l2 * xp.sum(b1 * b1, axis=(1, 2))
        hits = xp.astype(xp.argmax(s, axis=-1) == self.y, xp.float64)
        from .backend import to_numpy

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
