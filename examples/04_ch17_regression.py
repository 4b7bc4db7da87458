"""Chapter 17: regression.

The book's chapter 17 network fits one period of a sine, ``y = sin(2 pi x)`` on 1000 points:
two hidden layers of 64 ReLUs and a linear output, trained with mean squared error and
Adam(learning_rate=0.005, decay=1e-3). The weights start at ``0.1 * randn`` instead of the
usual ``0.01 * randn`` (the chapter's fix for a network that would not learn). "Accuracy" of
a regression is the fraction of predictions within ``std(y) / 250`` of the target.

    python examples/04_ch17_regression.py                  # 10,000 epochs on NumPy
    python examples/04_ch17_regression.py --seed nnfs      # the book's numbers
    python examples/04_ch17_regression.py --backend torch --epochs 500

Like the book's script, it loops ``for epoch in range(epochs + 1)`` and prints each line
before that epoch's update. The chapter has no separate test set (it plots the model on the
same sine data), so the final line evaluates the trained model on that data.
"""

from __future__ import annotations

from collections.abc import Sequence

from _common import make_parser, parse, print_epoch

import xpnet
from xpnet.nn.activations import Linear, ReLU
from xpnet.nn.layers import Dense
from xpnet.nn.losses import MeanSquaredError
from xpnet.nn.optimizers import Adam


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(make_parser(__doc__), argv)
    backend = xpnet.backend.resolve(args.backend)  # resolve once, use everywhere
    rng = xpnet.random.Generator(args.seed)  # the initial weights' stream (sine has none)

    model = xpnet.Model(backend=backend, seed=rng)
    # The nnfs package's sine data is float64, and faithful mode uses it as is; otherwise
    # the data takes the model's float32.
    dtype = "float64" if model.precision == "nnfs" else "float32"
    X, y = xpnet.datasets.sine(samples=1000, backend=backend, dtype=dtype)

    model.add(Dense(1, 64, init_scale=0.1))
    model.add(ReLU())
    model.add(Dense(64, 64, init_scale=0.1))
    model.add(ReLU())
    model.add(Dense(64, 1, init_scale=0.1))
    model.add(Linear())
    # the accuracy defaults to RegressionAccuracy: |prediction - y| < std(y) / 250
    model.set(loss=MeanSquaredError(), optimizer=Adam(learning_rate=0.005, decay=1e-3))

    # the book's loop: epochs 0 .. N, each printed before its update
    model.train(X, y, epochs=args.epochs + 1, start_epoch=0, log_before_update=True,
                log_every=args.print_every, callbacks=[print_epoch])

    # the book's chapter 17 has no test set: this is the trained model on its training data,
    # with dropout off (the loss is tiny: more digits than the book prints)
    final = model.evaluate(X, y)
    print(f"on the training data, acc: {final['acc']:.3f}, loss: {final['loss']:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
