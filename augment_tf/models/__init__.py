"""Generative models: GANs and VAEs with their own `train_step`, trained by plain `fit`."""

from augment_tf.models.gan import GAN, ConditionalGAN

__all__ = ["GAN", "ConditionalGAN"]
