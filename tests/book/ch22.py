"""NNFS book, chapter 22 (Prediction / Inference): the model that ``ch21.py`` saved
(``fashion_mnist.model``, in the working folder) loaded and asked for predictions on test
samples and on two pictures of clothes (``tshirt.png``, ``pants.png``: larger, colour,
dark on white, as the book's photos).

Run after ``ch21.py``, in the same folder: ``python ch22.py [--batch-size B]``.
"""

import argparse
import os

import cv2
import nnfs
import numpy as np
from xpnet.bench.nnfs_book import (
                       Model19 as Model,
)

parser = argparse.ArgumentParser()
parser.add_argument('--batch-size', type=int, default=128)
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


# Label index to label name relation
fashion_mnist_labels = {
    0: 'T-shirt/top',
    1: 'Trouser',
    2: 'Pullover',
    3: 'Dress',
    4: 'Coat',
    5: 'Sandal',
    6: 'Shirt',
    7: 'Sneaker',
    8: 'Bag',
    9: 'Ankle boot'
}

# Create dataset
X, y, X_test, y_test = create_data_mnist('fashion_mnist_images')

# Scale and reshape samples
X_test = (X_test.reshape(X_test.shape[0], -1).astype(np.float32) -
             127.5) / 127.5

# Load the model
model = Model.load('fashion_mnist.model')

# Predict on the first 5 samples from validation dataset
# and print the result
confidences = model.predict(X_test[:5])
print(confidences.shape, confidences.dtype)
print(confidences)
predictions = model.output_layer_activation.predictions(confidences)
print(predictions)

# Print first 5 labels
print(y_test[:5])

for prediction in predictions:
    print(fashion_mnist_labels[prediction])

# Predict on the whole test set, in batches
confidences = model.predict(X_test, batch_size=args.batch_size)
predictions = model.output_layer_activation.predictions(confidences)
print(confidences.shape, np.mean(predictions == y_test))

for picture in ('tshirt.png', 'pants.png'):

    # Read an image
    image_data = cv2.imread(picture, cv2.IMREAD_GRAYSCALE)

    # Resize to the same size as Fashion MNIST images
    image_data = cv2.resize(image_data, (28, 28))

    # Invert image colors
    image_data = 255 - image_data

    # Reshape and scale pixel data
    image_data = (image_data.reshape(1, -1).astype(
                      np.float32) - 127.5) / 127.5

    # Predict on the image
    confidences = model.predict(image_data)

    # Get prediction instead of confidence levels
    predictions = model.output_layer_activation.predictions(confidences)

    # Get label name from label index
    prediction = fashion_mnist_labels[predictions[0]]

    print(prediction)
    print(confidences)
