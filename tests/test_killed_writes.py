"""A command killed while it writes (issue 47): SIGTERM or SIGINT leaves nothing at --out that looks complete and no
temporary file or lock beside it, and the same command run again succeeds (a sharded write resumes).

The signals here are real ones, sent to a real process (`python -m augment_tf.COMMAND`) while its output is being
written; `test_os_errors.py` and `test_bad_input.py` cover what is refused before any write."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from augment_tf import shard_format, sources
from augment_tf.errors import DataError

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.slow


def start(command, *args):
    """`python -m augment_tf.COMMAND ARGS` started, its output piped."""
    return subprocess.Popen([sys.executable, "-m", f"augment_tf.{command}", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_when(process, ready, signum, timeout=300):
    """Sends `signum` to `process` as soon as `ready()`, then waits for it: (exit status, stderr)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"ended before the signal: {process.communicate()}"
        assert time.monotonic() < deadline, "never became ready"
        time.sleep(0.005)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    return process.returncode, err


def test_generate_killed_while_writing_its_npz_leaves_nothing_and_runs_again(gan_run, tmp_path):
    out = tmp_path / "out" / "samples.npz"
    argv = [gan_run, "--n", 60000, "--out", out, "--seed", 1]

    def writing():  # the archive's temporary sibling exists: the samples are drawn and being written
        return out.parent.is_dir() and any(name.startswith(".samples.") and ".tmp" in name
                                           for name in os.listdir(out.parent))

    code, err = kill_when(start("generate", *argv), writing, signal.SIGTERM)
    assert code == 128 + signal.SIGTERM and err.strip().endswith("interrupted"), err
    assert not out.parent.exists() or os.listdir(out.parent) == []  # no output, no temporary file, no lock

    again = start("generate", *argv)
    assert again.wait(timeout=300) == 0, again.communicate()
    assert np.load(out)["x"].shape == (60000, 28, 28) and sorted(os.listdir(out.parent)) == ["samples.npz"]


def test_shard_killed_after_some_shards_resumes_to_the_same_dataset(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (40000, 28, 28), np.uint8), np.arange(40000) % 10
    np.savez(tmp_path / "src.npz", x=x, y=y)
    out = tmp_path / "shards"
    argv = [tmp_path / "src.npz", "--out", out, "--images-per-shard", 1000]

    def some_shards():
        return out.is_dir() and sum(name.endswith(".tfrecord") for name in os.listdir(out)) >= 2

    code, err = kill_when(start("shard", *argv), some_shards, signal.SIGINT)
    assert code == 128 + signal.SIGINT and err.strip().endswith("interrupted"), err
    assert not (out / shard_format.METADATA).exists()  # does not look complete: reading it says so
    with pytest.raises(DataError, match="unfinished write"):
        shard_format.read_metadata(out)
    hidden = [name for name in os.listdir(out) if name.startswith(".")]
    assert hidden == [shard_format.PLAN]  # no temporary shard, no lock: the plan a rerun resumes by
    kept = sum(name.endswith(".tfrecord") for name in os.listdir(out))

    again = start("shard", *argv)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert f"keeping the {kept * 1000} images of a killed write" in err
    read = list(sources.source_chunks(str(out))[1])
    assert np.array_equal(np.concatenate([c[0] for c in read])[..., 0], x)
    assert np.array_equal(np.concatenate([c[1] for c in read]), y)
