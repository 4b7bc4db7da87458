"""A student's script from chapter 15: dropout by hand, a subclass of the book's Layer_Dense,
the mask inspected: run as ``python ch15_dropout_subclass.py nnfs`` (the nnfs package and
the book's classes, ``xpnet.bench.nnfs_book``) or ``python ch15_dropout_subclass.py xpnet``
(``xpnet.book``); tests/test_book.py holds the two outputs equal, line for line."""

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

# chapter 15: dropout in a manual loop; a subclass of a book layer; the mask inspected
X, y = spiral_data(samples=100, classes=3)

class Layer_Dense_Counting(Layer_Dense):
    calls = 0
    def forward(self, inputs, training=True):
        Layer_Dense_Counting.calls += 1
        super().forward(inputs)

dense1 = Layer_Dense_Counting(2, 64, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4)
activation1 = Activation_ReLU()
dropout1 = Layer_Dropout(0.1)
dense2 = Layer_Dense(64, 3)
loss_activation = Activation_Softmax_Loss_CategoricalCrossentropy()
optimizer = Optimizer_Adam(learning_rate=0.05, decay=5e-5)
for epoch in range(201):
    dense1.forward(X)
    activation1.forward(dense1.output)
    dropout1.forward(activation1.output)
    dense2.forward(dropout1.output)
    data_loss = loss_activation.forward(dense2.output, y)
    predictions = np.argmax(loss_activation.output, axis=1)
    accuracy = np.mean(predictions == y)
    if not epoch % 100:
        print(f'epoch: {epoch}, acc: {accuracy:.3f}, loss: {data_loss:.3f}, lr: {optimizer.current_learning_rate}')
    loss_activation.backward(loss_activation.output, y)
    dense2.backward(loss_activation.dinputs)
    dropout1.backward(dense2.dinputs)
    activation1.backward(dropout1.dinputs)
    dense1.backward(activation1.dinputs)
    optimizer.pre_update_params()
    optimizer.update_params(dense1)
    optimizer.update_params(dense2)
    optimizer.post_update_params()
print(Layer_Dense_Counting.calls, dropout1.rate)
print(dropout1.binary_mask.dtype, dropout1.binary_mask.shape, dropout1.binary_mask.sum(), dropout1.binary_mask[0, :5])
print(dropout1.output.dtype, dropout1.dinputs.dtype, dense2.dinputs.dtype, dense2.inputs.dtype)
print(dense2.dweights.dtype, dense1.dweights.dtype, dense1.dbiases.dtype)
mask = dropout1.binary_mask
dropout1.forward(activation1.output, False)  # (the final listing's training argument)
print(dropout1.binary_mask is mask, np.array_equal(dropout1.output, activation1.output))
print(isinstance(dense1, Layer_Dense), type(dense1).__mro__[1].__name__)
