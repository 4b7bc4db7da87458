"""Chapter 15: dropout.

The book's chapter 15 network: 1000 spiral points per class (3 classes), a hidden layer of
64 ReLUs with an L2 penalty of 5e-4 on weights and biases, then a Dropout layer that zeroes
each of the 64 activations with probability 0.1 while training (and scales the kept ones by
1 / 0.9), a softmax output, categorical cross-entropy and Adam(learning_rate=0.05,
decay=5e-5). Dropout is active only in training: ``evaluate`` runs without it.

    python examples/02_ch15_dropout.py                  # 10,000 epochs on NumPy
    python examples/02_ch15_dropout.py --seed nnfs      # the book's numbers, line for line
    python examples/02_ch15_dropout.py --backend torch --epochs 500

Like the book's script, it loops ``for epoch in range(epochs + 1)`` and prints each line
before that epoch's update, from the forward pass with dropout active, then draws the test
data and prints one validation line.
"""

from __future__ import annotations

from collections.abc import Sequence

from _common import make_parser, parse, print_epoch

import xpnet
from xpnet.nn.activations import ReLU, Softmax
from xpnet.nn.layers import Dense, Dropout
from xpnet.nn.losses import CategoricalCrossentropy
from xpnet.nn.optimizers import Adam


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(make_parser(__doc__), argv)
    backend = xpnet.backend.resolve(args.backend)  # resolve once, use everywhere
    # One random stream for everything, drawn in the book's order: training data, the
    # initial weights (as each Dense layer is added), one dropout mask per training forward
    # pass, then the test data.
    rng = xpnet.random.Generator(args.seed)

    X, y = xpnet.datasets.spiral(samples=1000, classes=3, seed=rng, backend=backend)

    model = xpnet.Model(backend=backend, seed=rng)
    model.add(Dense(2, 64, weight_l2=5e-4, bias_l2=5e-4))
    model.add(ReLU())
    model.add(Dropout(0.1))
    model.add(Dense(64, 3))
    model.add(Softmax())
    model.set(loss=CategoricalCrossentropy(), optimizer=Adam(learning_rate=0.05, decay=5e-5))

    # the book's loop: epochs 0 .. N, each printed before its update
    model.train(X, y, epochs=args.epochs + 1, start_epoch=0, log_before_update=True,
                log_every=args.print_every, callbacks=[print_epoch])

    X_test, y_test = xpnet.datasets.spiral(samples=100, classes=3, seed=rng, backend=backend)
    validation = model.evaluate(X_test, y_test)  # dropout off, data loss only
    print(f"validation, acc: {validation['acc']:.3f}, loss: {validation['loss']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
