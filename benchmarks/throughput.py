"""Training throughput (images/s) of the default ConditionalGAN with and without XLA, at width 32 (default) and 64,
of the default ConditionalVAE, and of the keras.io DCGAN.

    python benchmarks/throughput.py --data-dir ../shared/data/mnist [--steps 200] [--repeats 3] [--defaults-only]

Each model trains on the real MNIST pipeline with `fit`; the first (compiling) epoch is not timed, nor is what
`fit` does before its first and after its last batch (returning from `fit` was seen to stall 2-10 s here).
With --repeats N, each model is timed N times, the models taking turns, and the median is reported.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import augment_tf  # noqa: E402

augment_tf.load_tensorflow()  # first: TensorFlow without the start-up notes keras's import would print
from augment_tf import builders, cli, data  # noqa: E402
from benchmarks import keras_io_dcgan  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

DEFAULTS = {"image_shape": [28, 28, 1], "latent_dim": 64, "width": 32, "seed": 0, "conditional": True, "num_classes": 10}


class BatchClock(keras.callbacks.Callback):
    """Wall time from the start of the first batch to the end of the last one."""

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds = time.perf_counter() - self.start


def timed_epoch(model, batch_size, value_range, steps, data_dir):
    """A function that trains `model` `steps` more steps and returns its images/s (the model compiled first)."""
    x, y = data.load_arrays("mnist", "train", data_dir)
    dataset = data.make_dataset(x, y, batch_size, seed=0, repeat=True, value_range=value_range)
    model.fit(dataset, epochs=1, steps_per_epoch=20, verbose=0)  # trace and compile

    def run():
        clock = BatchClock()
        model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[clock])
        return steps * batch_size / clock.seconds

    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get(data.DATA_DIR_ENV))
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per model (median reported)")
    parser.add_argument("--defaults-only", action="store_true", help="only the default ConditionalGAN and ConditionalVAE")
    args = parser.parse_args(argv)
    runs = {}
    gan_settings = ((32, "off"),) if args.defaults_only else ((32, "off"), (32, "on"), (64, "off"), (64, "on"))
    for width, jit in gan_settings:
        keras.utils.set_random_seed(0)
        model = builders.build_gan({**DEFAULTS, "width": width, "jit_compile": jit})
        runs[(f"augment_tf ConditionalGAN, width {width}, jit_compile={jit}", 128)] = timed_epoch(
            model, 128, model.value_range, args.steps, args.data_dir)
    keras.utils.set_random_seed(0)
    vae = builders.build_vae({**DEFAULTS, "latent_dim": 16, "jit_compile": "off", "beta": 1.0,
                                 "kl_anneal_epochs": 0.0, "learning_rate": 1e-3})
    runs[("augment_tf ConditionalVAE, width 32, jit_compile=off", 128)] = timed_epoch(
        vae, 128, vae.value_range, args.steps, args.data_dir)
    for jit in () if args.defaults_only else (False, True):
        model = keras_io_dcgan.KerasIoGAN()
        model.compile(jit_compile=jit)
        runs[(f"keras.io DCGAN example, jit_compile={jit}", keras_io_dcgan.BATCH_SIZE)] = timed_epoch(
            model, keras_io_dcgan.BATCH_SIZE, keras_io_dcgan.VALUE_RANGE, args.steps, args.data_dir)
    rates = {key: [] for key in runs}
    for _ in range(args.repeats):
        for key, run in runs.items():
            rates[key].append(run())
    print("| model | batch | images/s (median) | each run |\n|---|---|---|---|")
    for (name, batch), values in rates.items():
        print(f"| {name} | {batch} | {np.median(values):.0f} | {', '.join(f'{v:.0f}' for v in values)} |")


if __name__ == "__main__":
    cli.run(main)
