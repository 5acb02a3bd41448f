"""Progress of long steps on stderr, shown by Keras itself: a live bar on a terminal, else one line per stage.

Commands print their result on stdout; Keras writes progress there, so `shown` routes it to stderr.
"""

import contextlib
import sys


@contextlib.contextmanager
def shown(show=True):
    """Yields the Keras `verbose` (for `fit` or `keras.utils.Progbar`) that shows progress on stderr: 0 when not
    `show`, 1 (a live bar) on a terminal, else 2 (one line per epoch or bar); Keras's stdout is stderr meanwhile."""
    if not show:
        yield 0
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield 1 if sys.stderr.isatty() else 2


def note(message, show=True):
    """One line on stderr saying what a long step is doing, if `show`."""
    if show:
        print(message, file=sys.stderr, flush=True)
