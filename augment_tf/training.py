"""Training inside a run directory, shared by train_gan.py and train_vae.py.

`main_for` is the whole command: every argument checked before any work, the run folder claimed for the run's
life, then one `fit` call with callbacks for the side effects: per-epoch sample grids, TensorBoard logs, checkpoints
that `--resume` continues from (same data order, same noise), and a stop on NaN that keeps the last good checkpoint.
"""

import argparse
import datetime
import math
import os
import sys

import keras
import numpy as np
import tensorflow as tf

from augment_tf import cli, data, distribute, files, images, pseudo_labels, runs, shards, sources
from augment_tf.errors import AugmentError, DataError
from augment_tf.models import networks
from augment_tf.models.base import resolve_jit_compile, transfer_weights

BATCH_SIZE = 128  # the default batch, on data of BATCH_SIZE * BATCHES_PER_EPOCH images or more
BATCHES_PER_EPOCH = 8  # smaller sets get a default batch of n / 8 (at least MIN_BATCH_SIZE)
MIN_BATCH_SIZE = 16
MIN_STEPS = 3000  # default runs train at least this many steps (full MNIST at batch 128: 468 a pass)
MIN_EPOCH_STEPS = 100  # a step budget is cut into epochs of at least this many steps (grids, checkpoints)
SMALL_DATA = 2048  # below this many images --augment is on by default (measured up to 2000: benchmarks/README.md)


def add_arguments(parser, default_epochs, default_latent_dim=64, default_width=32):
    """The flags both training scripts share."""
    parser.add_argument("--conditional", action="store_true", help="train the class-conditional model")
    parser.add_argument("--dataset", default="mnist", help="TensorFlow Datasets name (default: mnist)")
    parser.add_argument(
        "--data-dir",
        help=f"local data instead of tfds: a folder of MNIST IDX files, an .npz with x, y, or a sharded folder "
        f"(python -m augment_tf.shard) (default: ${data.DATA_DIR_ENV} if set)",
    )
    parser.add_argument(
        "--stream", choices=sources.STREAM_CHOICES, default="auto",
        help=f"read a sharded --data-dir as a stream (on), into memory (off), or stream it where its images pass "
        f"{sources.IN_MEMORY_BYTES // 2**30} GB (auto, the default)",
    )
    parser.add_argument(
        "--shuffle-buffer", type=int, default=shards.SHUFFLE_BUFFER,
        help=f"streamed data: images shuffled together, beside the shards' order (default {shards.SHUFFLE_BUFFER})",
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument(
        "--epochs", type=int,
        help=f"passes over the data (default {default_epochs}, or {MIN_STEPS} steps where that is longer)",
    )
    length.add_argument("--steps", type=int, help="optimizer steps instead of epochs, whatever the data size")
    parser.add_argument(
        "--batch-size", type=int, default=None,
        help=f"default {BATCH_SIZE}, or n/{BATCHES_PER_EPOCH} (at least {MIN_BATCH_SIZE}) on n < "
        f"{BATCH_SIZE * BATCHES_PER_EPOCH} images, so that an epoch has several batches",
    )
    parser.add_argument("--latent-dim", type=int, help=f"default {default_latent_dim}, or the --init-from run's")
    parser.add_argument(
        "--width", type=int,
        help=f"channels of the first conv layer (default {default_width}, or the --init-from run's)",
    )
    parser.set_defaults(network_defaults={"latent_dim": default_latent_dim, "width": default_width})
    parser.add_argument(
        "--augment", action=argparse.BooleanOptionalAction, default=None,
        help=f"train on random shifts, rotations and zooms of the images (default: on for fewer than {SMALL_DATA} "
        "images, where it made the samples help a classifier more)",
    )
    parser.add_argument(
        "--unlabeled", metavar="PATH",
        help="--conditional: unlabelled images to learn from too (an .npz with x, an MNIST IDX images file, or a "
        "folder with train-images-idx3-ubyte[.gz]); rows labelled -1 in --data-dir count as unlabelled as well",
    )
    parser.add_argument(
        "--classifier-steps", type=int,
        help=f"steps of the classifier that labels unlabelled images (default {pseudo_labels.STEPS})",
    )
    parser.add_argument(
        "--init-from", metavar="RUN",
        help="start from the networks of another run of this model (e.g. trained on a larger, related data set) and "
        "fine-tune them; labels are the same classes as in RUN, a class RUN never had gets a new label embedding",
    )
    parser.add_argument("--seed", type=int, default=0, help="same seed, same data order and samples")
    parser.add_argument("--out", help="run directory (default: runs/<model>-<time>)")
    parser.add_argument("--jit-compile", choices=["auto", "on", "off"], default="auto", help="XLA (auto: GPU only)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    distribute.add_arguments(parser)


def check_arguments(args):
    for name in ("epochs", "steps", "batch_size", "latent_dim", "width", "classifier_steps", "shuffle_buffer"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise AugmentError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    if args.resume and not args.out:
        raise AugmentError("--resume needs --out RUN_DIR, the run to continue")
    if args.resume and args.init_from:
        raise AugmentError("--init-from starts a new run; a resumed run continues from its own checkpoint: drop it")
    if args.unlabeled and not args.conditional:
        raise AugmentError("--unlabeled is for --conditional runs; an unconditional model needs no labels: "
                           "train it on all the images with --data-dir")
    distribute.check_arguments(args)


def schedule(n_examples, batch_size, epochs=None, steps=None, steps_per_pass=None):
    """(epochs, steps_per_epoch): whole passes over the data, or at least `steps` steps split into epochs.

    A step budget on small data makes each epoch several passes (MIN_EPOCH_STEPS steps), so that grids
    and checkpoints come every few seconds rather than every step. `steps_per_pass` defaults to whole batches of
    `n_examples` (streamed data may give fewer: each worker's shards make whole batches of their own).
    """
    steps_per_epoch = steps_per_pass or max(1, n_examples // batch_size)
    if steps is None:
        return epochs, steps_per_epoch
    epochs = math.ceil(steps / max(steps_per_epoch, min(steps, MIN_EPOCH_STEPS)))
    return epochs, math.ceil(steps / epochs)


def default_batch_size(n_examples, replicas=1):
    """BATCH_SIZE, or n / BATCHES_PER_EPOCH (at least MIN_BATCH_SIZE, at most n) on small data: several batches
    per pass rather than one batch of everything; rounded down to a multiple of `replicas` (at least one each)."""
    batch = min(BATCH_SIZE, n_examples, max(MIN_BATCH_SIZE, n_examples // BATCHES_PER_EPOCH))
    return max(replicas, batch - batch % replicas)


def default_length(n_examples, batch_size, default_epochs):
    """(epochs, steps) when neither is given: `default_epochs`, or MIN_STEPS steps where that is longer."""
    _, steps_per_epoch = schedule(n_examples, batch_size)
    return (default_epochs, None) if default_epochs * steps_per_epoch >= MIN_STEPS else (None, MIN_STEPS)


def _finite(logs):
    return all(np.isfinite(float(v)) for v in (logs or {}).values())


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and remembers where, so the run can say so."""

    def __init__(self):
        super().__init__()
        self.diverged_at = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.diverged_at is None and not _finite(logs):
            self.diverged_at = f"epoch {self.epoch + 1}, step {batch + 1} ({logs})"
            self.model.stop_training = True


class SampleGrid(keras.callbacks.Callback):
    """Writes samples/epoch_NNN.png (fixed latent vectors; one row per class) and logs it to TensorBoard.

    Given `real` (uint8 images, labels) and a model that can `reconstruct`, also writes
    samples/recon_epoch_NNN.png: the real images above their reconstructions.
    """

    def __init__(self, run_dir, seed, columns=10, real=None):
        super().__init__()
        self.run_dir, self.seed, self.columns, self.real = run_dir, seed, columns, real
        self.writer = tf.summary.create_file_writer(os.path.join(run_dir, "logs", "samples"))

    def on_epoch_end(self, epoch, logs=None):
        if not _finite(logs):
            return
        self._write("samples", f"epoch_{epoch + 1:03d}.png", sample_grid(self.model, self.seed, self.columns), epoch)
        if self.real is not None and hasattr(self.model, "reconstruct"):
            grid = reconstruction_grid(self.model, *self.real)
            self._write("reconstructions", f"recon_epoch_{epoch + 1:03d}.png", grid, epoch)
        self.writer.flush()

    def _write(self, tag, name, grid, epoch):
        files.write_png(os.path.join(self.run_dir, "samples", name), grid)
        with self.writer.as_default():
            tf.summary.image(tag, grid[None], step=epoch + 1)


def sample_grid(model, seed, columns=10):
    """uint8 grid from fixed latent vectors: rows are classes for a conditional model (same noise down a column)."""
    rng = np.random.default_rng(seed)
    if model.num_classes:
        rows, labels = model.num_classes, np.repeat(np.arange(model.num_classes), columns)
        z = np.tile(rng.standard_normal((columns, model.latent_dim)), (rows, 1))
    else:
        rows, labels = columns, None
        z = rng.standard_normal((rows * columns, model.latent_dim))
    z = z.astype("float32")
    return images.grid(images.from_model_range(model.generate(z, labels), model.value_range), rows)


def reconstruction_grid(model, x, y=None):
    """uint8 grid: real uint8 images in the top row, the model's reconstructions of them below."""
    labels = y if model.num_classes else None
    reconstructed = model.reconstruct(images.to_model_range(x, model.value_range), labels)
    return images.grid(np.concatenate([x, images.from_model_range(reconstructed, model.value_range)]), rows=2)


class Checkpoint(keras.callbacks.Callback):
    """Saves the full model (optimizer state included) after each finite epoch, then records the epoch."""

    def __init__(self, run_dir):
        super().__init__()
        self.run_dir = run_dir

    def on_epoch_end(self, epoch, logs=None):
        if not _finite(logs):
            return
        files.save_model(self.model, runs.path(self.run_dir, runs.CHECKPOINT))
        files.write_json(runs.path(self.run_dir, runs.STATE), {"epoch": epoch + 1})


# settings a resumed run takes from the command line: how long and where it trains; every other flag must match
RESUME_FLAGS = {"out", "resume", "epochs", "steps", "strategy", "replicas", "jit_compile"}


def start(args, model_name, sampler, build_model, default_epochs, options=(), strategy=None, given=()):
    """Returns (model, config, initial_epoch) for a new run or one resumed from its checkpoint; call it in the
    scope of `strategy` (default: one device), which builds or loads the model.

    `options` names the script's own flags (see `main_for`), recorded in the config like the shared ones. `given`
    names the flags the command line set (`given_flags`): a resumed run applies those of RESUME_FLAGS and refuses
    any other that differs from its saved settings.
    """
    check_arguments(args)
    strategy = strategy or tf.distribute.get_strategy()
    run_dir = args.out or default_run_dir(args, model_name)
    if args.resume:
        return _resumed(args, run_dir, strategy, given)
    if runs.completed_epochs(run_dir) or os.path.exists(runs.path(run_dir, runs.CONFIG)):
        raise AugmentError(f"{run_dir} already holds a run: pass --resume to continue it, or another --out")
    origin, origin_model = _origin(args, model_name) if args.init_from else ({}, None)
    source, how = _training_data(args, origin)
    config = new_config(args, run_dir, sampler, source, origin, options, strategy, default_epochs)
    distribute.set_precision(config["precision"])  # the labelling classifier and the model compute in it
    keras.utils.set_random_seed(args.seed)
    model = build_model(config)  # refuses bad settings before the labelling classifier trains for minutes
    if origin_model is not None:
        transfer_weights(origin_model, model)
    if config["classifier_steps"]:  # before config.json, so an interrupted labelling leaves no run: start it again
        os.makedirs(run_dir, exist_ok=True)
        pseudo_labels.label_source(run_dir, source, config["num_classes"], steps=config["classifier_steps"],
                                   seed=args.seed)
    config.update(model=type(model).__name__, value_range=list(model.value_range))
    os.makedirs(run_dir, exist_ok=True)
    runs.write_config(run_dir, config)
    if how:
        print(how, file=sys.stderr)
    return model, config, 0


def default_run_dir(args, model_name):
    """runs/<model>-<time>, e.g. runs/cgan-20260101-120000, where --out is not given."""
    prefix = ("c" if args.conditional else "") + model_name
    return os.path.join("runs", f"{prefix}-{datetime.datetime.now():%Y%m%d-%H%M%S}")


def _resumed(args, run_dir, strategy, given):
    """(model, config, epochs done) of the run in `run_dir`, with the flags a resumed run takes applied."""
    config = runs.read_json(run_dir, runs.CONFIG)
    done = runs.completed_epochs(run_dir)
    if done == 0:
        raise AugmentError(f"{run_dir}: no checkpoint to resume from; start it again without --resume")
    for name in sorted(set(given) - RESUME_FLAGS):
        value, saved = getattr(args, name), config.get(name)
        if not _same_setting(value, saved):
            flag = "--" + name.replace("_", "-")
            raise AugmentError(f"{flag} {_shown(value)}: {run_dir} trains with {flag} {_shown(saved)} and a resumed run "
                               f"keeps its settings; drop {flag}, or start a new run in another --out")
    if args.epochs or args.steps:
        config.update(epochs_requested=args.epochs, steps_requested=args.steps)
    if "jit_compile" in given:
        config["jit_compile"] = args.jit_compile
    config.update(_placement(args, config["batch_size"], strategy))
    distribute.set_precision(config.get("precision"))
    model = runs.load_model(runs.path(run_dir, runs.CHECKPOINT))
    model.jit_compile = resolve_jit_compile(jit_compile(config))
    return model, config, done


def _same_setting(value, saved):
    """A flag's value against the run's saved one; paths compare as absolute paths."""
    if isinstance(value, str) and isinstance(saved, str) and value != saved:
        return os.path.abspath(os.path.expanduser(value)) == os.path.abspath(os.path.expanduser(saved))
    return value == saved


def _shown(value):
    """A flag's value as a message shows it: on / off for a switch."""
    return {True: "on", False: "off", None: "unset"}.get(value, value) if isinstance(value, (bool, type(None))) else value


def _training_data(args, origin):
    """(source, how it is read) of a new run (`_source`), checked against the --init-from run."""
    source, how = _source(args.dataset, args.data_dir or os.environ.get(data.DATA_DIR_ENV) or None, args.stream,
                          args.unlabeled, args.conditional)
    shape = source.image_shape
    if origin and list(shape) != origin["image_shape"]:
        raise DataError(f"{source.name}: images are {'x'.join(map(str, shape))} (HxWxC) but {args.init_from} "
                        f"trained on {'x'.join(map(str, origin['image_shape']))}; --init-from needs a run on images "
                        "of this shape")
    if shape[-1] not in (1, 3, 4):
        raise AugmentError(f"{source.name}: images have {shape[-1]} channels; sample grids need 1 (grayscale), 3 "
                           "(RGB) or 4 (RGBA)")
    return source, how


def _source(dataset, data_dir, stream, unlabeled, conditional):
    """(source, whether it streams: a line for the user, or None) of a run's data (`sources.open_source`) with its
    --unlabeled images, which join data held in memory (a streamed folder holds its unlabelled images itself)."""
    source, how = sources.open_source(dataset, "train", data_dir, stream)
    if source.streamed and unlabeled:
        raise DataError(f"--unlabeled {unlabeled}: {source.name} is streamed, and --unlabeled images join data held in "
                        "memory; write them into the shards labelled -1 instead (python -m augment_tf.shard)")
    if unlabeled:
        source = sources.Arrays(*_with_unlabeled((source.x, source.y), unlabeled), source.name)
    return source, how


def new_config(args, run_dir, sampler, source, origin, options, strategy, default_epochs):
    """The settings a new run records in config.json: its flags, with every default resolved for its data."""
    # refuses a class without images, unless the --init-from run learned it
    known = origin.get("num_classes") or 0
    num_classes = data.classes_of(source.class_counts, source.name, known) if args.conditional else None
    n, n_unlabeled = source.images, source.unlabeled
    batch_size = min(args.batch_size, n) if args.batch_size else default_batch_size(n, strategy.num_replicas_in_sync)
    epochs, steps = (args.epochs, args.steps) if args.epochs or args.steps else default_length(
        n, batch_size, default_epochs
    )
    classifier_steps = (args.classifier_steps or pseudo_labels.STEPS) if args.conditional and n_unlabeled else None
    if args.classifier_steps and not classifier_steps:
        raise AugmentError("--classifier-steps applies to --conditional runs with unlabelled images only")
    if classifier_steps and min(source.image_shape[:2]) < networks.MIN_CLASSIFIER_SIZE:
        raise DataError(f"{source.name}: images of {source.image_shape[0]}x{source.image_shape[1]} pixels are too small "
                        f"for the classifier that labels unlabelled images (at least {networks.MIN_CLASSIFIER_SIZE} a "
                        "side): label them all")
    return {
        "sampler": sampler,
        "run_dir": run_dir,
        "conditional": args.conditional,
        "dataset": args.dataset,
        "data_dir": args.data_dir or os.environ.get(data.DATA_DIR_ENV) or None,
        "epochs_requested": epochs,
        "steps_requested": steps,
        "batch_size": batch_size,
        **_network_sizes(args, origin),
        "augment": args.augment if args.augment is not None else n < SMALL_DATA,
        "seed": args.seed,
        "jit_compile": args.jit_compile,
        **_placement(args, batch_size, strategy),
        "precision": args.precision or "float32",
        "image_shape": list(source.image_shape),
        "num_classes": num_classes,
        "n_train": n,
        "n_labeled": n - n_unlabeled,
        "n_unlabeled": n_unlabeled,
        "unlabeled": args.unlabeled,
        "classifier_steps": classifier_steps,
        "stream": args.stream,
        "streamed": source.streamed,
        "shuffle_buffer": args.shuffle_buffer,
        "init_from": {key: origin[key] for key in ("run_dir", "model", "num_classes", "epochs")} if origin else None,
        **{name: getattr(args, name) for name in options},
    }


def jit_compile(config):
    """A run's --jit-compile as `compile` takes it: True, False or "auto" (XLA on GPU only)."""
    return {"on": True, "off": False}.get(config["jit_compile"], "auto")


def _origin(args, model_name):
    """(config, model) of the --init-from run, which must be of the model this run trains and have a checkpoint."""
    run = args.init_from
    config = runs.read_json(run, runs.CONFIG)
    wanted = ("Conditional" if args.conditional else "") + model_name.upper()
    if config.get("model") != wanted:
        raise AugmentError(f"{run} is a {config.get('model')} run; this run trains a {wanted}, so --init-from needs a "
                           f"{wanted} run")
    epochs = runs.completed_epochs(run)
    if not epochs:
        raise AugmentError(f"{run}: no checkpoint yet; let that run finish an epoch, or start without --init-from")
    return {**config, "run_dir": run, "epochs": epochs}, runs.load_model(runs.path(run, runs.CHECKPOINT))


def _network_sizes(args, origin):
    """latent_dim and width: the flags, else the --init-from run's (whose networks must fit), else the defaults."""
    sizes = {}
    for name, default in args.network_defaults.items():
        value = getattr(args, name)
        if origin and value not in (None, origin[name]):
            raise AugmentError(f"--{name.replace('_', '-')} {value}: {args.init_from} has {origin[name]}, and "
                               "--init-from keeps its networks; drop the flag")
        sizes[name] = value or origin.get(name) or default
    return sizes


def _placement(args, batch_size, strategy):
    """The config entries that say where a run trains; the global batch must split over the replicas."""
    distribute.check_batch(batch_size, strategy)
    replicas = strategy.num_replicas_in_sync
    return {"strategy": args.strategy, "replicas": replicas, "per_replica_batch": batch_size // replicas}


def _with_unlabeled(arrays, unlabeled):
    """(x, y) of the run's data followed by the images at `unlabeled` (labelled UNLABELED), if any."""
    x, y = arrays
    if not unlabeled:
        return x, y
    x_more, y_more = data.load_images(unlabeled)
    if x_more.shape[1:] != x.shape[1:]:
        raise DataError(f"{unlabeled}: unlabelled images are {'x'.join(map(str, x_more.shape[1:]))} (HxWxC) but the "
                        f"labelled ones {'x'.join(map(str, x.shape[1:]))}; pass images of one shape")
    return np.concatenate([x, x_more]), np.concatenate([y, y_more])


def training_source(config):
    """The source a run trains on (`sources`), read as the run first read it: its data and unlabelled images; a
    conditional run's unlabelled images carry the labels its classifier gave them (pseudo_labels)."""
    stream = {True: "on", False: "off"}.get(config.get("streamed"), "off")  # runs before streaming read into memory
    source, _ = _source(config["dataset"], config["data_dir"], stream, config.get("unlabeled"), config["conditional"])
    if config.get("classifier_steps") and source.streamed:
        labels = pseudo_labels.read_labels(config["run_dir"], images=source.images)
        source = sources.Shards(source.folder, source.metadata, labels)
    elif config.get("classifier_steps"):
        source = sources.Arrays(source.x, pseudo_labels.read_labels(config["run_dir"], source.y), source.name)
    return source


def fit(model, config, initial_epoch=0, extra_callbacks=(), verbose=None):
    """Trains to the configured length from `initial_epoch`, exports the standalone models; returns history.

    Streamed data under several workers: each worker reads its own shards (`distribute.per_worker_dataset`)."""
    run_dir, batch_size = config["run_dir"], config["batch_size"]
    source = training_source(config)
    strategy = tf.distribute.get_strategy()
    workers = distribute.input_workers(strategy) if source.streamed else 1
    epochs, steps_per_epoch = schedule(source.images, batch_size, config["epochs_requested"],
                                       config["steps_requested"], source.batches_per_pass(batch_size, workers))
    config.update(epochs=epochs, steps_per_epoch=steps_per_epoch)
    runs.write_config(run_dir, config)

    def batches(batch, worker):
        if worker[1] > 1:
            print(source.reads(worker), file=sys.stderr)
        return source.dataset(batch, seed=config["seed"], value_range=tuple(model.value_range), worker=worker,
                              start=initial_epoch * steps_per_epoch,
                              shuffle_buffer=config.get("shuffle_buffer") or shards.SHUFFLE_BUFFER)

    dataset = distribute.per_worker_dataset(strategy, batches, batch_size) if workers > 1 else batches(
        batch_size, (0, 1))
    stop_on_nan = StopOnNaN()
    callbacks = [
        stop_on_nan,
        keras.callbacks.TensorBoard(os.path.join(run_dir, "logs")),
        SampleGrid(run_dir, config["seed"], real=source.head(10)),
        Checkpoint(run_dir),
        *extra_callbacks,
    ]
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    with shards.as_data_errors():  # a corrupt shard met mid-epoch: one line naming it; the last checkpoint stays
        history = model.fit(
            dataset,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,  # the pipeline shuffles with the run's seed
        )
    if stop_on_nan.diverged_at:
        raise AugmentError(
            f"training diverged (non-finite loss at {stop_on_nan.diverged_at}); the last good checkpoint "
            f"(epoch {runs.completed_epochs(run_dir)}) is kept in {run_dir}: lower the learning rate or "
            "change --seed"
        )
    for name, exported in model.export_models().items():
        files.save_model(exported, runs.path(run_dir, name))
    return history


def given_flags(parser, argv=None):
    """The names (dests) of the options that `argv` sets, as opposed to those left at their defaults: argparse
    fills in a default only where the namespace lacks the name, so a namespace holding a marker for each tells."""
    unset = object()
    names = {action.dest for action in parser._actions} - {argparse.SUPPRESS}
    parsed = parser.parse_args(argv, argparse.Namespace(**dict.fromkeys(names, unset)))
    return {name for name in names if getattr(parsed, name) is not unset}


def option_names(options):
    """The config keys a script's own flags land under (see `main_for`): '--freeze-d' -> 'freeze_d'."""
    return [flag.lstrip("-").replace("-", "_") for flag in options]


def main_for(model_name, sampler, build_model, default_epochs, description, argv=None, *, defaults=None,
             options=None, callbacks=None):
    """The whole training CLI: parse, start or resume, fit, report.

    `defaults` overrides `add_arguments` defaults (e.g. {"default_latent_dim": 16}); `options` maps a
    script's own flags to `add_argument` keywords, their values land in the run's config; `callbacks(config)`
    returns extra callbacks for `fit`.
    """
    parser = argparse.ArgumentParser(prog=cli.prog(f"augment_tf.train_{model_name}"), description=description)
    add_arguments(parser, default_epochs, **(defaults or {}))
    for flag, kwargs in (options or {}).items():
        parser.add_argument(flag, **kwargs)
    args = parser.parse_args(argv)
    given = given_flags(parser, argv)
    check_arguments(args)  # before the strategy (--replicas splits the CPU before TensorFlow starts) and the claim
    strategy = distribute.make_strategy(args.strategy, args.replicas)
    run_dir = args.out or default_run_dir(args, model_name)
    with distribute.writable_run_dir(run_dir, strategy) as out, files.claim(out), strategy.scope():
        args.out = out  # another worker than the chief writes a scratch copy
        model, config, initial_epoch = start(args, model_name, sampler, build_model, default_epochs,
                                             option_names(options or {}), strategy, given)
        if initial_epoch:
            print(f"resuming {config['run_dir']} after epoch {initial_epoch}", file=sys.stderr)
        else:
            print(f"run directory: {config['run_dir']}", file=sys.stderr)
        fit(model, config, initial_epoch, extra_callbacks=callbacks(config) if callbacks else ())
        print(f"done: {runs.path(config['run_dir'], sampler)}")
    return 0
