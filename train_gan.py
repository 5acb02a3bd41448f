"""Train a GAN on MNIST-style images: `python train_gan.py --help`.

The same as `python -m augment_tf.train_gan` (augment_tf/train_gan.py), kept as the clone's entry point.
"""

from augment_tf import cli
from augment_tf.train_gan import main

if __name__ == "__main__":
    cli.run(main)
