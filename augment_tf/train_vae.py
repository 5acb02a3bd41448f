"""Train a VAE (or, with --conditional, a class-conditional VAE) on MNIST-style images.

    python -m augment_tf.train_vae --conditional --out runs/cvae [--beta 1 --kl-anneal-epochs 5 --latent-dim 16]
    python -m augment_tf.train_vae --conditional --out runs/cvae --resume      # continue after an interruption
    (train_vae.py in a clone is the same command)
"""

import augment_tf
from augment_tf import cli, training_options

DEFAULTS = {"default_latent_dim": 16, "default_width": 64}  # width 64 beat 32 at 10 minutes on the validation split
OPTIONS = {
    "--beta": dict(type=float, default=1.0, help="weight of the KL term (1: the ELBO; default 1)"),
    "--kl-anneal-epochs": dict(
        type=float, default=0.0, help="ramp the KL weight from 0 to --beta over this many epochs (default 0: off)"
    ),
    "--learning-rate": dict(type=float, default=1e-3, help="Adam learning rate (default 1e-3)"),
    "--latent-prior": dict(
        choices=["fitted", "standard"], default="fitted",
        help="sample from a Gaussian fitted to the encoded training set (default) or from N(0, I)",
    ),
}


def main(argv=None, extra_callbacks=()):
    args, given = training_options.parse_args("vae", training_options.VAE_EPOCHS, __doc__.splitlines()[0], argv,
                                              defaults=DEFAULTS, options=OPTIONS)
    augment_tf.load_tensorflow()  # quietly (its start-up notes muted); the library below imports it anyway
    from augment_tf import builders, training  # TensorFlow only now: --help and argument errors answer without it

    return training.main_for("vae", "sampler.keras", builders.build_vae, training_options.VAE_EPOCHS, args, given,
                             options=OPTIONS,
                             callbacks=lambda config: [*builders.vae_callbacks(config), *extra_callbacks])


if __name__ == "__main__":
    cli.run(main)
