"""A training command's line, read and checked without TensorFlow, so that `--help` and every argument error answer at
once: the flags both training scripts share, the checks of their values and of the run folders they name, and the
arithmetic that turns them into a run's length and batch.
"""

import argparse
import datetime
import json
import math
import os

from augment_tf import cli, data, held_out, runs, shard_format, sources
from augment_tf.errors import AugmentError

GAN_EPOCHS = 22  # train-gan's default length: about 10 minutes on a 2-core CPU (benchmarks/README.md)
VAE_EPOCHS = 15  # train-vae's: about 10 minutes on a 2-core CPU, the mark width 64 was chosen at (benchmarks/README.md)
BATCH_SIZE = 128  # the default batch, on data of BATCH_SIZE * BATCHES_PER_EPOCH images or more
BATCHES_PER_EPOCH = 8  # smaller sets get a default batch of n / 8 (at least MIN_BATCH_SIZE)
MIN_BATCH_SIZE = 16
MIN_STEPS = 3000  # default runs train at least this many steps (full MNIST at batch 128: 468 a pass)
MIN_EPOCH_STEPS = 100  # a step budget is cut into epochs of at least this many steps (grids, checkpoints)
OPEN_ENDED_EPOCHS = 100_000  # the epochs of a run that only --minutes ends
SMALL_DATA = 2048  # below this many images --augment is on by default (measured up to 2000: benchmarks/README.md)
STRATEGIES = ("default", "mirrored", "multi-worker")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# default optimizer steps of the classifier that labels unlabelled images (pseudo_labels.STEPS): 12.6 min on 2 CPU
# cores (benchmarks/README.md, "Few labels")
CLASSIFIER_STEPS = 6000


def parse_args(model_name, default_epochs, description, argv=None, *, defaults=None, options=None):
    """(args, the names of the flags given: `given_flags`) of a training command's line, checked as far as no
    TensorFlow is needed: each flag, their combinations and the run folders they name.

    `defaults` overrides `add_arguments` defaults (e.g. {"default_latent_dim": 16}); `options` maps a
    script's own flags to `add_argument` keywords (their values land in the run's config: `option_names`).
    """
    parser = cli.ArgumentParser(prog=cli.prog(f"augment_tf.train_{model_name}"), description=description)
    add_arguments(parser, default_epochs, **(defaults or {}))
    for flag, kwargs in (options or {}).items():
        parser.add_argument(flag, **kwargs)
    args = parser.parse_args(argv)
    given = given_flags(parser, argv)
    check_arguments(args)  # before the strategy (--replicas splits the CPU before TensorFlow starts) and the claim
    check_run_dirs(args, model_name)
    if not args.resume:  # a resumed run reads its own data; a new run's wrong path is one line now, not after TF
        sources.check_source(args.dataset, "train", args.data_dir, args.stream)
    return args, given


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
        "--shuffle-buffer", type=int, default=shard_format.SHUFFLE_BUFFER,
        help=f"streamed data: images shuffled together, beside the shards' order (default {shard_format.SHUFFLE_BUFFER})",
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument(
        "--epochs", type=int,
        help=f"passes over the data (default {default_epochs}, or {MIN_STEPS} steps where that is longer)",
    )
    length.add_argument("--steps", type=int, help="optimizer steps instead of epochs, whatever the data size")
    parser.add_argument(
        "--minutes", type=float,
        help="train until this many minutes have passed (the last epoch that fits), or --epochs / --steps if they "
        "come first; without them the run is open-ended (with --quality, it exports its best held-out epoch)",
    )
    parser.add_argument(
        "--quality", action=argparse.BooleanOptionalAction, default=False,
        help=f"hold out {held_out.SHARE * 100:.0f}%% of the labelled images (at most {held_out.MAX}; data with at least "
        f"{int(held_out.MIN / held_out.SHARE)} labelled) and score the samples against them every epoch; export the "
        "best epoch's model and choose the run's sampling temperature on them (default: off, the last epoch at the "
        "family temperature: on MNIST it scored the better CAS; docs/quality.md)",
    )
    parser.add_argument(
        "--patience", type=int,
        help="with --quality: stop when the held-out FID has not improved for this many epochs (default: off)",
    )
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
        help=f"steps of the classifier that labels unlabelled images (default {CLASSIFIER_STEPS})",
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
    _add_placement_arguments(parser)


def _add_placement_arguments(parser):
    """--strategy, --replicas and --precision: where a run trains and in what precision (augment_tf.distribute)."""
    parser.add_argument("--strategy", choices=STRATEGIES, default="default",
                        help="default: one device; mirrored: every local GPU (without GPUs, the CPU split into "
                        "--replicas); multi-worker: the machines in TF_CONFIG, the same command on each")
    parser.add_argument("--replicas", type=int,
                        help="with --strategy mirrored on a machine without GPUs: CPU replicas (tests, CI)")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="Keras dtype policy (default float32; a resumed run keeps its own); mixed_float16 needs a GPU")


def check_arguments(args):
    """One-line errors for flags that cannot work together, before anything is written; what this machine's devices
    allow is checked when TensorFlow starts (`distribute.check_devices`)."""
    for name in ("epochs", "steps", "batch_size", "latent_dim", "width", "classifier_steps", "shuffle_buffer",
                 "patience"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise AugmentError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    if args.minutes is not None and not (math.isfinite(args.minutes) and args.minutes > 0):
        raise AugmentError(f"--minutes is a time budget and must be more than 0, got {args.minutes:g}")
    if args.patience and not args.quality and not args.resume:  # a resumed run has its own (training._resumed)
        raise AugmentError("--patience stops on the held-out score, which --quality turns on: add --quality, or drop "
                           "--patience")
    if args.resume and not args.out:
        raise AugmentError("--resume needs --out RUN_DIR, the run to continue")
    if args.resume and args.init_from:
        raise AugmentError("--init-from starts a new run; a resumed run continues from its own checkpoint: drop it")
    if args.unlabeled and not args.conditional:
        raise AugmentError("--unlabeled is for --conditional runs; an unconditional model needs no labels: "
                           "train it on all the images with --data-dir")
    _check_placement(args)


def _check_placement(args):
    """--replicas and --strategy multi-worker's settings (TF_CONFIG, --out)."""
    if args.replicas is not None:
        if args.replicas < 1:
            raise AugmentError(f"--replicas must be at least 1, got {args.replicas}")
        if args.strategy != "mirrored":
            raise AugmentError("--replicas goes with --strategy mirrored (it splits the CPU into replicas)")
    if args.strategy == "multi-worker":
        cluster_spec()
        if not args.out:
            raise AugmentError("--strategy multi-worker needs --out RUN_DIR, the same on every machine")


def cluster_spec():
    """The parsed TF_CONFIG of a multi-worker run, checked: {"cluster": {"worker": [...]}, "task": {...}}."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise AugmentError("--strategy multi-worker needs TF_CONFIG, e.g. '{\"cluster\": {\"worker\": [\"host1:port\", "
                           "\"host2:port\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}' (index differs per machine)")
    try:
        spec = json.loads(text)
        workers = spec["cluster"]["worker"]
        task_type, index = spec["task"]["type"], spec["task"]["index"]
    except (ValueError, KeyError, TypeError):
        raise AugmentError("TF_CONFIG is not valid: it needs JSON with cluster.worker (a list of host:port) and "
                           "task.type and task.index") from None
    if not isinstance(workers, list) or not workers or task_type not in ("worker", "chief") \
            or not isinstance(index, int) or not 0 <= index < len(workers) + (task_type == "chief"):
        raise AugmentError(f"TF_CONFIG: task {task_type!r} {index!r} is not in cluster.worker ({len(workers)} "
                           "workers); give each machine its own task.index")
    return spec


def check_run_dirs(args, model_name):
    """The run folders the flags name, read before any work: --resume's run, --init-from's and a new run's --out.
    A multi-worker run checks its --out only in `training.start`, under the claim: its chief may have begun there."""
    if args.resume:
        resumable(args.out)
    elif args.out and args.strategy != "multi-worker":
        check_new_run_dir(args.out)
    if args.init_from:
        origin_config(args, model_name)


def check_new_run_dir(run_dir):
    """A new run writes to an absent folder or to one without a run: never over another run, nor into a file."""
    if runs.completed_epochs(run_dir) or os.path.exists(runs.path(run_dir, runs.CONFIG)):
        raise AugmentError(f"{run_dir} already holds a run: pass --resume to continue it, or another --out")
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise AugmentError(f"{run_dir} is a file, and a run directory is a folder: choose another --out")


def resumable(run_dir):
    """(config, epochs done) of the run that --resume continues, which must have a checkpoint."""
    config = runs.read_config(run_dir)
    done = runs.completed_epochs(run_dir)
    if done == 0:
        raise AugmentError(f"{run_dir}: no checkpoint to resume from; start it again without --resume")
    return config, done


def origin_config(args, model_name):
    """The config of the --init-from run, which must be of the model this run trains and have a checkpoint."""
    run = args.init_from
    config = runs.read_config(run)
    wanted = ("Conditional" if args.conditional else "") + model_name.upper()
    if config.get("model") != wanted:
        raise AugmentError(f"{run} is a {config.get('model')} run; this run trains a {wanted}, so --init-from needs a "
                           f"{wanted} run")
    epochs = runs.completed_epochs(run)
    if not epochs:
        raise AugmentError(f"{run}: no checkpoint yet; let that run finish an epoch, or start without --init-from")
    return {**config, "run_dir": run, "epochs": epochs}


def default_run_dir(args, model_name):
    """runs/<model>-<time>, e.g. runs/cgan-20260101-120000, where --out is not given."""
    prefix = ("c" if args.conditional else "") + model_name
    return os.path.join("runs", f"{prefix}-{datetime.datetime.now():%Y%m%d-%H%M%S}")


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


def default_length(n_examples, batch_size, default_epochs, minutes=None):
    """(epochs, steps) when neither is given: open-ended under a time budget (`minutes`), else `default_epochs`, or
    MIN_STEPS steps where that is longer."""
    if minutes:
        return OPEN_ENDED_EPOCHS, None
    _, steps_per_epoch = schedule(n_examples, batch_size)
    return (default_epochs, None) if default_epochs * steps_per_epoch >= MIN_STEPS else (None, MIN_STEPS)


def jit_compile(config):
    """A run's --jit-compile as `compile` takes it: True, False or "auto" (XLA on GPU only)."""
    return {"on": True, "off": False}.get(config["jit_compile"], "auto")


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
