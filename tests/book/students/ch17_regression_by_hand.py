"""A student's script from chapter 17: regression on sine data by hand, accuracy within a
precision: run as ``python ch17_regression_by_hand.py nnfs`` (the nnfs package and the
book's classes, ``xpnet.bench.nnfs_book``) or ``python ch17_regression_by_hand.py xpnet``
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

# chapter 17: regression on sine data, Adam, accuracy with a precision by hand
X, y = sine_data()
dense1 = Layer_Dense(1, 64)
activation1 = Activation_ReLU()
dense2 = Layer_Dense(64, 64)
activation2 = Activation_ReLU()
dense3 = Layer_Dense(64, 1)
activation3 = Activation_Linear()
loss_function = Loss_MeanSquaredError()
optimizer = Optimizer_Adam(learning_rate=0.005, decay=1e-3)
accuracy_precision = np.std(y) / 250
for epoch in range(301):
    dense1.forward(X); activation1.forward(dense1.output)
    dense2.forward(activation1.output); activation2.forward(dense2.output)
    dense3.forward(activation2.output); activation3.forward(dense3.output)
    data_loss = loss_function.calculate(activation3.output, y)
    regularization_loss = loss_function.regularization_loss(dense1) + \
        loss_function.regularization_loss(dense2) + loss_function.regularization_loss(dense3)
    loss = data_loss + regularization_loss
    predictions = activation3.output
    accuracy = np.mean(np.absolute(predictions - y) < accuracy_precision)
    if not epoch % 100:
        print(f'epoch: {epoch}, acc: {accuracy:.3f}, loss: {loss:.3f}, lr: {optimizer.current_learning_rate}')
    loss_function.backward(activation3.output, y)
    activation3.backward(loss_function.dinputs)
    dense3.backward(activation3.dinputs)
    activation2.backward(dense3.dinputs)
    dense2.backward(activation2.dinputs)
    activation1.backward(dense2.dinputs)
    dense1.backward(activation1.dinputs)
    optimizer.pre_update_params()
    for d in (dense1, dense2, dense3):
        optimizer.update_params(d)
    optimizer.post_update_params()
print(X.dtype, y.dtype, activation3.output.dtype, loss_function.dinputs.dtype, dense1.dinputs.dtype)
print(accuracy_precision, type(accuracy_precision).__name__)
print(activation3.dinputs[:3].ravel(), dense3.dweights[:3].ravel())
print(optimizer.iterations, optimizer.current_learning_rate, optimizer.beta_1, optimizer.epsilon)
