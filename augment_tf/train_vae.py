"""Train a VAE (or, with --conditional, a class-conditional VAE) on MNIST-style images.

    python -m augment_tf.train_vae --conditional --out runs/cvae [--beta 1 --kl-anneal-epochs 5 --latent-dim 16]
    python -m augment_tf.train_vae --conditional --out runs/cvae --resume      # continue after an interruption
    (train_vae.py in a clone is the same command)
"""

import augment_tf
from augment_tf import cli, images, training_options
from augment_tf.errors import AugmentError

DEFAULT_EPOCHS = 15  # about 10 minutes on a 2-core CPU, the mark width 64 was chosen at (benchmarks/README.md)
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


def build_model(config):
    """A compiled VAE or ConditionalVAE for a run's config."""
    import keras  # only a run that starts loads Keras (see `main`)

    from augment_tf.models import VAE, ConditionalVAE

    if config["beta"] < 0 or config["kl_anneal_epochs"] < 0 or config["learning_rate"] <= 0:
        raise AugmentError("--beta and --kl-anneal-epochs must be >= 0 and --learning-rate > 0")
    common = dict(
        image_shape=config["image_shape"],
        latent_dim=config["latent_dim"],
        width=config["width"],
        beta=config["beta"],
        seed=config["seed"],
        augment=config.get("augment", False),
    )
    model = ConditionalVAE(num_classes=config["num_classes"], **common) if config["conditional"] else VAE(**common)
    model.compile(
        optimizer=keras.optimizers.Adam(config["learning_rate"]),
        jit_compile=training_options.jit_compile(config),
    )
    return model


def callbacks(config):
    """KL annealing and the fitted prior, when the run asks for them."""
    from augment_tf import training
    from augment_tf.models import FitLatentPrior, KLAnnealing  # Keras: only a run that starts loads it (see `main`)

    extra = [KLAnnealing(epochs=config["kl_anneal_epochs"])] if config["kl_anneal_epochs"] else []
    if config.get("latent_prior", "fitted") == "fitted":  # in chunks: streamed data never sits in memory
        source = training.training_source(config)
        extra.append(FitLatentPrior(chunks=lambda: ((images.to_unit_range(x), y) for x, y in source.chunks())))
    return extra


def main(argv=None, extra_callbacks=()):
    args, given = training_options.parse_args("vae", DEFAULT_EPOCHS, __doc__.splitlines()[0], argv, defaults=DEFAULTS,
                                              options=OPTIONS)
    augment_tf.load_tensorflow()  # quietly (its start-up notes muted); the library below imports it anyway
    from augment_tf import training  # TensorFlow only now: --help and argument errors answer without its seconds

    return training.main_for("vae", "sampler.keras", build_model, DEFAULT_EPOCHS, args, given, options=OPTIONS,
                             callbacks=lambda config: [*callbacks(config), *extra_callbacks])


if __name__ == "__main__":
    cli.run(main)
