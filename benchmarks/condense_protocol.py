"""The condensation papers' evaluation: a ConvNet trained from scratch on a small set, scored on a test set.

As documented in Zhao et al. 2021 (Dataset Condensation, DC) and its code's `evaluate_synset` for MNIST: ConvNet-3 of
128 channels with instance normalisation and average pooling (`networks.convnet_features` and a Dense head), inputs
standardised with MNIST's mean 0.1307 and std 0.3081, 300 epochs (301 passes, as the code runs) of SGD, learning
rate 0.01 then 0.001 after epoch 151, momentum 0.9, weight decay 5e-4 (added to the gradient, as PyTorch does),
batches of 256, and DC's MNIST augmentation: each image in each batch gets one of a crop (pad 4), a scale (0.8-1.2
per axis) or a rotation (-45 to 45 degrees). Deviations: the three are bilinear and filled with the batch mean
(DC scales by nearest-neighbour, fills scaled images with 0 and rotates with cubic splines), and the momentum carries
over the learning-rate drop (DC makes a new optimizer there, which starts it afresh).
"""

import keras
import numpy as np
import tensorflow as tf

from augment_tf.models import networks

MEAN, STD = 0.1307, 0.3081
EPOCHS, BATCH, LEARNING_RATE, MOMENTUM, WEIGHT_DECAY = 300, 256, 0.01, 0.9, 5e-4
CROP, SCALE, ROTATE = 4, 0.2, 45


def standardise(x):
    """uint8 (N, H, W) or (N, H, W, 1) -> float32 (N, H, W, 1) standardised as the papers do."""
    x = np.asarray(x, np.float32).reshape(len(x), *np.shape(x)[1:3], -1) / 255.0
    return (x - MEAN) / STD


def convnet_classifier(image_shape, num_classes, width=128, seed=None):
    """`networks.convnet_features` with a Dense head of logits, initialised as PyTorch's nn.Linear."""
    head = keras.layers.Dense(num_classes, kernel_initializer=keras.initializers.VarianceScaling(
        1 / 3, "fan_in", "uniform", seed))
    return keras.Sequential([networks.convnet_features(image_shape, width, seed=seed), head])


def dc_transforms(n, size, rng):
    """(n, 8) projective transforms (output -> input pixel), one of crop, scale or rotate per image, as DC's MNIST
    augmentation draws them."""
    centre = (size - 1) / 2
    out = np.zeros((n, 8), np.float32)
    for i, choice in enumerate(rng.integers(0, 3, n)):
        if choice == 0:  # crop: shift by -CROP..CROP-1 pixels
            dx, dy = rng.integers(0, 2 * CROP, 2) - CROP
            m = np.array([[1, 0, dx], [0, 1, dy]], np.float64)
        elif choice == 1:  # scale each axis by int(u * size) / size, about the centre
            sx, sy = (np.floor(rng.uniform(1 - SCALE, 1 + SCALE, 2) * size) / size)
            m = np.array([[1 / sx, 0, centre * (1 - 1 / sx)], [0, 1 / sy, centre * (1 - 1 / sy)]])
        else:  # rotate by an integer angle in [-ROTATE, ROTATE), about the centre
            a = np.deg2rad(rng.integers(-ROTATE, ROTATE))
            c, s = np.cos(a), np.sin(a)
            m = np.array([[c, -s, centre - c * centre + s * centre], [s, c, centre - s * centre - c * centre]])
        out[i, :6] = m.reshape(-1)
    return out


def augment(x, rng):
    """DC's augmentation of one standardised batch (N, H, W, 1)."""
    transforms = dc_transforms(len(x), x.shape[1], rng)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=x, transforms=transforms, output_shape=tf.constant(x.shape[1:3], tf.int32),
        fill_value=float(np.mean(x)), interpolation="BILINEAR", fill_mode="CONSTANT").numpy()


def train_and_score(x, y, x_test, y_test, num_classes=10, *, seed=0, epochs=EPOCHS, width=128):
    """Test accuracy of the ConvNet trained on uint8 images `x`, labels `y` by the papers' recipe (module docstring)."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x, y = standardise(x), np.asarray(y, np.int32)
    model = convnet_classifier(x.shape[1:], num_classes, width, seed)
    optimizer = keras.optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM)
    model.build((None, *x.shape[1:]))
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=True)
    def step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        weights = model.trainable_variables
        grads = tape.gradient(loss, weights)
        optimizer.apply_gradients([(g + WEIGHT_DECAY * w, w) for g, w in zip(grads, weights)])
        return loss

    for epoch in range(epochs + 1):
        order = rng.permutation(len(x))
        for start in range(0, len(x), BATCH):
            batch = order[start:start + BATCH]
            step(augment(x[batch], rng), y[batch])
        if epoch == epochs // 2 + 1:
            optimizer.learning_rate.assign(LEARNING_RATE * 0.1)
    return accuracy(model, x_test, y_test)


def accuracy(model, x_test, y_test, batch=1000):
    predict = tf.function(lambda images: tf.argmax(model(images, training=False), -1), jit_compile=True)
    x_test = standardise(x_test)
    right = sum(int(np.sum(predict(x_test[i:i + batch]).numpy() == y_test[i:i + batch]))
                for i in range(0, len(x_test), batch))
    return right / len(x_test)
