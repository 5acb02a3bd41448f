"""Scratch (issue 37): the semi-supervised GAN of Salimans et al. 2016 (Improved GAN, feature matching), their MNIST
setup as the paper and its code describe it, without weight normalisation: an MLP discriminator with Gaussian noise
whose 10 logits are the classes (the fake class's logit fixed at 0), a 500-500 MLP generator trained to match the
mean of the discriminator's last hidden layer; Adam 3e-3, beta1 0.5, batch 100. Stops at a wall-clock budget,
scoring the discriminator on the 10k validation images every `every` seconds.

    python benchmarks/results/few_labels/issue37/scratch/k_plus_one_gan.py [MINUTES EVERY_SECONDS]
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 5)))
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

from benchmarks import few_labels  # noqa: E402
from benchmarks.common import split_arrays  # noqa: E402

minutes, every = (float(sys.argv[1]), float(sys.argv[2])) if len(sys.argv) > 2 else (30.0, 120.0)
keras.utils.set_random_seed(0)
(x, y), (xv, yv), _, _ = split_arrays("../shared/data/mnist", "validation")
labelled = few_labels.draw_labels(y, 100, np.random.default_rng([0, 100]))
x = x.reshape(len(x), -1).astype(np.float32) / 255.0
xv = xv.reshape(len(xv), -1).astype(np.float32) / 255.0
xl, yl = x[labelled], y[labelled]

hidden = [1000, 500, 250, 250, 250]
inputs = keras.Input((784,))
h = layers.GaussianNoise(0.3)(inputs)
for units in hidden:
    h = layers.Dense(units, activation="relu")(h)
    h = layers.GaussianNoise(0.5)(h)
features = h
logits = layers.Dense(10)(features)
discriminator = keras.Model(inputs, [logits, features])
generator = keras.Sequential([keras.Input((100,)),
                              layers.Dense(500, activation="softplus"), layers.BatchNormalization(),
                              layers.Dense(500, activation="softplus"), layers.BatchNormalization(),
                              layers.Dense(784, activation="sigmoid")])
d_opt = keras.optimizers.Adam(3e-3, beta_1=0.5)
g_opt = keras.optimizers.Adam(3e-3, beta_1=0.5)


@tf.function(jit_compile=True)
def step(xl_batch, yl_batch, xu_batch, xu_batch2):
    z = tf.random.uniform((100, 100))
    with tf.GradientTape() as tape:
        lab, _ = discriminator(xl_batch, training=True)
        unl, _ = discriminator(xu_batch, training=True)
        fake, _ = discriminator(generator(z, training=True), training=True)
        l_lab = tf.reduce_logsumexp(lab, 1)
        loss_lab = -tf.reduce_mean(tf.gather(lab, yl_batch, batch_dims=1)) + tf.reduce_mean(l_lab)
        l_unl, l_fake = tf.reduce_logsumexp(unl, 1), tf.reduce_logsumexp(fake, 1)
        loss_unl = (-tf.reduce_mean(l_unl) + tf.reduce_mean(tf.nn.softplus(l_unl))
                    + tf.reduce_mean(tf.nn.softplus(l_fake)))
        d_loss = loss_lab + loss_unl
    d_opt.apply_gradients(zip(tape.gradient(d_loss, discriminator.trainable_variables),
                              discriminator.trainable_variables))
    with tf.GradientTape() as tape:
        _, real_features = discriminator(xu_batch2, training=True)
        _, fake_features = discriminator(generator(z, training=True), training=True)
        g_loss = tf.reduce_mean(tf.square(tf.reduce_mean(real_features, 0) - tf.reduce_mean(fake_features, 0)))
    g_opt.apply_gradients(zip(tape.gradient(g_loss, generator.trainable_variables), generator.trainable_variables))
    return loss_lab, loss_unl, g_loss


def validation_accuracy():
    predicted = discriminator.predict(xv, batch_size=1000, verbose=0)[0].argmax(1)
    return float(np.mean(predicted == yv))


rng = np.random.default_rng(0)
curve, begin, paused, steps, next_eval = [], time.perf_counter(), 0.0, 0, every
while True:
    order_u, order_u2 = rng.permutation(len(x)), rng.permutation(len(x))
    for i in range(0, len(x) - 99, 100):
        pick = rng.permutation(len(xl))
        losses = step(xl[pick], yl[pick].astype(np.int32), x[order_u[i:i + 100]], x[order_u2[i:i + 100]])
        steps += 1
        elapsed = time.perf_counter() - begin - paused
        if elapsed >= next_eval or elapsed >= 60 * minutes:
            mark = time.perf_counter()
            curve.append((round(elapsed / 60, 2), steps, validation_accuracy()))
            print(f"  {curve[-1][0]} min, step {steps}: accuracy {curve[-1][2]:.4f}, losses "
                  f"{[round(float(v), 3) for v in losses]}", flush=True)
            paused += time.perf_counter() - mark
            next_eval += every
        if elapsed >= 60 * minutes:
            break
    if elapsed >= 60 * minutes:
        break
with open(os.path.join(os.path.dirname(__file__), "..", f"k_plus_one_gan_{minutes:g}min.json"), "w") as f:
    json.dump({"minutes": minutes, "curve": curve, "final_accuracy": curve[-1][2]}, f)
