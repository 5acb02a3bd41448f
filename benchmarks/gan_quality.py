"""Time-to-quality of `train_gan.py --conditional` (default settings) beside the keras.io DCGAN, in one run.

    python benchmarks/gan_quality.py --data-dir ../shared/data/mnist --split validation   # to choose: ~45 min
    python benchmarks/gan_quality.py --data-dir ../shared/data/mnist --split test --seed S  # to report, per seed
    python benchmarks/gan_quality.py --data-dir ../shared/data/mnist --split validation --variant lr-2e-4 \
        --marks 10 --reference-minutes 0 --no-real                                      # one default changed
    python benchmarks/gan_quality.py --data-dir ../shared/data/mnist --split validation --variant r1 \
        --at-steps 2747 --reference-minutes 0 --no-real                  # a recorded snapshot again, by its steps
    python benchmarks/gan_quality.py --data-dir ../shared/data/mnist --marks 1 --reference-minutes 1  # smoke

--split validation trains on the training split less 10k held-out images and scores against those;
--split test trains on the whole training split and scores against the test split (common.split_dirs).

Our GAN trains exactly as train_gan.py does (run directory, grids, checkpoints each epoch: all counted in
the wall time); at each mark the averaged generator is snapshotted (snapshot time not counted) and later
scored on 10k balanced samples with augment_tf.metrics (FID, precision/recall, label fidelity, CAS).
The keras.io example is trained for --reference-minutes and scored the same way (unconditional: no
fidelity or CAS). With --split test, 10k real training images the reference classifier never trained on, scored
the same way, give the floor.
"""

import argparse
import json
import os
import shlex
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from augment_tf import builders, cli, data, files, images, sampling, training, training_options  # noqa: E402
from augment_tf.reference import reference_classifier  # noqa: E402
from benchmarks import keras_io_dcgan  # noqa: E402
from benchmarks.gan_variants import VARIANTS  # noqa: E402
from benchmarks.common import WallClockSnapshots, markdown, real_row, score, split_dirs  # noqa: E402


def train_ours(marks, data_dir, work_dir, extra_args=(), build_model=builders.build_gan, unit="minutes"):
    """Runs train_gan.py's own start/fit with default flags (plus `extra_args`) and the snapshot callback (at
    `marks` in `unit`: minutes or steps)."""
    parser = argparse.ArgumentParser()
    training_options.add_arguments(parser, training_options.GAN_EPOCHS)
    argv = ["--conditional", "--epochs", "1000", "--out", work_dir, *extra_args]
    args = parser.parse_args(argv + (["--data-dir", data_dir] if data_dir else []))
    model, config, _ = training.start(args, "gan", "generator.keras", build_model, training_options.GAN_EPOCHS)
    snapshots = WallClockSnapshots(model.ema_generator, marks, config["batch_size"], unit)
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get(data.DATA_DIR_ENV))
    parser.add_argument("--marks", default="2,5,10,20", help="training minutes at which to score our GAN")
    parser.add_argument("--at-steps", help="score our GAN at these step counts instead of --marks, e.g. a recorded "
                        "run's steps at its mark, to re-make its figure whatever the machine's speed")
    parser.add_argument("--reference-minutes", type=float, default=10, help="0 skips the keras.io baseline")
    parser.add_argument("--no-real", action="store_true", help="skip scoring real images (the floor)")
    parser.add_argument("--n", type=int, default=10_000, help="samples scored per snapshot")
    parser.add_argument("--train-args", default="", help="extra train_gan.py flags for experiments, e.g. '--width 48'")
    parser.add_argument("--variant", choices=list(VARIANTS), default="defaults",
                        help="train our GAN with one default changed (gan_variants.py), to re-make a choice")
    parser.add_argument("--split", choices=["validation", "test"], default="test",
                        help="validation: choose on held-out training images; test: report the final choice")
    parser.add_argument("--seed", type=int, default=0, help="our GAN's --seed (data order, noise)")
    parser.add_argument("--out", default="benchmarks/results/gan_quality.json")
    args = parser.parse_args(argv)
    marks = [int(m) for m in args.at_steps.split(",")] if args.at_steps else [float(m) for m in args.marks.split(",")]
    with tempfile.TemporaryDirectory() as work_dir:
        train_dir, score_dir, held_out = split_dirs(args.data_dir, args.split, os.path.join(work_dir, "data"))
        reference_classifier("mnist", score_dir)  # train/cache it before any clock starts
        rows = [] if args.no_real or held_out is None else [real_row(held_out, score_dir, args.n)]

        train_args = ["--seed", str(args.seed), *shlex.split(args.train_args)]
        model, config, snapshots = train_ours(marks, train_dir, os.path.join(work_dir, "run"), train_args,
                                              VARIANTS[args.variant], "steps" if args.at_steps else "minutes")
        labels = sampling.balanced_labels(args.n, range(config["num_classes"]))
        for snap in snapshots:
            model.ema_generator.set_weights(snap.pop("weights"))
            x = sampling.sample(model.ema_generator, config, labels=labels, seed=1)
            png = args.out.replace(".json", f"_ours_{snap['minutes']:g}min.png")
            files.write_png(png, sampling.preview(x, labels))
            rows.append({"model": f"augment_tf ConditionalGAN ({args.variant})", **snap,
                         **score(x, labels, score_dir, args.n, True)})
            print(json.dumps(rows[-1]), flush=True)

        reference, ref_snaps = train_reference(args.reference_minutes, train_dir) if args.reference_minutes else (None, [])
        for snap in ref_snaps:
            reference.generator.set_weights(snap.pop("weights"))
            z = np.random.default_rng(1).standard_normal((args.n, keras_io_dcgan.LATENT_DIM)).astype("float32")
            x = reference.generator.predict(z, batch_size=1000, verbose=0)
            x = images.from_model_range(x, keras_io_dcgan.VALUE_RANGE)
            files.write_png(args.out.replace(".json", "_keras_io.png"), sampling.preview(x, None))
            rows.append({"model": "keras.io DCGAN example", **snap, **score(x, None, score_dir, args.n, False)})
            print(json.dumps(rows[-1]), flush=True)

    files.write_json(args.out, {"rows": rows, "split": args.split, "seed": args.seed, "variant": args.variant,
                                "command": " ".join(sys.argv)})
    print(markdown(rows))


if __name__ == "__main__":
    cli.run(main)
