"""Shared test fixtures: tiny random data sets, the real MNIST slice, the tiny trained runs several modules use
(trained once per session), and isolation from the network and env."""

import os
import re
import socket
from pathlib import Path

import numpy as np
import pytest

from augment_tf import benefit, cli, data, distribute, quality, reference, shard_format, train_gan, train_vae

REPLICAS = 2  # the CPU split into this many logical devices, as TensorFlow's own tests do, before anything runs
distribute.split_cpu(REPLICAS)

ROOT = Path(__file__).parents[1]
MNIST_DIR = Path(os.environ.get(data.DATA_DIR_ENV) or ROOT.parent / "shared/data/mnist")
TINY = ["--batch-size", "16", "--latent-dim", "8", "--width", "8"]  # networks a step of which takes milliseconds


# config.json of a conditional GAN run, every field a command reads (runs.REQUIRED): for runs faked by hand
RUN_CONFIG = {"model": "ConditionalGAN", "sampler": "generator.keras", "image_shape": [28, 28, 1], "num_classes": 10,
              "value_range": [-1.0, 1.0], "latent_dim": 8}


def command_error(main, argv, capsys):
    """A command's `main(argv)` run as its entry point runs it (`cli.run`), in this process, to a user error:
    (exit status, stdout, stderr). Each entry point proves once, in a real process, that it goes through `cli.run`."""
    with pytest.raises(SystemExit) as exit_info:
        cli.run(main, [str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No network, no inherited data dir (tests name their data), a fresh classifier cache per test, and augment's
    estimate (six small CNNs), a run's held-out reference classifier and its temperature's CAS classifiers trained
    for a few steps each."""

    def no_network(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv(reference.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(benefit, "STEPS", 20)
    monkeypatch.setattr(quality, "CLASSIFIER_STEPS", 20)
    monkeypatch.setattr(quality, "CAS_STEPS", 10)
    monkeypatch.setattr(quality, "TEMPERATURES", (1.0, 1.2))


def progress_lines(err, steps):
    """Keras's one-line summaries of a finished bar of `steps` steps ("20/20 - 1s - 50ms/step - loss: ...")."""
    return re.findall(rf"^\s*{steps}/{steps} - \d+s", err, re.MULTILINE)


def random_digits(folder, n, seed=0):
    """`folder/train.npz` with `n` random 28x28 'digits' and labels cycling 0..9; returns its path."""
    rng = np.random.default_rng(seed)
    path = Path(folder) / "train.npz"
    np.savez(path, x=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), y=np.arange(n) % 10)
    return str(path)


@pytest.fixture(scope="session")
def npz_data(tmp_path_factory):
    """64 random 'digits': enough to train a few steps fast."""
    return random_digits(tmp_path_factory.mktemp("data"), 64)


@pytest.fixture(scope="session")
def npz_100(tmp_path_factory):
    """100 random 'digits', 10 per class: the small subsets the defaults must train well on."""
    return random_digits(tmp_path_factory.mktemp("data100"), 100, seed=1)


@pytest.fixture(scope="session")
def mnist_path():
    """The real MNIST IDX folder; tests that need it skip where it is absent, and fail under CI, which has it."""
    if not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        message = f"real MNIST not found at {MNIST_DIR} (set {data.DATA_DIR_ENV})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return MNIST_DIR


def digits(path, classes, n=48, size=28, seed=0):
    """An .npz of `n` random images of `size` pixels a side, labelled with `classes` in turn."""
    rng = np.random.default_rng(seed)
    np.savez(path, x=rng.integers(0, 256, (n, size, size), np.uint8), y=np.resize(np.asarray(classes), n))
    return str(path)


# --- tiny trained runs, each trained once a session (and xdist worker) for every module that reads it ------------


def trained(tmp_path_factory, main, argv):
    """The folder of a run `main` (train_gan's or train_vae's) trains with `argv`."""
    run = tmp_path_factory.mktemp("run") / "run"
    main([*map(str, argv), "--out", str(run)])
    return run


@pytest.fixture(scope="session")
def gan_run(tmp_path_factory, npz_data):
    """A conditional GAN on `npz_data`, 3 epochs: a sample grid for each."""
    return trained(tmp_path_factory, train_gan.main, ["--conditional", "--data-dir", npz_data, "--epochs", 3, *TINY])


@pytest.fixture(scope="session")
def short_gan_run(tmp_path_factory, npz_data):
    """A finished conditional GAN on `npz_data`: 2 steps (one epoch), seed 3."""
    return trained(tmp_path_factory, train_gan.main,
                   ["--conditional", "--data-dir", npz_data, "--seed", 3, "--steps", 2, *TINY])


@pytest.fixture(scope="session")
def sharded(tmp_path_factory):
    """(folder of 96 random 28x28 digits in 6 shards of 16, the same as an .npz)."""
    folder = tmp_path_factory.mktemp("sharded")
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 256, (96, 28, 28), np.uint8), np.arange(96) % 10
    np.savez(folder / "train.npz", x=x, y=y)
    shard_format.write_shards([(x, y)], folder / "shards", images_per_shard=16)
    return str(folder / "shards"), str(folder / "train.npz")


@pytest.fixture(scope="session")
def unaugmented_gan_run(tmp_path_factory, sharded):
    """A conditional GAN on `sharded`'s .npz without --augment: 2 steps."""
    return str(trained(tmp_path_factory, train_gan.main,
                       ["--conditional", *TINY, "--no-augment", "--data-dir", sharded[1], "--steps", 2]))


@pytest.fixture(scope="session")
def vae_run(tmp_path_factory, npz_data):
    """An unconditional VAE on `npz_data` with 4-d codes: 3 steps."""
    return trained(tmp_path_factory, train_vae.main,
                   ["--data-dir", npz_data, "--steps", 3, "--batch-size", 16, "--latent-dim", 4, "--width", 8])


@pytest.fixture(scope="session")
def three_classes(tmp_path_factory):
    """48 random 28x28 'digits' of classes 0, 1 and 2 (an .npz)."""
    return digits(tmp_path_factory.mktemp("three_classes") / "d.npz", [0, 1, 2])


THREE_CLASS_RUN = ["--steps", 2, "--batch-size", 16, "--latent-dim", 4, "--width", 8]  # the runs below, 4-d codes


@pytest.fixture(scope="session")
def three_class_gan_run(tmp_path_factory, three_classes):
    """A conditional GAN on `three_classes`: 2 steps, 4-d codes."""
    return str(trained(tmp_path_factory, train_gan.main, ["--conditional", "--data-dir", three_classes,
                                                          *THREE_CLASS_RUN]))


@pytest.fixture(scope="session")
def three_class_vae_run(tmp_path_factory, three_classes):
    """A conditional VAE on `three_classes`: 2 steps, 4-d codes."""
    return str(trained(tmp_path_factory, train_vae.main, ["--conditional", "--data-dir", three_classes,
                                                          *THREE_CLASS_RUN]))


@pytest.fixture(scope="session")
def three_class_plain_vae_run(tmp_path_factory, three_classes):
    """An unconditional VAE on `three_classes`: 2 steps, 4-d codes."""
    return str(trained(tmp_path_factory, train_vae.main, ["--data-dir", three_classes, *THREE_CLASS_RUN]))


@pytest.fixture(scope="session")
def source_run(tmp_path_factory, three_classes):
    """A finished conditional GAN on `three_classes` with 8-d codes and width 8 (not the defaults): 3 steps, one
    epoch; the run --init-from starts from."""
    return str(trained(tmp_path_factory, train_gan.main, ["--conditional", "--data-dir", three_classes, "--steps", 3,
                                                          *TINY]))
