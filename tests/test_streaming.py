"""Training from a sharded folder (augment_tf.sources): streamed or read into memory, resumed, on two workers, and
the bad shards a stream meets mid-run."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from augment_tf import augment, data, generate, metrics, reference, runs, sampling, shard_format, sources, synthesis
from augment_tf import train_gan, train_vae, training, training_options
from augment_tf.errors import DataError
from augment_tf.models import ConditionalVAE
from benchmarks.distributed import free_ports
from tests import conftest
from tests.conftest import command_error

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--conditional", *conftest.TINY, "--no-augment"]


def weights(run, name="generator.keras"):
    return keras.saving.load_model(os.path.join(run, name)).get_weights()


def assert_same(a, b):
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-5)


def test_a_small_folder_reads_into_memory_and_trains_as_its_npz_does(sharded, tmp_path, capsys):
    folder, npz = sharded
    train_gan.main([*TINY, "--data-dir", folder, "--epochs", "2", "--out", str(tmp_path / "shards")])
    assert f"reading {folder} into memory: 96 images" in capsys.readouterr().err
    train_gan.main([*TINY, "--data-dir", npz, "--epochs", "2", "--out", str(tmp_path / "npz")])
    assert_same(weights(tmp_path / "shards"), weights(tmp_path / "npz"))  # the same images in the same order
    assert json.loads((tmp_path / "shards" / "config.json").read_text())["streamed"] is False


@pytest.mark.slow  # interrupt and resume, twice the training: the default run's resume checks are test_training's
def test_a_streamed_run_resumes_exactly_where_it_stopped(sharded, tmp_path, capsys, monkeypatch):
    folder, _ = sharded
    monkeypatch.setattr(sources, "IN_MEMORY_BYTES", 1000)  # 'auto' streams this folder now
    common = [*TINY, "--data-dir", folder, "--shuffle-buffer", "40"]
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    train_gan.main([*common, "--epochs", "3", "--out", str(straight)])
    assert f"streaming {folder}: 96 images" in capsys.readouterr().err
    config = json.loads((straight / "config.json").read_text())
    assert config["streamed"] is True and config["steps_per_epoch"] == 6 and config["shuffle_buffer"] == 40
    train_gan.main([*common, "--epochs", "1", "--out", str(interrupted)])
    monkeypatch.setattr(sources, "IN_MEMORY_BYTES", 2**40)  # the resumed run keeps streaming, as it started
    train_gan.main(["--out", str(interrupted), "--resume", "--epochs", "3"])
    assert runs.completed_epochs(interrupted) == 3
    assert_same(weights(straight), weights(interrupted))


@pytest.mark.slow  # interrupt and resume, twice the training: the default run's resume checks are test_training's
def test_steps_that_cut_passes_resume_mid_pass(sharded, tmp_path, monkeypatch):
    """A --steps budget whose epochs end inside a pass: the resumed run skips into that pass, not past it."""
    folder, _ = sharded
    monkeypatch.setattr(training_options, "MIN_EPOCH_STEPS", 9)  # epochs of 9 steps, passes of 6
    common = [*TINY, "--data-dir", folder, "--stream", "on"]
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    train_gan.main([*common, "--steps", "18", "--out", str(straight)])
    assert json.loads((straight / "config.json").read_text())["steps_per_epoch"] == 9
    train_gan.main([*common, "--steps", "9", "--out", str(interrupted)])
    train_gan.main(["--out", str(interrupted), "--resume", "--steps", "18"])
    assert_same(weights(straight), weights(interrupted))


def test_a_streamed_vae_fits_its_prior_from_chunks_as_from_arrays(sharded, tmp_path):
    folder, npz = sharded
    common = [*TINY, "--epochs", "1", "--data-dir"]
    train_vae.main([*common, folder, "--stream", "on", "--out", str(tmp_path / "streamed")])
    model = keras.saving.load_model(tmp_path / "streamed" / "checkpoint.keras")
    x = np.load(npz)["x"][..., None] / 255.0
    y = np.load(npz)["y"]
    names = ("prior_mean", "prior_scale")
    model.fit_latent_prior(x.astype("float32"), y)  # in memory, in batches of 500
    in_memory = [model.prior.get_layer(name).get_weights()[0] for name in names]
    model.fit_latent_prior_to([(x[i:i + 7].astype("float32"), y[i:i + 7]) for i in range(0, 96, 7)])
    assert_same(in_memory, [model.prior.get_layer(name).get_weights()[0] for name in names])
    sampler = keras.saving.load_model(tmp_path / "streamed" / "sampler.keras")  # fitted at the end of training
    assert_same(in_memory, [sampler.get_layer(name).get_weights()[0] for name in names])


def test_the_prior_from_chunks_matches_the_sample_moments():
    """One class of 3 images: the fitted mean is their posterior means' mean, the scale's square their covariance
    plus the mean posterior variance."""
    model = ConditionalVAE(image_shape=(8, 8, 1), num_classes=2, latent_dim=2, width=4)
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype("float32")
    labels = np.array([0, 1, 0, 1, 0])
    model.fit_latent_prior_to([(x[:2], labels[:2]), (x[2:], labels[2:])])
    mean, log_var = model.encode(x[labels == 0], labels[labels == 0])
    expected = np.cov(mean, rowvar=False) + np.diag(np.exp(log_var).mean(axis=0))
    m = keras.ops.convert_to_numpy(model.prior.get_layer("prior_mean").embeddings)[0]
    scale = keras.ops.convert_to_numpy(model.prior.get_layer("prior_scale").embeddings)[0].reshape(2, 2)
    np.testing.assert_allclose(m, mean.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scale @ scale.T, expected + 1e-6 * np.eye(2), rtol=1e-4, atol=1e-6)


def test_a_corrupt_shard_met_in_epoch_3_is_one_line_and_keeps_epoch_2(sharded, tmp_path, capsys):
    folder, _ = sharded
    copy = tmp_path / "shards"
    shard_format.write_shards(shard_format.read_chunks(folder), copy, images_per_shard=16)
    run = tmp_path / "run"
    common = [*TINY, "--data-dir", str(copy), "--stream", "on", "--out", str(run)]
    assert train_gan.main([*common, "--epochs", "2"]) == 0
    checkpoint = (run / "checkpoint.keras").read_bytes()
    path = copy / "shard-00004.tfrecord"
    damaged = bytearray(path.read_bytes())
    damaged[100] ^= 0xFF  # an image byte of the first record: its checksum fails
    path.write_bytes(bytes(damaged))
    capsys.readouterr()
    code, _, err = command_error(train_gan.main, ["--out", run, "--resume", "--epochs", "4"], capsys)
    assert code == 2, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last == f"error: {path}: record 0 is corrupt (checksum mismatch) or cut short", last
    assert "Traceback" not in err
    assert runs.completed_epochs(run) == 2 and (run / "checkpoint.keras").read_bytes() == checkpoint


def test_bad_folders_and_settings_are_one_line_before_training(sharded, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="empty: --stream on reads a sharded folder; write one with python -m"):
        sources.open_source(data_dir=str(empty), stream="on")
    (empty / "shard-00000.tfrecord").write_bytes(b"")
    with pytest.raises(DataError, match="holds shards but no metadata.json: an unfinished write"):
        sources.open_source(data_dir=str(empty))
    with pytest.raises(DataError, match="--stream on reads a sharded folder"):
        train_gan.main([*TINY, "--data-dir", sharded[1], "--stream", "on", "--out", str(tmp_path / "a")])
    with pytest.raises(DataError, match="is streamed, and --unlabeled images join data held in memory"):
        train_gan.main([*TINY, "--data-dir", sharded[0], "--stream", "on", "--unlabeled", sharded[1],
                        "--out", str(tmp_path / "b")])
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.slow  # 14 s; the default run keeps few labels from arrays and a streamed run
def test_a_streamed_few_labels_run_labels_its_unlabelled_records_and_trains_on_them(sharded, tmp_path):
    """30 labelled and 66 unlabelled records, streamed: the classifier learns from both, its labels are written
    chunk by chunk, and the stream serves each unlabelled record with its label; in memory, the same labels."""
    _, npz = sharded
    x, y = np.load(npz)["x"], np.load(npz)["y"]
    y_few = np.where(np.arange(96) < 30, y, -1)
    folder = tmp_path / "few"
    shard_format.write_shards([(x, y_few)], folder, images_per_shard=32)
    common = [*TINY, "--data-dir", str(folder), "--classifier-steps", "4", "--steps", "3"]
    train_gan.main([*common, "--stream", "on", "--out", str(tmp_path / "streamed")])
    train_gan.main([*common, "--stream", "off", "--out", str(tmp_path / "in_memory")])
    streamed, in_memory = (np.load(tmp_path / run / "pseudo_labels.npz") for run in ("streamed", "in_memory"))
    np.testing.assert_array_equal(streamed["y"][:30], y[:30])  # given labels kept
    assert streamed["y"].shape == (96,) and set(streamed["y"][30:]) <= set(range(10))
    config = json.loads((tmp_path / "streamed" / "config.json").read_text())
    source = training.training_source(config)
    assert source.streamed
    served = np.concatenate([labels for _, labels in source.chunks(10)])
    np.testing.assert_array_equal(served, streamed["y"])  # each record with its own label or its pseudo-label
    batch = next(iter(source.dataset(16, seed=0, value_range=(0.0, 1.0))))[1].numpy()
    assert (batch >= 0).all()
    assert (tmp_path / "streamed" / "classifier.keras").exists() and len(in_memory["y"]) == 96


def cli(*args, env=None):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_two_workers_read_disjoint_shards_covering_all(sharded, tmp_path):
    folder, _ = sharded
    ports, run = free_ports(2), tmp_path / "run"
    flags = [*TINY, "--data-dir", folder, "--stream", "on", "--epochs", "2", "--out", str(run),
             "--strategy", "multi-worker"]
    workers = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "TMPDIR": str(tmp_path)}
        workers.append(subprocess.Popen([sys.executable, "train_gan.py", *flags], cwd=ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert [w.returncode for w in workers] == [0, 0], [err[-2000:] for _, err in outputs]
    read = [[line for line in err.splitlines() if " reads shards " in line] for _, err in outputs]
    assert read == [["worker 0 of 2 reads shards 0, 2, 4 (3 of 6; 48 images)"],
                    ["worker 1 of 2 reads shards 1, 3, 5 (3 of 6; 48 images)"]]
    config = json.loads((run / "config.json").read_text())
    assert config["steps_per_epoch"] == 6 and config["batch_size"] == 16  # 8 from each worker's 48 a step
    assert runs.completed_epochs(run) == 2


# --- writing samples as shards ------------------------------------------------------------------------------------


def test_generate_writes_shards_of_the_same_samples_with_every_class_in_each(unaugmented_gan_run, tmp_path,
                                                                             monkeypatch):
    monkeypatch.setattr(sampling, "CHUNK_BATCHES", 1)  # chunks of 1000: 3 of them, written as they come
    out = tmp_path / "samples"
    generate.main([unaugmented_gan_run, "--n", "2500", "--out", str(out), "--format", "shards",
                   "--images-per-shard", "600", "--grid", str(tmp_path / "grid.png")])
    metadata = shard_format.read_metadata(out)
    assert [s["records"] for s in metadata["shards"]] == [600] * 4 + [100]
    assert metadata["class_counts"] == [250] * 10 and (tmp_path / "grid.png").exists()
    x, y = (np.concatenate(a) for a in zip(*shard_format.read_chunks(out)))
    np.testing.assert_array_equal(y[:12], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])  # cycling: each shard holds every class
    sampler, config = runs.load_sampler(unaugmented_gan_run)
    np.testing.assert_array_equal(x[:20], sampling.sample(sampler, config, labels=y[:20], seed=0,  # --seed's noise,
                                                          temperature=sampling.default_temperature(config)))  # generate's


def test_a_killed_shard_write_is_finished_by_the_same_command(unaugmented_gan_run, tmp_path, monkeypatch):
    monkeypatch.setattr(sampling, "CHUNK_BATCHES", 1)
    command = [unaugmented_gan_run, "--n", "2500", "--format", "shards", "--images-per-shard", "600"]
    generate.main([*command, "--out", str(tmp_path / "whole")])
    written = []
    real_write = shard_format.write_shards

    def killed_in_the_second(batches, folder, *args, **kwargs):
        def one_shard(batches):  # the process dies with the second shard 400 images in
            for x, y in batches:
                written.append(len(x))
                if sum(written) > 1000:
                    raise KeyboardInterrupt
                yield x, y
        return real_write(one_shard(batches), folder, *args, **kwargs)

    monkeypatch.setattr(shard_format, "write_shards", killed_in_the_second)
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        generate.main([*command, "--out", str(out)])
    assert sorted(n for n in os.listdir(out) if not n.startswith(".plan")) == [
        "shard-00000.tfrecord"]  # whole shards only, the second's temporary file is gone
    # the rerun keeps 600 samples and starts drawing inside the first chunk of 1000
    with pytest.raises(DataError, match="unfinished write of other settings"):
        real_generate = [unaugmented_gan_run, "--n", "2400", "--format", "shards", "--images-per-shard", "600",
                         "--out", str(out)]
        monkeypatch.setattr(shard_format, "write_shards", real_write)
        generate.main(real_generate)
    generate.main([*command, "--out", str(out)])
    assert sorted(os.listdir(out)) == sorted(os.listdir(tmp_path / "whole"))  # no plan left
    for name in os.listdir(out):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    with pytest.raises(DataError, match="already holds a sharded dataset"):
        generate.main([*command, "--out", str(out)])


def test_augment_writes_shards_real_then_synthetic_and_finishes_a_killed_write(unaugmented_gan_run, sharded, tmp_path,
                                                                               monkeypatch):
    folder, npz = sharded
    monkeypatch.setattr(sampling, "CHUNK_BATCHES", 1)  # synthetic chunks of 1000
    monkeypatch.setattr(shard_format, "SHARD_BYTES", 700 * 800)  # shards of 700 images
    command = [unaugmented_gan_run, "--format", "shards", "--synthetic-per-class", "150", "--real", folder,
               "--seed", "3"]
    augment.main([*command, "--out", str(tmp_path / "whole")])
    summary = json.loads((tmp_path / "whole" / "summary.json").read_text())
    assert summary["n_real"] == 96 and summary["n_synthetic"] == 1500 and summary["estimate"] is None
    x, y = (np.concatenate(a) for a in zip(*shard_format.read_chunks(tmp_path / "whole")))
    real = np.load(npz)
    np.testing.assert_array_equal(x[:96, ..., 0], real["x"])  # the real images first, as stored
    assert np.bincount(y[96:]).tolist() == [150] * 10
    assert sorted(set(y[96:96 + 700].tolist())) == list(range(10))  # every class in each chunk, so in each shard

    calls = []
    real_synthesize = synthesis.synthesize

    def killed_in_the_second_chunk(*args, **kwargs):
        calls.append(kwargs["seed"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_synthesize(*args, **kwargs)

    monkeypatch.setattr(synthesis, "synthesize", killed_in_the_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        augment.main([*command, "--out", str(tmp_path / "killed")])
    assert [n for n in os.listdir(tmp_path / "killed") if n.startswith("shard")] == ["shard-00000.tfrecord"]
    calls.clear()
    monkeypatch.setattr(synthesis, "synthesize", lambda *a, **k: (calls.append(k["seed"]), real_synthesize(*a, **k))[1])
    augment.main([*command, "--out", str(tmp_path / "killed")])
    assert calls == [(3, 0), (3, 1)]  # chunk 0 is drawn again for its last 396 samples, then chunk 1
    for name in os.listdir(tmp_path / "whole"):
        if name != "summary.json":
            assert (tmp_path / "killed" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    with pytest.raises(DataError, match="already holds a sharded dataset"):
        augment.main([*command, "--out", str(tmp_path / "killed")])


# --- a dataset sharded per split ----------------------------------------------------------------------------------


def test_a_folder_of_split_shard_folders_serves_training_and_evaluate_streamed(sharded, tmp_path, monkeypatch):
    folder, npz = sharded
    split = tmp_path / "split"
    shard_format.write_shards(shard_format.read_chunks(folder), split / "train", images_per_shard=32)
    rng = np.random.default_rng(9)
    x_test, y_test = rng.integers(0, 256, (40, 28, 28), np.uint8), np.arange(40) % 10
    shard_format.write_shards([(x_test, y_test)], split / "test")
    np.testing.assert_array_equal(data.load_arrays(split="test", data_dir=split)[0][..., 0], x_test)
    monkeypatch.setattr(sources, "IN_MEMORY_BYTES", 1000)  # the train split streams, also for evaluate
    source, how = sources.open_source(data_dir=str(split))
    assert source.streamed and source.folder == str(split / "train") and how.startswith(f"streaming {split}/train")
    samples = rng.integers(0, 256, (30, 28, 28), np.uint8)
    scores = metrics.evaluate_samples(samples, np.arange(30) % 10, data_dir=str(split), classifier_steps=4)
    assert scores["n_samples"] == 30 and 0 <= scores["classifier_test_accuracy"] <= 1
    cached = os.listdir(os.environ[reference.CACHE_ENV])
    assert len(cached) == 1 and shard_format.fingerprint(split / "train") in cached[0]  # no pass over the images for its key
    with pytest.raises(DataError, match="one sharded folder serves every split"):
        metrics.evaluate_samples(samples, data_dir=folder)
