"""A student's script: its own Layer_Dense typed from the book and a ReLU subclass beside the
library's classes: run as ``python own_dense_beside_the_library.py nnfs`` (the nnfs package
and the book's classes, ``xpnet.bench.nnfs_book``) or ``python
own_dense_beside_the_library.py xpnet`` (``xpnet.book``); tests/test_book.py holds the two
outputs equal, line for line."""

import sys

import numpy as np

if sys.argv[1] == "nnfs":
    import nnfs
    from nnfs.datasets import sine_data, spiral_data, vertical_data
    from xpnet.bench.nnfs_book import *
    nnfs.init()
else:
    from xpnet.book import *
    init()

# a student's own Layer_Dense typed from the book, beside the library's other classes
class Layer_Dense:
    def __init__(self, n_inputs, n_neurons):
        self.weights = 0.01 * np.random.randn(n_inputs, n_neurons)
        self.biases = np.zeros((1, n_neurons))
    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.dot(inputs, self.weights) + self.biases
    def backward(self, dvalues):
        self.dweights = np.dot(self.inputs.T, dvalues)
        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)
        self.dinputs = np.dot(dvalues, self.weights.T)

class Activation_ReLU_Mine(Activation_ReLU):
    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)

X, y = vertical_data(samples=100, classes=3)
dense1 = Layer_Dense(2, 16)
activation1 = Activation_ReLU_Mine()
dense2 = Layer_Dense(16, 3)
loss_activation = Activation_Softmax_Loss_CategoricalCrossentropy()
optimizer = Optimizer_Adagrad(learning_rate=1.0, decay=1e-4)
for epoch in range(101):
    dense1.forward(X); activation1.forward(dense1.output); dense2.forward(activation1.output)
    loss = loss_activation.forward(dense2.output, y)
    accuracy = np.mean(np.argmax(loss_activation.output, axis=1) == y)
    if not epoch % 50:
        print(f'epoch: {epoch}, acc: {accuracy:.3f}, loss: {loss:.3f}, lr: {optimizer.current_learning_rate}')
    loss_activation.backward(loss_activation.output, y)
    dense2.backward(loss_activation.dinputs); activation1.backward(dense2.dinputs); dense1.backward(activation1.dinputs)
    optimizer.pre_update_params(); optimizer.update_params(dense1); optimizer.update_params(dense2); optimizer.post_update_params()
print(dense1.weights.dtype, dense1.weight_cache.dtype, dense1.weight_cache[0, :3], dense1.biases.dtype)
print(activation1.dinputs.dtype, activation1.dinputs[:1, :5])
print(loss_activation.dinputs.dtype, loss_activation.output.dtype, y.dtype)
print(hasattr(dense1, 'weight_momentums'), optimizer.iterations)
