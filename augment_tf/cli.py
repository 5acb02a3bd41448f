"""Shared command-line plumbing: user errors become one line on stderr and exit status 2."""

import os
import sys

from augment_tf.errors import AugmentError


def run(main, argv=None):
    """Calls `main(argv)`, turning `AugmentError` and missing files into one clear line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # CLIs report errors themselves, in one line
    try:
        return main(argv)
    except AugmentError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except FileNotFoundError as e:
        print(f"error: file not found: {e.filename or e}; check the path", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def check_npz_output(path, flag="--out"):
    """Output files of the `python -m` commands are .npz; say so before any work is done."""
    if not path.endswith(".npz"):
        raise AugmentError(f"{flag} must be an .npz file, got {path}")
