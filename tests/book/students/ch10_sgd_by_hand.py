"""A student's script from chapters 10-14: a manual loop, SGD with momentum, accuracy by hand,
the gradients printed: run as ``python ch10_sgd_by_hand.py nnfs`` (the nnfs package and the
book's classes, ``xpnet.bench.nnfs_book``) or ``python ch10_sgd_by_hand.py xpnet``
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

# chapters 10-14: a manual loop, SGD with momentum and decay, accuracy by hand
X, y = spiral_data(samples=100, classes=3)
dense1 = Layer_Dense(2, 64, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4)
activation1 = Activation_ReLU()
dense2 = Layer_Dense(64, 3)
loss_activation = Activation_Softmax_Loss_CategoricalCrossentropy()
optimizer = Optimizer_SGD(learning_rate=1.0, decay=1e-3, momentum=0.9)
for epoch in range(301):
    dense1.forward(X)
    activation1.forward(dense1.output)
    dense2.forward(activation1.output)
    data_loss = loss_activation.forward(dense2.output, y)
    regularization_loss = loss_activation.loss.regularization_loss(dense1) + \
        loss_activation.loss.regularization_loss(dense2)
    loss = data_loss + regularization_loss
    predictions = np.argmax(loss_activation.output, axis=1)
    if len(y.shape) == 2:
        y = np.argmax(y, axis=1)
    accuracy = np.mean(predictions == y)
    if not epoch % 100:
        print(f'epoch: {epoch}, acc: {accuracy:.3f}, loss: {loss:.3f} (data_loss: {data_loss:.3f}, reg_loss: {regularization_loss:.3f}), lr: {optimizer.current_learning_rate}')
    loss_activation.backward(loss_activation.output, y)
    dense2.backward(loss_activation.dinputs)
    activation1.backward(dense2.dinputs)
    dense1.backward(activation1.dinputs)
    optimizer.pre_update_params()
    optimizer.update_params(dense1)
    optimizer.update_params(dense2)
    optimizer.post_update_params()
print(type(loss).__name__, type(accuracy).__name__, type(data_loss).__name__)
print(loss_activation.dinputs.shape, loss_activation.dinputs.dtype, loss_activation.dinputs[:2])
print(dense1.dweights.dtype, dense1.dweights[0, :4])
print(dense1.dbiases.dtype, dense1.dbiases.shape, dense1.dbiases[0, :3])
print(dense2.dinputs.dtype, activation1.dinputs.dtype, dense1.dinputs.dtype)
print(dense1.weight_momentums[0, :3], dense1.weight_momentums.dtype)
print(dense1.weights.dtype, dense1.biases.dtype, dense1.output.dtype, activation1.output.dtype)
print(dense1.inputs is X, optimizer.iterations, optimizer.current_learning_rate)
print(loss_activation.output[:2])
print(np.sum(dense1.weights), np.sum(dense2.biases))
X_test, y_test = spiral_data(samples=100, classes=3)
dense1.forward(X_test); activation1.forward(dense1.output); dense2.forward(activation1.output)
loss = loss_activation.forward(dense2.output, y_test)
print('validation', np.mean(np.argmax(loss_activation.output, axis=1) == y_test), loss)
print(hasattr(dense1, 'weight_cache'), hasattr(dense1, 'bias_momentums'))
