"""A student's script from chapter 18: the Model trained, then its layers' arrays inspected:
run as ``python ch18_model_inspected.py nnfs`` (the nnfs package and the book's classes,
``xpnet.bench.nnfs_book``) or ``python ch18_model_inspected.py xpnet`` (``xpnet.book``);
tests/test_book.py holds the two outputs equal, line for line."""

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

# chapter 18: the Model, then a student's inspections
X, y = spiral_data(samples=100, classes=3)
X_test, y_test = spiral_data(samples=100, classes=3)
model = Model()
model.add(Layer_Dense(2, 64, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4))
model.add(Activation_ReLU())
model.add(Layer_Dropout(0.1))
model.add(Layer_Dense(64, 3))
model.add(Activation_Softmax())
model.set(loss=Loss_CategoricalCrossentropy(), optimizer=Optimizer_Adam(learning_rate=0.05, decay=5e-5),
          accuracy=Accuracy_Categorical())
model.finalize()
model.train(X, y, validation_data=(X_test, y_test), epochs=200, print_every=100)
print(len(model.layers), len(model.trainable_layers), type(model.output_layer_activation).__name__)
print(model.optimizer.iterations, model.optimizer.current_learning_rate)
print(model.layers[0].weights[:1, :4], model.layers[0].weights.dtype)
print(model.layers[0].dweights[:1, :4], model.layers[3].dbiases)
print(model.layers[-1].dinputs.dtype, model.layers[-1].dinputs[:2])
print(model.layers[2].binary_mask.sum(), model.layers[2].rate)
print(model.layers[3].dinputs.dtype, model.layers[1].dinputs[:1, :4])
print(model.layers[0].output.shape, model.layers[-1].output[:2])
print(model.loss.regularization_loss(), model.accuracy.calculate(np.argmax(model.layers[-1].output, axis=1), y_test))
out = model.forward(X_test[:5], training=False)
print(np.argmax(out, axis=1), model.output_layer_activation.predictions(out))
print(model.layers[0].inputs.shape, model.layers[-1].inputs.dtype)
print(model.loss.calculate(out, y_test[:5]), model.layers[2].binary_mask.shape)
