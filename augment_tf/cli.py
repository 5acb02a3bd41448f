"""The command line: `augment-tf COMMAND` runs each tool, and user errors become one line on stderr and exit status 2."""

import argparse
import errno
import importlib
import os
import signal
import sys
import threading

from augment_tf import defaults, files, sampling
from augment_tf.errors import AugmentError

# augment-tf's subcommands: name -> (module whose `main(argv)` runs it, one line for `augment-tf --help`)
COMMANDS = {
    "train-gan": ("augment_tf.train_gan", "train a GAN (--conditional: one per class label) on MNIST-style images"),
    "train-vae": ("augment_tf.train_vae", "train a VAE (--conditional: one per class label) on MNIST-style images"),
    "generate": ("augment_tf.generate", "draw samples from a trained run into an .npz"),
    "evaluate": ("augment_tf.evaluate", "score samples: FID, precision/recall, label fidelity, CAS"),
    "augment": ("augment_tf.augment", "write a dataset of real plus synthetic labelled images (npz, IDX, TFDS)"),
    "impute": ("augment_tf.impute", "fill in missing pixels with a trained VAE"),
    "denoise": ("augment_tf.denoise", "remove Gaussian noise with a trained VAE (its level estimated if not given)"),
    "encode": ("augment_tf.encode", "turn images into their VAE codes (posterior mean, log-variance); a 2-D map"),
    "condense": ("augment_tf.condense", "make K images per class that a classifier can train on instead of the data"),
    "shard": ("augment_tf.shard", "write a dataset as TFRecord shards that training can stream (any size)"),
    "pictures": ("augment_tf.pictures", "turn a run into pictures: training animation, class grid, VAE reconstructions"),
}


def main(argv=None):
    """`augment-tf COMMAND [ARGS]`: runs COMMAND's own command line with ARGS (`augment-tf COMMAND --help`)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    listing = "\n".join(f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items())
    parser = ArgumentParser(
        prog="augment-tf", description="GANs and VAEs for MNIST-style data augmentation.",
        epilog=f"commands:\n{listing}\n\n`augment-tf COMMAND --help` describes each one.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=COMMANDS, metavar="COMMAND", help="one of the commands below")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the command's own arguments")
    command = parser.parse_args(argv[:1]).command
    sys.argv[0] = f"augment-tf {command}"  # the usage lines of the command's own parser name it so
    return run(importlib.import_module(COMMANDS[command][0]).main, argv[1:])


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors (a missing or unknown flag, a value of the wrong type) are one `error:`
    line and exit status 2, like every other bad input."""

    def error(self, message):
        self.exit(2, f"error: {message}; see {self.prog} --help\n")


def parser(module, doc):
    """The command line of `python -m module` (or `augment-tf NAME`), described by the first line of its `doc`."""
    return ArgumentParser(prog=prog(module), description=doc.strip().splitlines()[0])


def prog(module):
    """The name usage lines give a command: `augment-tf NAME` when `augment-tf` runs it, else `python -m MODULE`."""
    return sys.argv[0] if sys.argv[0].startswith("augment-tf ") else f"python -m {module}"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, as Ctrl-C raises KeyboardInterrupt: the `finally` blocks of the writes it
    interrupts remove their temporary files and locks, so nothing half-written is left (`files.atomic_path`)."""


def _terminated(signum, frame):
    raise Terminated()


def run(main, argv=None):
    """Calls `main(argv)`, turning `AugmentError` and missing files into one clear line, SIGTERM and SIGINT into
    an exit that leaves no partial output."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # CLIs report errors themselves, in one line
    in_main_thread = threading.current_thread() is threading.main_thread()  # where signal handlers may be set
    previous = signal.signal(signal.SIGTERM, _terminated) if in_main_thread else None
    try:
        return main(argv)
    except AugmentError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except FileNotFoundError as e:
        print(f"error: file not found: {e.filename or e}; check the path", file=sys.stderr)
        sys.exit(2)
    except OSError as e:  # what the system refuses: a path through a file, no permission, a full disk, ...
        print(f"error: {os_error_line(e)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as e:
        print("interrupted", file=sys.stderr)
        sys.exit(128 + (signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# What to do about each refusal of the system a user can meet while a command reads or writes its files.
OS_ADVICE = {
    errno.ENOTDIR: "a part of this path is a file, not a folder: choose another path",
    errno.EISDIR: "this is a folder, and a file is meant: choose a file name",
    errno.EACCES: "permission denied: choose a place you may write to, or change its permissions",
    errno.EPERM: "operation not permitted: choose a place you may write to, or change its permissions",
    errno.ENOSPC: "no space left on the disk: free some space or choose a folder on another disk",
    errno.EDQUOT: "disk quota exceeded: free some space or choose a folder on another disk",
    errno.ENAMETOOLONG: "the name is too long: choose a shorter path",
    errno.EROFS: "the file system is read-only: choose a folder on another disk",
    errno.EEXIST: "already exists: remove it or choose another path",
    errno.ENOTEMPTY: "the folder is not empty: remove its files or choose another path",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) and run again",
}


def os_error_line(error):
    """One line for an OSError: the path it names and what to do (the system's own words where we have no advice)."""
    advice = OS_ADVICE.get(error.errno, error.strerror or str(error))
    paths = [os.fspath(p) for p in (error.filename, error.filename2) if p is not None]
    return f"{' -> '.join(paths)}: {advice}" if paths else f"{advice} (while writing or reading the command's files)"


def add_temperature(parser, default=None):
    """--temperature T, for the commands that draw samples; `temperature` reads it. Its default: the run's family's
    (`sampling.default_temperature`), or `default` for a command whose figures were measured at another."""
    gan, vae = defaults.TEMPERATURE["GAN"], defaults.TEMPERATURE["VAE"]
    said = f"{default:g}" if default is not None else f"{gan:g} for a GAN run, {vae:g} for a VAE run"
    parser.add_argument("--temperature", type=_temperature, metavar="T", default=default, help="the latent noise is "
                        f"drawn as N(0, T^2 I): above 1 more variety, below 1 more typical samples (default {said}; "
                        "docs/sampling.md)")


def _temperature(text):
    """--temperature's value, refused by argparse unless a finite number, 0 or above."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    try:
        return sampling.check_temperature(value, "T")
    except AugmentError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def temperature(args, config):
    """--temperature, or the run's default (`sampling.default_temperature`) where it is not given."""
    return sampling.default_temperature(config) if args.temperature is None else args.temperature


def check_output(path, suffix=".npz", flag="--out"):
    """An output file named by `flag` ends in `suffix` (.npz, .png) and can be written: not a folder, not under a
    file. Said before any work is done."""
    if not path.endswith(suffix):
        raise AugmentError(f"{flag} must end in {suffix}, got {path}")
    if os.path.isdir(path):
        raise AugmentError(f"{path} is a folder, and {flag} names a file: choose another {flag}")
    files.check_not_under_a_file(path, f"another {flag}")
