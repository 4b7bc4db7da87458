"""Chapter 16: binary logistic regression.

The book's chapter 16 network: 100 spiral points per class for only 2 classes, a hidden layer
of 64 ReLUs with an L2 penalty of 5e-4 on weights and biases, and a single sigmoid output:
the probability of class 1. It is trained with binary cross-entropy and
Adam(learning_rate=0.001, decay=5e-7); a prediction counts as class 1 above 0.5.

    python examples/03_ch16_binary.py                  # 10,000 epochs on NumPy
    python examples/03_ch16_binary.py --seed nnfs      # the book's numbers
    python examples/03_ch16_binary.py --backend torch --epochs 500

The targets have the outputs' shape, one column (the book's ``y.reshape(-1, 1)``). Like the
book's script, it loops ``for epoch in range(epochs + 1)``, prints each line before that
epoch's update, then draws the test data and prints one validation line.
"""

from __future__ import annotations

from collections.abc import Sequence

from _common import make_parser, parse, print_epoch

import xpnet
from xpnet.nn.activations import ReLU, Sigmoid
from xpnet.nn.layers import Dense
from xpnet.nn.losses import BinaryCrossentropy
from xpnet.nn.optimizers import Adam


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(make_parser(__doc__), argv)
    backend = xpnet.backend.resolve(args.backend)  # resolve once, use everywhere
    # One random stream for everything, drawn in the book's order: training data, then the
    # initial weights (as each Dense layer is added), then the test data.
    rng = xpnet.random.Generator(args.seed)

    X, y = xpnet.datasets.spiral(samples=100, classes=2, seed=rng, backend=backend)
    y = y[:, None]  # labels as a column of 0s and 1s, the shape of the sigmoid's output

    model = xpnet.Model(backend=backend, seed=rng)
    model.add(Dense(2, 64, weight_l2=5e-4, bias_l2=5e-4))
    model.add(ReLU())
    model.add(Dense(64, 1))
    model.add(Sigmoid())
    model.set(loss=BinaryCrossentropy(), optimizer=Adam(learning_rate=0.001, decay=5e-7))

    # the book's loop: epochs 0 .. N, each printed before its update
    model.train(X, y, epochs=args.epochs + 1, start_epoch=0, log_before_update=True,
                log_every=args.print_every, callbacks=[print_epoch])

    X_test, y_test = xpnet.datasets.spiral(samples=100, classes=2, seed=rng, backend=backend)
    validation = model.evaluate(X_test, y_test[:, None])
    print(f"validation, acc: {validation['acc']:.3f}, loss: {validation['loss']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
