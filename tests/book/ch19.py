"""NNFS book, chapters 19 and 20 (A Real Dataset, Model Evaluation): Fashion MNIST read
from its image files, shuffled, scaled and reshaped, a model trained in batches, then
evaluated on the test and the training data.

Run as a subprocess, in a folder that holds ``fashion_mnist_images/`` in the book's layout
(``{train,test}/<label>/<nnnn>.png``, 28x28 grey), with OpenCV or the stand-in
``tests/book/cv2_standin`` on ``PYTHONPATH``:
``python ch19.py [--epochs N] [--batch-size B] [--print-every K]``.
"""

import argparse
import os

import cv2
import nnfs
import numpy as np
from xpnet.bench.nnfs_book import (
                       Accuracy_Categorical19 as Accuracy_Categorical,
                       Activation_ReLU,
                       Activation_Softmax,
                       Layer_Dense,
                       Loss_CategoricalCrossentropy19 as Loss_CategoricalCrossentropy,
                       Model19 as Model,
                       Optimizer_Adam,
)

parser = argparse.ArgumentParser()
parser.add_argument('--epochs', type=int, default=10)
parser.add_argument('--batch-size', type=int, default=128)
parser.add_argument('--print-every', type=int, default=100)
args = parser.parse_args()

nnfs.init()


# Loads a MNIST dataset
def load_mnist_dataset(dataset, path):

    # Scan all the directories and create a list of labels
    labels = os.listdir(os.path.join(path, dataset))

    # Create lists for samples and labels
    X = []
    y = []

    # For each label folder
    for label in labels:
        # And for each image in given folder
        for file in os.listdir(os.path.join(path, dataset, label)):
            # Read the image
            image = cv2.imread(
                        os.path.join(path, dataset, label, file),
                        cv2.IMREAD_UNCHANGED)

            # And append it and a label to the lists
            X.append(image)
            y.append(label)

    # Convert the data to proper numpy arrays and return
    return np.array(X), np.array(y).astype('uint8')


# MNIST dataset (train + test)
def create_data_mnist(path):

    # Load both sets separately
    X, y = load_mnist_dataset('train', path)
    X_test, y_test = load_mnist_dataset('test', path)

    # And return all the data
    return X, y, X_test, y_test


# Create dataset
X, y, X_test, y_test = create_data_mnist('fashion_mnist_images')
print(X.shape, X.dtype, y.shape, y.dtype)

# Shuffle the training dataset
keys = np.array(range(X.shape[0]))
np.random.shuffle(keys)
X = X[keys]
y = y[keys]
print(keys[:10])
print(y[0:15])

# Scale and reshape samples
X = (X.reshape(X.shape[0], -1).astype(np.float32) - 127.5) / 127.5
X_test = (X_test.reshape(X_test.shape[0], -1).astype(np.float32) -
             127.5) / 127.5
print(X.min(), X.max(), X.shape, X.dtype)

# Instantiate the model
model = Model()

# Add layers
model.add(Layer_Dense(X.shape[1], 128))
model.add(Activation_ReLU())
model.add(Layer_Dense(128, 128))
model.add(Activation_ReLU())
model.add(Layer_Dense(128, 10))
model.add(Activation_Softmax())

# Set loss, optimizer and accuracy objects
model.set(
    loss=Loss_CategoricalCrossentropy(),
    optimizer=Optimizer_Adam(decay=1e-3),
    accuracy=Accuracy_Categorical()
)

# Finalize the model
model.finalize()

# Train the model
model.train(X, y, validation_data=(X_test, y_test),
            epochs=args.epochs, batch_size=args.batch_size,
            print_every=args.print_every)

# Chapter 20: evaluate the model on the test data and on the training data
model.evaluate(X_test, y_test)
model.evaluate(X, y)
