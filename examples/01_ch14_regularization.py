"""Chapter 14: L1 and L2 regularization.

The book's chapter 14 network: 100 spiral points per class (3 classes), one hidden layer of
64 ReLUs whose weights and biases carry an L2 penalty of 5e-4, a softmax output trained with
categorical cross-entropy and Adam(learning_rate=0.02, decay=5e-7). The penalty shows up as
``reg_loss`` in each progress line and keeps the weights small, which narrows the gap
between training and validation accuracy.

    python examples/01_ch14_regularization.py                  # 10,000 epochs on NumPy
    python examples/01_ch14_regularization.py --seed nnfs      # the book's numbers
    python examples/01_ch14_regularization.py --backend torch --epochs 500

Like the book's script, it loops ``for epoch in range(epochs + 1)`` and prints each line
before that epoch's update (so the printed ``lr`` is the one the previous step used), then
draws the test data and prints one validation line.
"""

from __future__ import annotations

from collections.abc import Sequence

from _common import make_parser, parse, print_epoch

import xpnet
from xpnet.nn.activations import ReLU, Softmax
from xpnet.nn.layers import Dense
from xpnet.nn.losses import CategoricalCrossentropy
from xpnet.nn.optimizers import Adam


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(make_parser(__doc__), argv)
    backend = xpnet.backend.resolve(args.backend)  # resolve once, use everywhere
    # One random stream for everything, drawn in the book's order: training data, then the
    # initial weights (as each Dense layer is added), then the test data.
    rng = xpnet.random.Generator(args.seed)

    X, y = xpnet.datasets.spiral(samples=100, classes=3, seed=rng, backend=backend)

    model = xpnet.Model(backend=backend, seed=rng)
    model.add(Dense(2, 64, weight_l2=5e-4, bias_l2=5e-4))
    model.add(ReLU())
    model.add(Dense(64, 3))
    model.add(Softmax())
    model.set(loss=CategoricalCrossentropy(), optimizer=Adam(learning_rate=0.02, decay=5e-7))

    # the book's loop: epochs 0 .. N, each printed before its update
    model.train(X, y, epochs=args.epochs + 1, start_epoch=0, log_before_update=True,
                log_every=args.print_every, callbacks=[print_epoch])

    X_test, y_test = xpnet.datasets.spiral(samples=100, classes=3, seed=rng, backend=backend)
    validation = model.evaluate(X_test, y_test)
    print(f"validation, acc: {validation['acc']:.3f}, loss: {validation['loss']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
