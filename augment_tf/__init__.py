"""augment_tf: GANs and VAEs for MNIST-style data augmentation, in plain Keras 3 on TensorFlow.

TensorFlow loads on first use, not on `import augment_tf`: the commands answer `--help` and argument errors at once,
and a user's `augment_tf.ConditionalGAN` loads it then (`load_tensorflow`)."""

import importlib
import os

# The package's names, each from the module that defines it; imported when first asked for (PEP 562).
_EXPORTS = {
    "GAN": "augment_tf.models",
    "ConditionalGAN": "augment_tf.models",
    "VAE": "augment_tf.models",
    "ConditionalVAE": "augment_tf.models",
    "QualityMonitor": "augment_tf.quality",
    "load_dataset": "augment_tf.data",
    "load_arrays": "augment_tf.data",
    "make_dataset": "augment_tf.data",
    "AugmentError": "augment_tf.errors",
    "DataError": "augment_tf.errors",
}
__all__ = list(_EXPORTS)

_tensorflow_loaded = False


def load_tensorflow():
    """Imports TensorFlow once, its C++ start-up notes muted: they go straight to stderr and no setting hides them.

    Device discovery runs here too: it is what prints the CUDA notes on a machine without a GPU. Commands call this
    once their arguments are checked, before the library modules that import TensorFlow."""
    global _tensorflow_loaded
    if _tensorflow_loaded:
        return
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow

        tensorflow.config.list_physical_devices()  # device discovery prints its own notes (no CUDA driver, ...)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    _tensorflow_loaded = True


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'augment_tf' has no attribute {name!r}")
    if _EXPORTS[name] in ("augment_tf.models", "augment_tf.quality"):
        load_tensorflow()
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups find it directly
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
