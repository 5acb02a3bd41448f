"""Alternatives to the GAN's defaults, one change each, so that `gan_quality.py --variant` can re-make a choice.

Each variant builds the model `builders.build_gan` would build, with one thing changed (through the models'
hooks, docs/training.md); `defaults` changes nothing. They exist to choose defaults on the validation split, not
for users. Run as a script, it trains one variant a fixed number of steps and saves its variables, so that two
versions of a variant's code compare step for step from one seed:

    python benchmarks/gan_variants.py --data-dir ../shared/data/mnist --variant r1 --steps 200 --out r1.npz
    python benchmarks/gan_variants.py --compare r1.npz r1_other_version.npz
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from augment_tf import builders, cli, data, training, training_options  # noqa: E402
from augment_tf.models import ConditionalGAN  # noqa: E402
from augment_tf.models.gan import LEARNING_RATE  # noqa: E402
from benchmarks.common import split_dirs  # noqa: E402


@keras.saving.register_keras_serializable(package="augment_tf_benchmarks")
class AlternatingConditionalGAN(ConditionalGAN):
    """The DCGAN update the defaults replaced: a discriminator step, then a generator step on fresh noise."""

    alternating = True


@keras.saving.register_keras_serializable(package="augment_tf_benchmarks")
class ModeSeekingConditionalGAN(ConditionalGAN):
    """The defaults plus MSGAN's mode-seeking term (Mao et al. 2019): the generated batch's second half repeats the
    first half's labels with other noise, and the generator is pushed to make each pair differ as much as their
    noise does (`mode_seeking` weights 1 / (mean |G(z1) - G(z2)| / mean |z1 - z2|)). No extra network pass."""

    mode_seeking = 1.0

    def generated_labels(self, labels):
        half = ops.shape(labels)[0] // 2
        return ops.concatenate([labels[:half], labels[:half], labels[2 * half:]], axis=0)

    def extra_generator_loss(self, step):
        half = ops.shape(step.fake)[0] // 2
        spread = (ops.mean(ops.abs(step.fake[:half] - step.fake[half:2 * half]))
                  / ops.mean(ops.abs(step.z[:half] - step.z[half:2 * half])))
        return self.mode_seeking / (spread + 1e-5)


@keras.saving.register_keras_serializable(package="augment_tf_benchmarks")
class R1ConditionalGAN(ConditionalGAN):
    """The defaults plus an R1 penalty (Mescheder et al. 2018): the discriminator also pays `r1_gamma` / 2 times the
    squared gradient of its logits at the real images, which keeps it smooth where the data is."""

    r1_gamma = 1.0

    def extra_discriminator_loss(self, step):
        slope = step.input_tape.gradient(step.real_logits, step.real_views)
        return 0.5 * self.r1_gamma * ops.mean(ops.sum(ops.square(slope), axis=(1, 2, 3)))


def _with_adam(learning_rate, beta_1, beta_2):
    """The default model with both networks on Adam(learning_rate, beta_1, beta_2)."""
    def build(config):
        model = builders.build_gan(config)
        model.compile(
            d_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2),
            g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2),
            jit_compile=model.jit_compile,
        )
        return model

    return build


def _rebuilt(model_class=ConditionalGAN, **changes):
    """The default model's config with `changes`, as `model_class`, compiled like the default."""
    def build(config):
        default = builders.build_gan(config)
        model = model_class.from_config({**default.get_config(), **changes})
        model.compile(jit_compile=default.jit_compile)
        return model

    return build


VARIANTS = {
    "defaults": builders.build_gan,
    "alternating": _rebuilt(AlternatingConditionalGAN),  # update scheme
    "adam-beta1-0.5": _with_adam(LEARNING_RATE, 0.5, 0.999),  # the DCGAN recipe's betas
    "lr-2e-4": _with_adam(2e-4, 0.0, 0.99),  # the default before the validation split chose 4e-4
    "no-minibatch-std": _rebuilt(minibatch_std=False),
    "mode-seeking": _rebuilt(ModeSeekingConditionalGAN),  # issue 38: variety within a class
    "r1": _rebuilt(R1ConditionalGAN),
}


def train_steps(variant, steps, data_dir, seed=0):
    """(model, {"d_loss": [...], "g_loss": [...]}) after `steps` steps of `variant` from `seed` on `data_dir`'s
    training images, started and fitted as gan_quality.py does (default flags); the losses as logged per step."""
    parser = argparse.ArgumentParser()
    training_options.add_arguments(parser, training_options.GAN_EPOCHS)
    with tempfile.TemporaryDirectory() as work_dir:
        args = parser.parse_args(["--conditional", "--steps", str(steps), "--seed", str(seed), "--out", work_dir,
                                  "--data-dir", data_dir])
        model, config, _ = training.start(args, "gan", "generator.keras", VARIANTS[variant], training_options.GAN_EPOCHS)
        losses = {"d_loss": [], "g_loss": []}
        record = lambda batch, logs: [losses[k].append(float(logs[k])) for k in losses]
        training.fit(model, config, extra_callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=record)],
                     verbose=0)
    return model, losses


def difference(first, second):
    """How far apart two files `main` wrote are: arrays compared, arrays identical, the largest difference."""
    a, b = np.load(first), np.load(second)
    if sorted(a.files) != sorted(b.files):
        raise ValueError(f"{first} and {second} hold different arrays")
    gaps = {k: float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)), initial=0.0)) for k in a.files}
    worst = max(gaps, key=gaps.get)
    return {"arrays": len(gaps), "identical": sum(gap == 0.0 for gap in gaps.values()), "largest": gaps[worst],
            "where": worst}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train one variant a fixed number of steps and save its variables.")
    parser.add_argument("--data-dir", default=os.environ.get(data.DATA_DIR_ENV))
    parser.add_argument("--split", choices=["validation", "test"], default="validation",
                        help="whose training images (common.split_dirs), as gan_quality.py --split")
    parser.add_argument("--seed", type=int, default=0, help="the run's --seed (data order, noise)")
    parser.add_argument("--variant", choices=list(VARIANTS), default="defaults")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", help="the .npz to write: every variable of the model and the per-step losses")
    parser.add_argument("--compare", nargs=2, metavar="NPZ", help="instead: how far apart two such files are")
    args = parser.parse_args(argv)
    if args.compare:
        print(difference(*args.compare))
        return
    if not args.out:
        parser.error("--out is needed (or --compare)")
    with tempfile.TemporaryDirectory() as work_dir:
        train_dir, _, _ = split_dirs(args.data_dir, args.split, os.path.join(work_dir, "data"))
        begin = time.perf_counter()
        model, losses = train_steps(args.variant, args.steps, train_dir, args.seed)
        seconds = time.perf_counter() - begin
    np.savez(args.out, **{v.path: np.asarray(v.numpy()) for v in model.variables},
             **{f"log/{k}": np.asarray(v) for k, v in losses.items()})
    print(f"{args.variant}: {len(losses['d_loss'])} steps in {seconds:.0f} s; last d_loss {losses['d_loss'][-1]:.6f}, "
          f"g_loss {losses['g_loss'][-1]:.6f} -> {args.out}")


if __name__ == "__main__":
    cli.run(main)
