"""Training throughput (images/s) of the default ConditionalGAN with and without XLA, at width 32 (default) and 64,
and of the keras.io DCGAN.

    python benchmarks/throughput.py --data-dir ../shared/data/mnist [--steps 200]

Each model trains on the real MNIST pipeline with `fit`; the first (compiling) epoch is not timed, nor is what
`fit` does before its first and after its last batch (returning from `fit` was seen to stall 2-10 s here).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402

from augment_tf import train_gan  # noqa: E402
from augment_tf import data  # noqa: E402
from benchmarks import keras_io_dcgan  # noqa: E402

DEFAULTS = {"image_shape": [28, 28, 1], "latent_dim": 64, "width": 32, "seed": 0, "conditional": True, "num_classes": 10}


class BatchClock(keras.callbacks.Callback):
    """Wall time from the start of the first batch to the end of the last one."""

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds = time.perf_counter() - self.start


def images_per_second(model, batch_size, value_range, steps, data_dir):
    x, y = data.load_arrays("mnist", "train", data_dir)
    dataset = data.make_dataset(x, y, batch_size, seed=0, repeat=True, value_range=value_range)
    model.fit(dataset, epochs=1, steps_per_epoch=20, verbose=0)  # trace and compile
    clock = BatchClock()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[clock])
    return steps * batch_size / clock.seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get(data.DATA_DIR_ENV))
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    rows = []
    for width, jit in ((32, "off"), (32, "on"), (64, "off"), (64, "on")):
        keras.utils.set_random_seed(0)
        model = train_gan.build_model({**DEFAULTS, "width": width, "jit_compile": jit})
        rows.append((f"augment_tf ConditionalGAN, width {width}, jit_compile={jit}", 128,
                     images_per_second(model, 128, model.value_range, args.steps, args.data_dir)))
    for jit in (False, True):
        model = keras_io_dcgan.KerasIoGAN()
        model.compile(jit_compile=jit)
        rows.append((f"keras.io DCGAN example, jit_compile={jit}", keras_io_dcgan.BATCH_SIZE,
                     images_per_second(model, keras_io_dcgan.BATCH_SIZE, keras_io_dcgan.VALUE_RANGE, args.steps, args.data_dir)))
    print("| model | batch | images/s |\n|---|---|---|")
    for name, batch, rate in rows:
        print(f"| {name} | {batch} | {rate:.0f} |")


if __name__ == "__main__":
    main()
