"""Concurrent writers: an output command refuses an --out another command holds, before any work, writing nothing;
the lock of a process that died (even by SIGKILL) never blocks."""

import os
import signal
import subprocess
import sys

import pytest

from augment_tf import augment, cli, files, generate, impute, runs
from augment_tf.errors import AugmentError
from tests.conftest import digits
from tests.test_progress import masked

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def commands(gan_run, vae_run, tmp_path):
    """{name: (main, argv without --out, OUT)}: every command that writes an --out, augment in each format."""
    real = digits(tmp_path / "real.npz", [0, 1, 2], n=24, seed=1)
    augment_args = ["--real", real, "--synthetic-per-class", "2", "--no-estimate"]
    return {
        "generate": (generate.main, [gan_run, "--n", "5"], tmp_path / "samples.npz"),
        "augment npz": (augment.main, [gan_run, *augment_args], tmp_path / "augmented.npz"),
        "augment idx": (augment.main, [gan_run, *augment_args], tmp_path / "augmented_idx"),
        "augment tfds": (augment.main, [gan_run, *augment_args, "--format", "tfds"], tmp_path / "augmented_tfds"),
        "impute": (impute.main, [vae_run, "--in", masked(tmp_path / "in.npz")], tmp_path / "repaired.npz"),
    }


COMMANDS = ["generate", "augment npz", "augment idx", "augment tfds", "impute"]


@pytest.mark.parametrize("name", COMMANDS)
def test_a_claimed_out_is_refused_in_one_line_before_any_work(name, three_class_gan_run, three_class_plain_vae_run,
                                                              tmp_path, capsys, monkeypatch):
    main, argv, out = commands(three_class_gan_run, three_class_plain_vae_run, tmp_path)[name]
    before = set(os.listdir(tmp_path))

    def no_work(*args, **kwargs):
        raise AssertionError("the run was read before --out was claimed")

    monkeypatch.setattr(runs, "load_sampler", no_work)
    monkeypatch.setattr(runs, "read_json", no_work)
    with files.claim(out):
        with pytest.raises(SystemExit) as exit_:
            cli.run(main, [*argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"error: {out} is in use by another command (process {os.getpid()})"), err
    assert set(os.listdir(tmp_path)) == before  # nothing written, the lock file gone with the claim


@pytest.mark.parametrize("name", ["generate", "augment npz", "augment idx",
                                  pytest.param("impute", marks=pytest.mark.slow)])  # the lock is one; impute: 10 s
def test_a_lock_file_left_by_a_dead_process_does_not_block(name, three_class_gan_run, three_class_plain_vae_run,
                                                            tmp_path, capsys):
    main, argv, out = commands(three_class_gan_run, three_class_plain_vae_run, tmp_path)[name]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock = tmp_path / f".{out.name}.lock"
    lock.write_text(dead.stdout.strip())
    assert main([*argv, "--out", str(out)]) == 0
    assert out.exists() and not lock.exists()
    assert capsys.readouterr().out.count("\n") == 1


HOLDER = """
import sys
from augment_tf import files
with files.claim(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes stdin (or kills this process)
"""


@pytest.mark.parametrize("ending", ["exit", "SIGKILL"])
def test_claim_refuses_while_another_process_holds_it_and_succeeds_once_it_ends(ending, tmp_path):
    out = tmp_path / "out.npz"
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], cwd=ROOT, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "held\n"
        with pytest.raises(AugmentError, match=f"in use by another command \\(process {child.pid}\\)"):
            with files.claim(out):
                pass
        if ending == "exit":
            child.stdin.close()
        else:
            child.kill()
        assert child.wait(60) == (0 if ending == "exit" else -signal.SIGKILL)
        with files.claim(out):  # the kernel dropped the dead holder's lock, whatever file it left behind
            assert (tmp_path / ".out.npz.lock").read_text() == str(os.getpid())
        assert not any(name.endswith(".lock") for name in os.listdir(tmp_path))
    finally:
        child.kill()
        child.wait(60)
