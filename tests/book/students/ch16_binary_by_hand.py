"""A student's script from chapter 16: binary logistic regression by hand, Adam, its gradients
and caches printed: run as ``python ch16_binary_by_hand.py nnfs`` (the nnfs package and the
book's classes, ``xpnet.bench.nnfs_book``) or ``python ch16_binary_by_hand.py xpnet``
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

# chapter 16: binary logistic regression, manual loop, accuracy by hand; Adam
X, y = spiral_data(samples=100, classes=2)
y = y.reshape(-1, 1)
dense1 = Layer_Dense(2, 64, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4)
activation1 = Activation_ReLU()
dense2 = Layer_Dense(64, 1)
activation2 = Activation_Sigmoid()
loss_function = Loss_BinaryCrossentropy()
optimizer = Optimizer_Adam(decay=5e-7)
for epoch in range(201):
    dense1.forward(X)
    activation1.forward(dense1.output)
    dense2.forward(activation1.output)
    activation2.forward(dense2.output)
    data_loss = loss_function.calculate(activation2.output, y)
    regularization_loss = loss_function.regularization_loss(dense1) + loss_function.regularization_loss(dense2)
    loss = data_loss + regularization_loss
    predictions = (activation2.output > 0.5) * 1
    accuracy = np.mean(predictions == y)
    if not epoch % 100:
        print(f'epoch: {epoch}, acc: {accuracy:.3f}, loss: {loss:.3f}, lr: {optimizer.current_learning_rate}')
    loss_function.backward(activation2.output, y)
    activation2.backward(loss_function.dinputs)
    dense2.backward(activation2.dinputs)
    activation1.backward(dense2.dinputs)
    dense1.backward(activation1.dinputs)
    optimizer.pre_update_params()
    optimizer.update_params(dense1)
    optimizer.update_params(dense2)
    optimizer.post_update_params()
print(loss_function.dinputs.dtype, loss_function.dinputs[:3].ravel())
print(activation2.dinputs.dtype, activation2.dinputs[:3].ravel())
print(dense1.weight_cache.dtype, dense1.weight_cache[0, :3], dense1.bias_momentums[0, :3])
print(predictions.dtype, predictions[:5].ravel(), y.dtype, accuracy)
print(type(data_loss), data_loss, regularization_loss)
print(dense2.dweights.dtype, dense2.dweights[:3].ravel(), dense2.dbiases)
