"""Train a GAN (or, with --conditional, a class-conditional GAN) on MNIST-style images.

    python -m augment_tf.train_gan --conditional --out runs/cgan    # or train_gan.py in a clone
    python -m augment_tf.train_gan --conditional --out runs/cgan --resume      # continue after an interruption
"""

import argparse

import augment_tf
from augment_tf import cli, training_options

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


def main(argv=None):
    args, given = training_options.parse_args("gan", training_options.GAN_EPOCHS, __doc__.splitlines()[0], argv,
                                              options=OPTIONS)
    augment_tf.load_tensorflow()  # quietly (its start-up notes muted); the library below imports it anyway
    from augment_tf import builders, training  # TensorFlow only now: --help and argument errors answer without it

    return training.main_for("gan", "generator.keras", builders.build_gan, training_options.GAN_EPOCHS, args, given,
                             options=OPTIONS)


if __name__ == "__main__":
    cli.run(main)
