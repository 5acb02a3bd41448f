"""Generative models (GANs and VAEs) and the semi-supervised classifier, each with its own `train_step`, trained by
plain `fit`."""

from augment_tf.models.classifier import SemiSupervisedClassifier
from augment_tf.models.gan import GAN, ConditionalGAN
from augment_tf.models.vae import VAE, ConditionalVAE, FitLatentPrior, KLAnnealing

__all__ = ["GAN", "ConditionalGAN", "VAE", "ConditionalVAE", "KLAnnealing", "FitLatentPrior", "SemiSupervisedClassifier"]
