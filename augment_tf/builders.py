"""The model a run's config describes, compiled: what train-gan and train-vae build for a new run, rebuild on
`--resume`, and what the benchmarks build to vary one thing."""

import keras

from augment_tf import images, training, training_options
from augment_tf.errors import AugmentError
from augment_tf.models import GAN, VAE, ConditionalGAN, ConditionalVAE, FitLatentPrior, KLAnnealing


def build_gan(config):
    """A compiled GAN or ConditionalGAN for a run's config."""
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


def build_vae(config):
    """A compiled VAE or ConditionalVAE for a run's config."""
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


def vae_callbacks(config):
    """KL annealing and the fitted prior, when the run asks for them."""
    extra = [KLAnnealing(epochs=config["kl_anneal_epochs"])] if config["kl_anneal_epochs"] else []
    if config.get("latent_prior", "fitted") == "fitted":  # in chunks: streamed data never sits in memory
        source = training.training_source(config)
        extra.append(FitLatentPrior(chunks=lambda: ((images.to_unit_range(x), y) for x, y in source.chunks())))
    return extra
