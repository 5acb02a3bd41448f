"""Time-to-quality of `train_gan.py --conditional` (default settings) beside the keras.io DCGAN, in one run.

    python benchmarks/gan_quality.py --data-dir ../shared/data/mnist            # ~45 min on 2 CPU cores
    python benchmarks/gan_quality.py --data-dir ../shared/data/mnist --marks 1 --reference-minutes 1  # smoke

Our GAN trains exactly as train_gan.py does (run directory, grids, checkpoints each epoch: all counted in
the wall time); at each mark the averaged generator is snapshotted (snapshot time not counted) and later
scored on 10k balanced samples with augment_tf.evaluate (FID, precision/recall, label fidelity, CAS).
The keras.io example is trained for --reference-minutes and scored the same way (unconditional: no
fidelity or CAS). Real training images scored the same way give the floor.
"""

import argparse
import json
import os
import shlex
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from augment_tf import train_gan  # noqa: E402
from augment_tf import data, evaluate, files, generate, images, training  # noqa: E402
from benchmarks import keras_io_dcgan  # noqa: E402
from benchmarks.common import WallClockSnapshots, markdown, real_row, score  # noqa: E402


def train_ours(marks, data_dir, work_dir, extra_args=()):
    """Runs train_gan.py's own start/fit with default flags (plus `extra_args`) and the snapshot callback."""
    parser = argparse.ArgumentParser()
    training.add_arguments(parser, train_gan.DEFAULT_EPOCHS)
    argv = ["--conditional", "--epochs", "1000", "--out", work_dir, *extra_args]
    args = parser.parse_args(argv + (["--data-dir", data_dir] if data_dir else []))
    model, config, _ = training.start(args, "gan", "generator.keras", train_gan.build_model, train_gan.DEFAULT_EPOCHS)
    snapshots = WallClockSnapshots(model.ema_generator, marks, config["batch_size"])
    training.fit(model, config, extra_callbacks=[snapshots], verbose=0)
    return model, config, snapshots.snapshots


def train_reference(minutes, data_dir):
    x, y = data.load_arrays("mnist", "train", data_dir)
    dataset = data.make_dataset(x, y, keras_io_dcgan.BATCH_SIZE, seed=0, repeat=True, value_range=keras_io_dcgan.VALUE_RANGE)
    model = keras_io_dcgan.KerasIoGAN()
    model.compile()
    snapshots = WallClockSnapshots(model.generator, [minutes], keras_io_dcgan.BATCH_SIZE)
    model.fit(dataset, epochs=10_000, steps_per_epoch=100, callbacks=[snapshots], verbose=0)
    return model, snapshots.snapshots


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get(data.DATA_DIR_ENV))
    parser.add_argument("--marks", default="2,5,10,20", help="training minutes at which to score our GAN")
    parser.add_argument("--reference-minutes", type=float, default=10, help="0 skips the keras.io baseline")
    parser.add_argument("--no-real", action="store_true", help="skip scoring real images (the floor)")
    parser.add_argument("--n", type=int, default=10_000, help="samples scored per snapshot")
    parser.add_argument("--train-args", default="", help="extra train_gan.py flags for experiments, e.g. '--width 48'")
    parser.add_argument("--out", default="benchmarks/results/gan_quality.json")
    args = parser.parse_args()
    marks = [float(m) for m in args.marks.split(",")]
    evaluate.reference_classifier("mnist", args.data_dir)  # train/cache it before any clock starts

    rows = [] if args.no_real else [real_row(args.data_dir, args.n)]

    with tempfile.TemporaryDirectory() as work_dir:
        model, config, snapshots = train_ours(marks, args.data_dir, os.path.join(work_dir, "run"), shlex.split(args.train_args))
    labels = generate.balanced_labels(args.n, range(config["num_classes"]))
    for snap in snapshots:
        model.ema_generator.set_weights(snap.pop("weights"))
        x = generate.sample(model.ema_generator, config, labels=labels, seed=1)
        files.write_png(args.out.replace(".json", f"_ours_{snap['minutes']:g}min.png"), generate.preview(x, labels))
        rows.append({"model": "augment_tf ConditionalGAN (defaults)", **snap, **score(x, labels, args.data_dir, args.n, True)})
        print(json.dumps(rows[-1]), flush=True)

    reference, ref_snaps = train_reference(args.reference_minutes, args.data_dir) if args.reference_minutes else (None, [])
    for snap in ref_snaps:
        reference.generator.set_weights(snap.pop("weights"))
        z = np.random.default_rng(1).standard_normal((args.n, keras_io_dcgan.LATENT_DIM)).astype("float32")
        x = images.from_model_range(reference.generator.predict(z, batch_size=1000, verbose=0), keras_io_dcgan.VALUE_RANGE)
        files.write_png(args.out.replace(".json", "_keras_io.png"), generate.preview(x, None))
        rows.append({"model": "keras.io DCGAN example", **snap, **score(x, None, args.data_dir, args.n, False)})
        print(json.dumps(rows[-1]), flush=True)

    files.write_json(args.out, {"rows": rows, "command": " ".join(sys.argv)})
    print(markdown(rows))


if __name__ == "__main__":
    main()
