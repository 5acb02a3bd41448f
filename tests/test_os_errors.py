"""What the system refuses while a command writes (issue 47): one `error:` line naming the path and what to do, exit
status 2, no traceback and nothing half-written, through the one mechanism every command shares (`cli.run`)."""

import errno
import json
import os
import shutil
import signal
import threading
import time

import numpy as np
import pytest

from augment_tf import files, generate
from tests.conftest import RUN_CONFIG, command_error


def run_command(capsys, main, argv):
    """(exit status, stderr) of `main(argv)` run as `augment-tf` runs it."""
    code, _, err = command_error(main, argv, capsys)
    return code, err


@pytest.mark.parametrize("code, fragment", [
    (errno.ENOSPC, "no space left on the disk: free some space"),
    (errno.EACCES, "permission denied: choose a place you may write to"),
    (errno.EROFS, "the file system is read-only"),
    (errno.ENAMETOOLONG, "the name is too long: choose a shorter path"),
    (errno.EIO, "Input/output error"),  # no advice of ours: the system's own words
])
def test_each_os_failure_is_one_line_naming_the_path(capsys, tmp_path, code, fragment):
    def main(argv):
        raise OSError(code, os.strerror(code), str(tmp_path / "out.npz"))

    status, err = run_command(capsys, main, [])
    assert status == 2 and err.startswith(f"error: {tmp_path / 'out.npz'}: {fragment}")
    assert err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err


def test_an_os_failure_without_a_path_still_says_what_to_do(capsys):
    def main(argv):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    assert run_command(capsys, main, []) == (2, "error: no space left on the disk: free some space or choose a folder on "
                                        "another disk (while writing or reading the command's files)\n")


def test_a_full_disk_while_writing_leaves_no_partial_file(capsys, tmp_path, monkeypatch):
    """ENOSPC half-way through an atomic write: the temporary file goes, the output never appears."""
    def full_disk(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def main(argv):
        with files.claim(argv[0]):
            files.write_npz(argv[0], x=np.zeros((100, 28, 28), np.uint8))

    monkeypatch.setattr("zipfile._ZipWriteFile.write", full_disk)
    status, err = run_command(capsys, main, [tmp_path / "out.npz"])
    assert status == 2 and err.startswith("error: no space left on the disk")
    assert os.listdir(tmp_path) == []  # no output, no temporary file, no lock


def test_an_output_under_a_file_is_refused_before_any_work(capsys, tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    for out in (tmp_path / "a_file" / "samples.npz", tmp_path / "a_file" / "deeper" / "samples.npz"):
        status, err = run_command(capsys, generate.main, [tmp_path / "no_run", "--n", "5", "--out", out])
        assert status == 2 and err == (f"error: {tmp_path / 'a_file'} is a file, so {out} cannot be written under it: "
                                       "choose another --out\n")
    assert sorted(os.listdir(tmp_path)) == ["a_file"]


def test_an_npz_output_that_is_a_folder_is_refused_before_any_work(capsys, tmp_path):
    (tmp_path / "samples.npz").mkdir()
    out = tmp_path / "samples.npz"
    status, err = run_command(capsys, generate.main, [tmp_path / "no_run", "--n", "5", "--out", out])
    assert status == 2 and err == (f"error: {tmp_path / 'samples.npz'} is a folder, and --out names a file: "
                                   "choose another --out\n")


def test_an_output_larger_than_the_free_disk_is_refused_before_any_model_loads(capsys, tmp_path):
    """generate --n 10**13 of 28x28 images (7130.4 TB) against this disk: one line with both figures, nothing loaded."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(RUN_CONFIG))  # no model file at all
    status, err = run_command(capsys, generate.main, [run, "--n", 10**13, "--out", tmp_path / "samples.npz"])
    free = files._size(shutil.disk_usage(tmp_path).free)
    assert status == 2 and err == (f"error: {tmp_path / 'samples.npz'}: 10000000000000 samples take 7130.4 TB and the "
                                   f"disk there has {free} free: ask for fewer, or choose a folder on a larger disk\n")
    assert sorted(os.listdir(tmp_path)) == ["run"]


def test_sizes_read_as_a_person_would():
    assert [files._size(n) for n in (900, 5 * 2**20, 7 * 2**30 + 2**29, 3 * 2**40)] == [
        "900 bytes", "5.0 MB", "7.5 GB", "3.0 TB"]


def test_sigterm_during_a_write_leaves_nothing_and_exits_143(capsys, tmp_path):
    """SIGTERM stops a command as Ctrl-C does: its writes' `finally` blocks run, so no temporary file or lock stays;
    a real process killed mid-write is in test_killed_writes.py."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers are set in the main thread only")
    before = signal.getsignal(signal.SIGTERM)

    def main(argv):
        with files.claim(argv[0]), files.atomic_path(argv[0]) as tmp:
            with open(tmp, "w") as f:
                f.write("half an archive")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)  # the signal's handler raises before this ends

    status, err = run_command(capsys, main, [tmp_path / "out.npz"])
    assert status == 128 + signal.SIGTERM and err == "interrupted\n"
    assert os.listdir(tmp_path) == [] and signal.getsignal(signal.SIGTERM) is before
