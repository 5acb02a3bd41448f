"""The keras.io "GAN overriding Model.train_step" DCGAN for MNIST, rebuilt as the comparison baseline.

Same architecture and settings as the example: 3x3 stride-2 convs (64, 128) + global max pooling in the
discriminator, dense 7x7x128 + two 4x4 stride-2 transposed convs (128) + a 7x7 sigmoid conv in the
generator, LeakyReLU 0.2, latent 128, Adam 3e-4 for both, BCE with 0.05 label noise, batch 64, [0, 1] pixels.
"""

import keras
import tensorflow as tf
from keras import layers

LATENT_DIM = 128
BATCH_SIZE = 64
VALUE_RANGE = (0.0, 1.0)


def discriminator():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(64, 3, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2D(128, 3, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.GlobalMaxPooling2D(),
            layers.Dense(1),
        ]
    )


def generator():
    return keras.Sequential(
        [
            keras.Input((LATENT_DIM,)),
            layers.Dense(7 * 7 * 128),
            layers.LeakyReLU(0.2),
            layers.Reshape((7, 7, 128)),
            layers.Conv2DTranspose(128, 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2DTranspose(128, 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2D(1, 7, padding="same", activation="sigmoid"),
        ]
    )


class KerasIoGAN(keras.Model):
    """The example's train_step: one discriminator step on a real+fake batch, then one generator step."""

    def __init__(self):
        super().__init__()
        self.discriminator, self.generator = discriminator(), generator()
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
        self.d_optimizer = keras.optimizers.Adam(3e-4)
        self.g_optimizer = keras.optimizers.Adam(3e-4)

    def train_step(self, data):
        real = data[0] if isinstance(data, tuple) else data
        batch_size = tf.shape(real)[0]
        fake = self.generator(tf.random.normal((batch_size, LATENT_DIM)))
        combined = tf.concat([fake, real], axis=0)
        labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0)
        labels += 0.05 * tf.random.uniform(tf.shape(labels))
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(combined))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        with tf.GradientTape() as tape:
            predictions = self.discriminator(self.generator(tf.random.normal((batch_size, LATENT_DIM))))
            g_loss = self.loss_fn(tf.zeros((batch_size, 1)), predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        return {"d_loss": d_loss, "g_loss": g_loss}
