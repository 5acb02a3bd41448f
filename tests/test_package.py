"""The package installs from a clone and then works from any folder: import, training, the `python -m` tools and the
`augment-tf` command, with no TensorFlow log lines in what a user sees."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
def test_installed_package_trains_and_generates_outside_the_repository(tmp_path, npz_data):
    source, site, elsewhere = tmp_path / "source", tmp_path / "site", tmp_path / "elsewhere"
    shutil.copytree(ROOT / "augment_tf", source / "augment_tf", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    # Offline: no index, no isolated build environment (the test extra installs setuptools), no dependencies.
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-build-isolation",
               "--target", str(site), str(source)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}

    def python(*args):
        done = subprocess.run([sys.executable, *args], cwd=elsewhere, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        # No TensorFlow C++ log lines (I/W/E/F + date): a newcomer reads "E0000 ... remapper failed" as a failure.
        assert not re.search(r"^[IWEF]\d{4} ", done.stderr, re.MULTILINE), done.stderr
        return done.stdout

    assert python("-c", "import augment_tf; print(augment_tf.__file__)").strip() == str(site / "augment_tf" / "__init__.py")
    tiny = ["--conditional", "--data-dir", npz_data, "--steps", "2", "--batch-size", "16", "--latent-dim", "8",
            "--width", "8"]
    python("-m", "augment_tf.train_gan", *tiny, "--out", "gan")
    python("-m", "augment_tf.generate", "gan", "--n", "10", "--out", "samples.npz")
    assert (elsewhere / "gan" / "generator.keras").is_file() and (elsewhere / "samples.npz").is_file()
    # the console script: every command under one name
    augment_tf = str(site / "bin" / "augment-tf")
    listing = python(augment_tf, "--help")
    assert all(f"  {name} " in listing for name in ("train-gan", "train-vae", "generate", "evaluate", "augment",
                                                    "impute", "denoise", "encode", "shard", "pictures")), listing
    python(augment_tf, "train-vae", *tiny, "--out", "vae")
    assert (elsewhere / "vae" / "sampler.keras").is_file()
    refused = subprocess.run([sys.executable, augment_tf, "generate", "gan", "--n", "5", "--out", "samples.txt"],
                             cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and refused.stderr == "error: --out must end in .npz, got samples.txt\n"
