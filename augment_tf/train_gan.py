"""Train a GAN (or, with --conditional, a class-conditional GAN) on MNIST-style images.

    python -m augment_tf.train_gan --conditional --out runs/cgan    # or train_gan.py in a clone
    python -m augment_tf.train_gan --conditional --out runs/cgan --resume      # continue after an interruption
"""

from augment_tf import cli, training
from augment_tf.models import GAN, ConditionalGAN

DEFAULT_EPOCHS = 22  # about 10 minutes on a 2-core CPU (benchmarks/README.md)


def build_model(config):
    """A compiled GAN or ConditionalGAN for a run's config."""
    common = dict(
        image_shape=config["image_shape"], latent_dim=config["latent_dim"], width=config["width"], seed=config["seed"],
        augment=config.get("augment", False),
    )
    model = ConditionalGAN(num_classes=config["num_classes"], **common) if config["conditional"] else GAN(**common)
    model.compile(jit_compile={"on": True, "off": False}.get(config["jit_compile"], "auto"))
    return model


def main(argv=None):
    return training.main_for("gan", "generator.keras", build_model, DEFAULT_EPOCHS, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    cli.run(main)
