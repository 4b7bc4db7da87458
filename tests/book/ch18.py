"""NNFS book, chapter 18 (Model Object): the chapter's final script
(spiral data classifier built with the Model class).

Run as a subprocess: ``python tests/book/ch18.py [--epochs N] [--print-every K]``.
"""

import argparse

import nnfs
from nnfs.datasets import spiral_data
from xpnet.bench.nnfs_book import (
                       Accuracy_Categorical,
                       Activation_ReLU,
                       Activation_Softmax,
                       Layer_Dense,
                       Layer_Dropout,
                       Loss_CategoricalCrossentropy,
                       Model,
                       Optimizer_Adam,
)

parser = argparse.ArgumentParser()
parser.add_argument('--epochs', type=int, default=10000)
parser.add_argument('--print-every', type=int, default=100)
args = parser.parse_args()
epochs = args.epochs
print_every = args.print_every

nnfs.init()


# Create dataset
X, y = spiral_data(samples=1000, classes=3)
X_test, y_test = spiral_data(samples=100, classes=3)

# Instantiate the model
model = Model()

# Add layers
model.add(Layer_Dense(2, 512, weight_regularizer_l2=5e-4,
                              bias_regularizer_l2=5e-4))
model.add(Activation_ReLU())
model.add(Layer_Dropout(0.1))
model.add(Layer_Dense(512, 3))
model.add(Activation_Softmax())

# Set loss, optimizer and accuracy objects
model.set(
    loss=Loss_CategoricalCrossentropy(),
    optimizer=Optimizer_Adam(learning_rate=0.05, decay=5e-5),
    accuracy=Accuracy_Categorical()
)

# Finalize the model
model.finalize()

# Train the model
model.train(X, y, validation_data=(X_test, y_test),
            epochs=epochs, print_every=print_every)
