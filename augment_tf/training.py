"""Training inside a run directory, shared by train_gan.py and train_vae.py.

`main_for` is the whole command once `training_options` has read and checked its line: the run folder claimed for
the run's life, then one `fit` call with callbacks for the side effects (`callbacks`): per-epoch sample grids,
TensorBoard logs, checkpoints that `--resume` continues from (same data order, same noise), a stop on NaN that
keeps the last good checkpoint, a time budget; with `--quality`, the held-out quality curve (`run_quality`).
"""

import os
import sys

import keras
import numpy as np
import tensorflow as tf

from augment_tf import (
    data, distribute, files, pseudo_labels, run_quality, runs, shard_format, sources, training_options,
)
from augment_tf.callbacks import Checkpoint, SampleGrid, StopOnNaN, TimeBudget
from augment_tf.errors import AugmentError, DataError
from augment_tf.models import networks
from augment_tf.models.base import resolve_jit_compile, transfer_weights

# settings a resumed run takes from the command line: how long and where it trains; every other flag must match
RESUME_FLAGS = {"out", "resume", "epochs", "steps", "minutes", "patience", "strategy", "replicas", "jit_compile"}


def start(args, model_name, sampler, build_model, default_epochs, options=(), strategy=None, given=()):
    """Returns (model, config, initial_epoch) for a new run or one resumed from its checkpoint; call it in the
    scope of `strategy` (default: one device), which builds or loads the model.

    `options` names the script's own flags (see `main_for`), recorded in the config like the shared ones. `given`
    names the flags the command line set (`training_options.given_flags`): a resumed run applies those of
    RESUME_FLAGS and refuses any other that differs from its saved settings.
    """
    training_options.check_arguments(args)
    distribute.check_devices(args)
    strategy = strategy or tf.distribute.get_strategy()
    run_dir = args.out or training_options.default_run_dir(args, model_name)
    if args.resume:
        return _resumed(args, run_dir, strategy, given)
    training_options.check_new_run_dir(run_dir)
    origin, origin_model = _origin(args, model_name) if args.init_from else ({}, None)
    source, how = _training_data(args, origin)
    held, held_line = run_quality.slice_size(args, source, strategy)
    config = new_config(args, run_dir, sampler, source, origin, options, strategy, default_epochs, held)
    distribute.set_precision(config["precision"])  # the labelling classifier and the model compute in it
    keras.utils.set_random_seed(args.seed)
    model = build_model(config)  # refuses bad settings before the labelling classifier trains for minutes
    if origin_model is not None:
        transfer_weights(origin_model, model)
    if config["classifier_steps"]:  # before config.json, so an interrupted labelling leaves no run: start it again
        os.makedirs(run_dir, exist_ok=True)
        rest, _ = run_quality.split(source, config["held_out"], args.seed)  # the held-out images label nothing
        pseudo_labels.label_source(run_dir, rest, config["num_classes"], steps=config["classifier_steps"],
                                   seed=args.seed)
    config.update(model=type(model).__name__, value_range=list(model.value_range))
    os.makedirs(run_dir, exist_ok=True)
    runs.write_config(run_dir, config)
    for line in (how, held_line):
        if line:
            print(line, file=sys.stderr)
    return model, config, 0


def _resumed(args, run_dir, strategy, given):
    """(model, config, epochs done) of the run in `run_dir`, with the flags a resumed run takes applied."""
    config, done = training_options.resumable(run_dir)
    for name in sorted(set(given) - RESUME_FLAGS):
        value, saved = getattr(args, name), config.get(name)
        if not _same_setting(value, saved):
            flag = "--" + name.replace("_", "-")
            raise AugmentError(f"{flag} {_shown(value)}: {run_dir} trains with {flag} {_shown(saved)} and a resumed run "
                               f"keeps its settings; drop {flag}, or start a new run in another --out")
    if args.epochs or args.steps:
        config.update(epochs_requested=args.epochs, steps_requested=args.steps)
    elif "minutes" in given:  # a budget alone: the run goes on until it is spent
        config.update(epochs_requested=training_options.OPEN_ENDED_EPOCHS, steps_requested=None)
    for name in ("minutes", "patience"):
        if name in given:
            config[name] = getattr(args, name)
    if "patience" in given and not config.get("held_out"):
        raise AugmentError(f"--patience stops on the held-out score, and {run_dir} trains without one: drop it")
    spent = runs.trained_seconds(run_dir)
    if config.get("minutes") and spent >= config["minutes"] * 60:
        raise AugmentError(f"{run_dir} has trained {spent / 60:.1f} minutes, its whole "
                           f"--minutes {config['minutes']:g}: pass a larger --minutes to train it further")
    if "jit_compile" in given:
        config["jit_compile"] = args.jit_compile
    config.update(_placement(args, config["batch_size"], strategy))
    distribute.set_precision(config.get("precision"))
    model = runs.load_checkpoint(run_dir, config)
    model.jit_compile = resolve_jit_compile(training_options.jit_compile(config))
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


def new_config(args, run_dir, sampler, source, origin, options, strategy, default_epochs, held=0):
    """The settings a new run records in config.json: its flags, with every default resolved for its data (`held`:
    the images held out for the quality curve, which it does not train on)."""
    # refuses a class without images, unless the --init-from run learned it
    known = origin.get("num_classes") or 0
    num_classes = data.classes_of(source.class_counts, source.name, known) if args.conditional else None
    n, n_unlabeled = source.images - held, source.unlabeled
    batch_size = min(args.batch_size, n) if args.batch_size else training_options.default_batch_size(
        n, strategy.num_replicas_in_sync)
    epochs, steps = (args.epochs, args.steps) if args.epochs or args.steps else training_options.default_length(
        n, batch_size, default_epochs, args.minutes
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
        "minutes": args.minutes,
        "quality": args.quality,  # the flag: a run too small for a slice records it too, and resumes with it
        "held_out": held,
        "patience": args.patience,
        "batch_size": batch_size,
        **_network_sizes(args, origin),
        # the data set's size, held-out slice included, as --help says
        "augment": args.augment if args.augment is not None else source.images < training_options.SMALL_DATA,
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


def _origin(args, model_name):
    """(config, model) of the --init-from run (`training_options.origin_config`)."""
    config = training_options.origin_config(args, model_name)
    return config, runs.load_checkpoint(args.init_from, config)


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
    """The source a run trains on (`sources`), read as the run first read it: its data and unlabelled images, less the
    held-out slice; a conditional run's unlabelled images carry the labels its classifier gave them (pseudo_labels)."""
    return run_data(config)[0]


def run_data(config):
    """(the source a run trains on: `training_source`, the held-out (x, y) or None)."""
    stream = {True: "on", False: "off"}.get(config.get("streamed"), "off")  # runs before streaming read into memory
    source, _ = _source(config["dataset"], config["data_dir"], stream, config.get("unlabeled"), config["conditional"])
    source, held = run_quality.split(source, config.get("held_out"), config["seed"])
    if config.get("classifier_steps") and source.streamed:
        labels = pseudo_labels.read_labels(config["run_dir"], images=source.images)
        source = sources.Shards(source.folder, source.metadata, labels)
    elif config.get("classifier_steps"):
        source = sources.Arrays(source.x, pseudo_labels.read_labels(config["run_dir"], source.y), source.name)
    return source, held


def fit(model, config, initial_epoch=0, extra_callbacks=(), verbose=None):
    """Trains to the configured length (or time budget) from `initial_epoch`, exports the standalone models of the
    best held-out epoch (`run_quality`; the last where the run has no held-out slice); returns history.

    Streamed data under several workers: each worker reads its own shards (`distribute.per_worker_dataset`)."""
    run_dir, batch_size = config["run_dir"], config["batch_size"]
    source, held = run_data(config)
    strategy = tf.distribute.get_strategy()
    workers = distribute.input_workers(strategy) if source.streamed else 1
    epochs, steps_per_epoch = training_options.schedule(source.images, batch_size, config["epochs_requested"],
                                                        config["steps_requested"],
                                                        source.batches_per_pass(batch_size, workers))
    config.update(epochs=epochs, steps_per_epoch=steps_per_epoch)
    runs.write_config(run_dir, config)

    def batches(batch, worker):
        if worker[1] > 1:
            print(source.reads(worker), file=sys.stderr)
        return source.dataset(batch, seed=config["seed"], value_range=tuple(model.value_range), worker=worker,
                              start=initial_epoch * steps_per_epoch,
                              shuffle_buffer=config.get("shuffle_buffer") or shard_format.SHUFFLE_BUFFER)

    dataset = distribute.per_worker_dataset(strategy, batches, batch_size) if workers > 1 else batches(
        batch_size, (0, 1))
    stop_on_nan = StopOnNaN()
    monitor = run_quality.monitor(config, held, source, initial_epoch, extra_callbacks) if held else None
    seconds = runs.trained_seconds(run_dir)
    callbacks = [
        stop_on_nan,
        *([monitor] if monitor else []),  # before TensorBoard, the checkpoint and the extra ones: see its docstring
        keras.callbacks.TensorBoard(os.path.join(run_dir, "logs")),
        SampleGrid(run_dir, config["seed"], real=source.head(10)),
        Checkpoint(run_dir, seconds),
        *extra_callbacks,
        *([TimeBudget(config["minutes"], seconds)] if config.get("minutes") else []),  # last: after the scoring
    ]
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    with shard_format.as_data_errors():  # a corrupt shard met mid-epoch: one line naming it; the last checkpoint stays
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
    if monitor and monitor.best:
        run_quality.record(model, config, monitor)
    for name, exported in model.export_models().items():
        files.save_model(exported, runs.path(run_dir, name))
    return history


def main_for(model_name, sampler, build_model, default_epochs, args, given, *, options=None, callbacks=None):
    """The whole training command once `training_options.parse_args` has read its line into `args` (and the names
    of the flags `given`): start or resume, fit, report.

    `options` are the script's own flags (as `parse_args` took them), their values land in the run's config;
    `callbacks(config)` returns extra callbacks for `fit`.
    """
    distribute.check_devices(args)  # before the strategy: --replicas splits the CPU before TensorFlow starts
    strategy = distribute.make_strategy(args.strategy, args.replicas)
    run_dir = args.out or training_options.default_run_dir(args, model_name)
    with distribute.writable_run_dir(run_dir, strategy) as out, files.claim(out), strategy.scope():
        args.out = out  # another worker than the chief writes a scratch copy
        model, config, initial_epoch = start(args, model_name, sampler, build_model, default_epochs,
                                             training_options.option_names(options or {}), strategy, given)
        if initial_epoch:
            print(f"resuming {config['run_dir']} after epoch {initial_epoch}", file=sys.stderr)
        else:
            print(f"run directory: {config['run_dir']}", file=sys.stderr)
        fit(model, config, initial_epoch, extra_callbacks=callbacks(config) if callbacks else ())
        print(f"done: {runs.path(config['run_dir'], sampler)}{run_quality.exported_epoch(config)}")
    return 0
