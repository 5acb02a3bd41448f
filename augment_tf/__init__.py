"""augment_tf: GANs and VAEs for MNIST-style data augmentation, in plain Keras 3 on TensorFlow."""

import os


def _import_tensorflow_quietly():
    """TensorFlow's C++ start-up notes go straight to stderr and no setting hides them; mute them only here.

    Device discovery runs here too: it is what prints the CUDA notes on a machine without a GPU."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow

        tensorflow.config.list_physical_devices()  # device discovery prints its own notes (no CUDA driver, ...)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()

from augment_tf.data import load_arrays, load_dataset, make_dataset  # noqa: E402
from augment_tf.errors import AugmentError, DataError  # noqa: E402
from augment_tf.models import GAN, VAE, ConditionalGAN, ConditionalVAE  # noqa: E402

__all__ = [
    "GAN",
    "ConditionalGAN",
    "VAE",
    "ConditionalVAE",
    "load_dataset",
    "load_arrays",
    "make_dataset",
    "AugmentError",
    "DataError",
]
