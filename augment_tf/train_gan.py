"""Train a GAN (or, with --conditional, a class-conditional GAN) on MNIST-style images.

    python -m augment_tf.train_gan --conditional --out runs/cgan    # or train_gan.py in a clone
    python -m augment_tf.train_gan --conditional --out runs/cgan --resume      # continue after an interruption
"""

import argparse

import augment_tf
from augment_tf import cli, training_options
from augment_tf.errors import AugmentError

DEFAULT_EPOCHS = 22  # about 10 minutes on a 2-core CPU (benchmarks/README.md)
OPTIONS = {
    "--freeze-d": dict(
        type=int, choices=range(3), default=0, metavar="{0,1,2}",
        help="with --init-from: keep the discriminator's first K convolutions as that run trained them (FreezeD; "
        "default 0)",
    ),
    "--adaptive-augment": dict(
        action=argparse.BooleanOptionalAction, default=None,
        help="with --augment: show the discriminator each view with a probability that adapts to how surely it "
        "tells real from generated (ADA; default: on wherever --augment is)",
    ),
}


def build_model(config):
    """A compiled GAN or ConditionalGAN for a run's config."""
    from augment_tf.models import GAN, ConditionalGAN  # Keras: only a run that starts loads it (see `main`)

    if config.get("freeze_d") and not config.get("init_from"):
        raise AugmentError("--freeze-d keeps layers as an --init-from run trained them; pass --init-from RUN or "
                           "drop it")
    augment = config.get("augment", False)
    if config.get("adaptive_augment") and not augment:
        raise AugmentError(f"--adaptive-augment adapts how often --augment's views are used, and --augment is off "
                           f"for this run (--no-augment, or {training_options.SMALL_DATA} images or more): add "
                           "--augment or drop it")
    if config.get("adaptive_augment") is None:  # the default: on wherever --augment is; the config records it
        config["adaptive_augment"] = augment
    common = dict(
        image_shape=config["image_shape"], latent_dim=config["latent_dim"], width=config["width"], seed=config["seed"],
        augment=augment, freeze_d=config.get("freeze_d", 0), adaptive_augment=config["adaptive_augment"],
    )
    model = ConditionalGAN(num_classes=config["num_classes"], **common) if config["conditional"] else GAN(**common)
    model.compile(jit_compile=training_options.jit_compile(config))
    return model


def main(argv=None):
    args, given = training_options.parse_args("gan", DEFAULT_EPOCHS, __doc__.splitlines()[0], argv, options=OPTIONS)
    augment_tf.load_tensorflow()  # quietly (its start-up notes muted); the library below imports it anyway
    from augment_tf import training  # TensorFlow only now: --help and argument errors answer without its seconds

    return training.main_for("gan", "generator.keras", build_model, DEFAULT_EPOCHS, args, given, options=OPTIONS)


if __name__ == "__main__":
    cli.run(main)
