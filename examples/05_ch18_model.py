"""Chapter 18: the Model object.

Chapter 18 wraps the network, its loss, optimizer and accuracy into a ``Model`` with ``add``,
``set`` and ``train``: the API xpnet's ``Model`` follows. The network is chapter 15's with a
wider hidden layer: 1000 spiral points per class (3 classes), Dense(2, 512) with an L2
penalty of 5e-4 on weights and biases, ReLU, Dropout(0.1), Dense(512, 3), softmax,
categorical cross-entropy and Adam(learning_rate=0.05, decay=5e-5).

    python examples/05_ch18_model.py                  # 10,000 epochs on NumPy
    python examples/05_ch18_model.py --seed nnfs      # the book's numbers
    python examples/05_ch18_model.py --backend torch --epochs 500 --save ch18.npz

Unlike chapters 14-17, the book's ``Model.train`` runs epochs 1 .. N and prints after each
epoch's update, and the test data is drawn before the model is built; ``validation_data``
is evaluated once after training.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from _common import make_parser, parse, print_epoch

import xpnet
from xpnet.nn.activations import ReLU, Softmax
from xpnet.nn.layers import Dense, Dropout
from xpnet.nn.losses import CategoricalCrossentropy
from xpnet.nn.metrics import CategoricalAccuracy
from xpnet.nn.optimizers import Adam


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = make_parser(__doc__)
    parser.add_argument("--save", metavar="PATH",
                        help="save the trained model to PATH (.npz) and load it back")
    return parse(parser, argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    backend = xpnet.backend.resolve(args.backend)  # resolve once, use everywhere
    # One random stream for everything, drawn in the book's order: training and test data,
    # the initial weights (as each Dense layer is added), then the dropout masks.
    rng = xpnet.random.Generator(args.seed)

    X, y = xpnet.datasets.spiral(samples=1000, classes=3, seed=rng, backend=backend)
    X_test, y_test = xpnet.datasets.spiral(samples=100, classes=3, seed=rng, backend=backend)

    model = xpnet.Model(backend=backend, seed=rng)
    model.add(Dense(2, 512, weight_l2=5e-4, bias_l2=5e-4))
    model.add(ReLU())
    model.add(Dropout(0.1))
    model.add(Dense(512, 3))
    model.add(Softmax())
    model.set(
        loss=CategoricalCrossentropy(),
        optimizer=Adam(learning_rate=0.05, decay=5e-5),
        accuracy=CategoricalAccuracy(),
    )

    # the Model loop: epochs 1 .. N, each printed after its update
    history = model.train(X, y, epochs=args.epochs, validation_data=(X_test, y_test),
                          log_every=args.print_every, callbacks=[print_epoch])

    validation = history.validation  # evaluated once after the last epoch, dropout off
    if validation is not None:
        print(f"validation, acc: {validation['acc']:.3f}, loss: {validation['loss']:.3f}")
    if args.save:
        model.save(args.save)
        restored = xpnet.Model.load(args.save, backend=backend)
        print(f"saved to {args.save}; reloaded: {restored.evaluate(X_test, y_test)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
