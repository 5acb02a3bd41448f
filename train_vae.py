"""Train a VAE on MNIST-style images: `python train_vae.py --help`.

The same as `python -m augment_tf.train_vae` (augment_tf/train_vae.py), kept as the clone's entry point.
"""

from augment_tf import cli
from augment_tf.train_vae import main

if __name__ == "__main__":
    cli.run(main)
