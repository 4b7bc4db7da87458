"""NNFS book, chapter 21 (Saving and Loading Models and Their Parameters): the model of
chapter 19 trained, its parameters retrieved and set on a new model, saved to and loaded
from a file, then the whole model saved (``fashion_mnist.model``, in the working folder)
and loaded, each one evaluated.

Run as ``tests/book/ch19.py`` is: ``python ch21.py [--epochs N] [--batch-size B]
[--print-every K]``; ``ch22.py`` then loads ``fashion_mnist.model``.
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

# Shuffle the training dataset
keys = np.array(range(X.shape[0]))
np.random.shuffle(keys)
X = X[keys]
y = y[keys]

# Scale and reshape samples
X = (X.reshape(X.shape[0], -1).astype(np.float32) - 127.5) / 127.5
X_test = (X_test.reshape(X_test.shape[0], -1).astype(np.float32) -
             127.5) / 127.5

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

# Retrieve model parameters
parameters = model.get_parameters()
print(len(parameters), [(w.shape, w.dtype, b.shape) for w, b in parameters])

# New model

# Instantiate the model
model = Model()

# Add layers
model.add(Layer_Dense(X.shape[1], 128))
model.add(Activation_ReLU())
model.add(Layer_Dense(128, 128))
model.add(Activation_ReLU())
model.add(Layer_Dense(128, 10))
model.add(Activation_Softmax())

# Set loss and accuracy objects
# We do not set optimizer object this time - there's no need to do it
# as we won't train the model
model.set(
    loss=Loss_CategoricalCrossentropy(),
    accuracy=Accuracy_Categorical()
)

# Finalize the model
model.finalize()

# Set model with parameters instead of training it
model.set_parameters(parameters)

# Evaluate the model
model.evaluate(X_test, y_test)

# Save the parameters, and load them into a third model
model.save_parameters('fashion_mnist.parms')

model = Model()
model.add(Layer_Dense(X.shape[1], 128))
model.add(Activation_ReLU())
model.add(Layer_Dense(128, 128))
model.add(Activation_ReLU())
model.add(Layer_Dense(128, 10))
model.add(Activation_Softmax())
model.set(
    loss=Loss_CategoricalCrossentropy(),
    accuracy=Accuracy_Categorical()
)
model.finalize()
model.load_parameters('fashion_mnist.parms')
model.evaluate(X_test, y_test)

# Save the model
model.save('fashion_mnist.model')

# Load the model
model = Model.load('fashion_mnist.model')

# Evaluate the model
model.evaluate(X_test, y_test)
model.evaluate(X_test, y_test, batch_size=args.batch_size)
