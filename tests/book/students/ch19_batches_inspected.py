"""A student's script from chapters 19-20: the Model in batches with validation, then
inspected: run as ``python ch19_batches_inspected.py nnfs`` (the nnfs package and the book's
classes, ``xpnet.bench.nnfs_book``) or ``python ch19_batches_inspected.py xpnet``
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

# chapter 19's Model in batches, with validation; then inspections
if sys.argv[1] == "nnfs":
    from xpnet.bench.nnfs_book import Model19 as Model, Loss_CategoricalCrossentropy19 as Loss_CategoricalCrossentropy, Accuracy_Categorical19 as Accuracy_Categorical
X, y = spiral_data(samples=100, classes=3)
X_test, y_test = spiral_data(samples=50, classes=3)
keys = np.array(range(X.shape[0])); np.random.shuffle(keys); X, y = X[keys], y[keys]
model = Model()
model.add(Layer_Dense(2, 32, weight_regularizer_l2=5e-4)); model.add(Activation_ReLU())
model.add(Layer_Dropout(0.2)); model.add(Layer_Dense(32, 32)); model.add(Activation_ReLU())
model.add(Layer_Dense(32, 3)); model.add(Activation_Softmax())
model.set(loss=Loss_CategoricalCrossentropy(), optimizer=Optimizer_RMSprop(learning_rate=0.01, decay=1e-4),
          accuracy=Accuracy_Categorical())
model.finalize()
model.train(X, y, validation_data=(X_test, y_test), epochs=3, batch_size=64, print_every=2)
for i, layer in enumerate(model.layers[1:], 1):
    print(i, type(layer).__name__, layer.dinputs.dtype, layer.dinputs.shape, float(np.abs(layer.dinputs).sum()))
print(model.layers[0].weight_cache.dtype, model.layers[0].weight_cache[0, :3])
print(model.optimizer.current_learning_rate, model.optimizer.iterations, model.optimizer.rho)
print(model.layers[2].binary_mask.shape, model.layers[2].binary_mask.sum())
print(model.loss.calculate_accumulated(), model.accuracy.calculate_accumulated())
confidences = model.predict(X_test[:4])
print(confidences.dtype, np.argmax(confidences, axis=1), model.output_layer_activation.predictions(confidences))
model.evaluate(X, y)
print(model.layers[-1].output.shape, model.layers[0].inputs.shape)
