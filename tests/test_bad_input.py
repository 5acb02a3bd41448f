"""Every subcommand, every bad input a careless user or a hostile file can hand it (issue 47): one `error:` line that
names what is wrong, exit status 2, no traceback, and nothing written at --out.

Each row is (command line, the input it reads or None, what the one line must say). In a command line, {vae} {cvae} {gan} {ugan} are trained
runs (unconditional VAE, conditional VAE, conditional GAN, unconditional GAN: the session's tiny ones), {damaged} a
copy of one damaged as the row's `damage` says, {in} an input .npz the row's `given` writes, {tmp} a scratch folder
and {out} a path in a folder that must stay empty."""

import importlib
import json
import os
import shutil
import zipfile

import numpy as np
import pytest

from augment_tf import cli, train_gan
from tests.conftest import TINY, command_error, trained

GOOD_X = np.zeros((6, 28, 28), np.uint8)


def npz(**arrays):
    """An input that is this .npz."""
    return lambda path: np.savez(path, **arrays)


def images(x):
    """An input of images `x` beside six good labels and a full mask: what is wrong is x alone."""
    return npz(x=x, y=np.zeros(6, np.int64), mask=np.ones((6, 28, 28), np.uint8))


def raw(content):
    """An input whose bytes are `content`."""
    return lambda path: open(path, "wb").write(content)


def truncated_npz(path):
    np.savez(path, x=np.arange(28 * 28 * 64, dtype=np.uint8).reshape(64, 28, 28))
    content = open(path, "rb").read()
    open(path, "wb").write(content[: len(content) // 2])


def object_npz(path):
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object))


def entry_not_npy(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", b"this is not an array")


# Inputs: name -> writer of the file {in} names
INPUTS = {
    "text": raw(b"hello, not an archive\n"),
    "empty_file": raw(b""),
    "truncated": truncated_npz,
    "objects": object_npz,
    "bad_entry": entry_not_npy,
    "no_x": npz(y=np.zeros(6, np.int64)),
    "zero_d": images(np.array(5)),
    "one_d": images(np.zeros(784, np.uint8)),
    "five_d": images(np.zeros((1, 2, 28, 28, 1), np.uint8)),
    "no_images": npz(x=np.zeros((0, 28, 28), np.uint8), y=np.zeros(0, np.int64)),
    "strings": images(np.full((6, 28, 28), "a")),
    "bools": images(np.zeros((6, 28, 28), bool)),
    "complex": images(np.zeros((6, 28, 28), complex)),
    "nan": images(np.full((6, 28, 28), np.nan, np.float32)),
    "inf": images(np.full((6, 28, 28), np.inf, np.float32)),
    "floats": images(np.full((6, 28, 28), 0.5, np.float32)),
    "negative": images(np.full((6, 28, 28), -3, np.int16)),
    "above_255": images(np.full((6, 28, 28), 300, np.int32)),
    "small_images": images(np.zeros((6, 14, 14), np.uint8)),
    "colour_images": images(np.zeros((6, 28, 28, 3), np.uint8)),
    "fraction_labels": npz(x=GOOD_X, y=np.full(6, 0.5)),
    "float_labels": npz(x=GOOD_X, y=np.ones(6)),
    "string_labels": npz(x=GOOD_X, y=np.array(list("abcdef"))),
    "zero_d_labels": npz(x=GOOD_X, y=np.array(1)),
    "few_labels": npz(x=GOOD_X, y=np.zeros(5, np.int64)),
    "label_7": npz(x=GOOD_X, y=np.full(6, 7)),
    "negative_labels": npz(x=GOOD_X, y=np.full(6, -2)),
    "no_labels": npz(x=GOOD_X),
    "labels": npz(x=GOOD_X, y=np.zeros(6, np.int64)),
    "mask_missing": npz(x=GOOD_X),
    "good_masked": npz(x=GOOD_X, mask=np.ones_like(GOOD_X)),
    "good_floats": npz(x=np.full((6, 28, 28), 0.5, np.float32)),
    "mask_shape": npz(x=GOOD_X, mask=np.ones((6, 27, 28), np.uint8)),
    "mask_values": npz(x=GOOD_X, mask=np.full((6, 28, 28), 2, np.uint8)),
    "mask_nan": npz(x=GOOD_X, mask=np.full((6, 28, 28), np.nan)),
    "mask_strings": npz(x=GOOD_X, mask=np.full((6, 28, 28), "1")),
}


def config_edit(**changes):
    """A damage: config.json with these fields changed (None: removed)."""
    def damage(run):
        config = json.loads((run / "config.json").read_text())
        for key, value in changes.items():
            config.pop(key) if value is None else config.update({key: value})
        (run / "config.json").write_text(json.dumps(config))
    return damage


def replaced(name, content):
    """A damage: RUN/name holds `content` instead."""
    return lambda run: (run / name).write_bytes(content)


def truncated(name):
    """A damage: RUN/name cut in half."""
    return lambda run: (run / name).write_bytes((run / name).read_bytes()[: (run / name).stat().st_size // 2])


def removed(name):
    return lambda run: os.remove(run / name)


def foreign(name):
    """A damage: RUN/name is another Keras model (a small dense network), loadable but not this run's."""
    def damage(run):
        import keras

        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        os.remove(run / name)
        model.save(run / name)
    return damage


# Damages: name -> change made to a copy of a run
DAMAGES = {
    "config_not_json": replaced("config.json", b"{not json"),
    "config_a_list": replaced("config.json", b"[1, 2]"),
    "config_binary": replaced("config.json", b"\x89PNG\r\n\x1a\n\0\0"),
    "no_config": removed("config.json"),
    "no_image_shape": config_edit(image_shape=None),
    "image_shape_text": config_edit(image_shape="28x28"),
    "image_shape_2d": config_edit(image_shape=[28, 28]),
    "no_sampler": config_edit(sampler=None),
    "sampler_number": config_edit(sampler=3),
    "sampler_path": config_edit(sampler="../../etc/passwd"),
    "num_classes_text": config_edit(num_classes="ten"),
    "num_classes_negative": config_edit(num_classes=-3),
    "no_model": config_edit(model=None),
    "model_unknown": config_edit(model="Transformer"),
    "value_range_text": config_edit(value_range="0..1"),
    "latent_dim_zero": config_edit(latent_dim=0),
    "state_not_json": replaced("state.json", b"epoch 3"),
    "state_no_epoch": replaced("state.json", b"{}"),
    "state_epoch_text": replaced("state.json", b'{"epoch": "three"}'),
    "decoder_truncated": truncated("decoder.keras"),
    "decoder_text": replaced("decoder.keras", b"not a model"),
    "decoder_foreign": foreign("decoder.keras"),
    "encoder_foreign": foreign("encoder.keras"),
    "sampler_foreign": foreign("sampler.keras"),
    "generator_truncated": truncated("generator.keras"),
    "generator_foreign": foreign("generator.keras"),
    "checkpoint_truncated": truncated("checkpoint.keras"),
    "checkpoint_foreign": foreign("checkpoint.keras"),
    "no_samples": lambda run: shutil.rmtree(run / "samples"),
    "sample_png_corrupt": lambda run: [(p.write_bytes(b"\x89PNG\r\n\x1a\nbroken")) for p in
                                       sorted((run / "samples").glob("epoch_*.png"))[:1]],
    "sample_png_text": lambda run: [(p.write_bytes(b"hello")) for p in sorted((run / "samples").glob("epoch_*.png"))],
}

IN, OUT = ["--in", "{in}"], ["--out", "{out}"]

# (command line, input or damage, what the one line says)
CASES = [
    # ---- generate
    ("generate {gan} --n 4 --out {out}/s.npz --labels 3,x", None, "--labels"),
    ("generate {gan} --n 4 --out {out}/s.npz --labels 12", None, "12"),
    ("generate {gan} --n -4 --out {out}/s.npz", None, "--n must be a positive integer, got -4"),
    ("generate {gan} --n 4 --out {out}/s.txt", None, "--out must end in .npz"),
    ("generate {gan} --n 4 --out {out}/s.npz --grid {out}/grid.txt", None, "--grid"),
    ("generate {gan} --n 4 --out {out}/s.npz --grid {tmp}/a_file/grid.png", None, "a_file"),
    ("generate {gan} --n 4 --out {out}/s.npz --format shards", None, "drop the .npz"),
    ("generate {gan} --n 4 --out {out}/s --images-per-shard 0 --format shards", None, "--images-per-shard"),
    ("generate {ugan} --n 4 --out {out}/s.npz --labels 1", None, "unconditional"),
    ("generate {vae} --n 10000000000000 --out {out}/s.npz", None, "free"),
    ("generate {tmp}/a_file --n 4 --out {out}/s.npz", None, "a_file"),
    ("generate {gan} --n 4 --out {out}/s.npz --temperature -1", None, "--temperature"),
    ("generate {gan} --n 4 --out {out}/s.npz --temperature nan", None, "--temperature"),
    ("generate {gan} --n 4 --out {out}/s.npz --temperature warm", None, "not a number: 'warm'"),
    ("generate {gan} --out {out}/s.npz", None, "the following arguments are required: --n"),
    ("generate {gan} --n four --out {out}/s.npz", None, "invalid int value: 'four'"),
    # ---- evaluate
    ("evaluate {in}", "text", "not an .npz archive"),
    ("evaluate {in}", "empty_file", "not an .npz archive"),
    ("evaluate {in}", "truncated", "{in}"),
    ("evaluate {in}", "objects", "Python objects"),
    ("evaluate {in}", "bad_entry", "{in}"),
    ("evaluate {in}", "no_x", "missing array 'x'"),
    ("evaluate {in}", "zero_d", "{in}"),
    ("evaluate {in}", "strings", "{in}"),
    ("evaluate {in}", "nan", "{in}"),
    ("evaluate {in}", "fraction_labels", "{in}"),
    ("evaluate {in}", "few_labels", "{in}"),
    ("evaluate {in}", "no_images", "{in}"),
    ("evaluate {in} --max-samples 0", "labels", "--max-samples"),
    ("evaluate {in} --classifier-steps -1", "labels", "--classifier-steps"),
    ("evaluate {in} --data-dir {tmp}/missing", "labels", "missing"),
    ("evaluate {tmp}", None, "{tmp}"),
    # ---- augment
    ("augment {cvae} --ratio 1 --out {out}/a.npz --real {in}", "nan", "{in}"),
    ("augment {cvae} --ratio 1 --out {out}/a.npz --real {in}", "fraction_labels", "{in}"),
    ("augment {cvae} --ratio 1 --out {out}/a.npz --real {in}", "small_images", "{in}"),
    ("augment {cvae} --ratio 1 --out {out}/a.npz --real {in}", "label_7", "{in}"),
    ("augment {cvae} --ratio 1 --out {out}/a.npz --real {in}", "zero_d", "{in}"),
    ("augment {cvae} --ratio 1 --out {out}/a.npz --real {in}", "truncated", "{in}"),
    ("augment {cvae} --ratio -1 --out {out}/a.npz", None, "--ratio"),
    ("augment {cvae} --synthetic-per-class 0 --out {out}/a.npz", None, "--synthetic-per-class"),
    ("augment {cvae} --synthetic-per-class -5 --out {out}/a.npz", None, "--synthetic-per-class"),
    ("augment {cvae} --ratio nan --out {out}/a.npz", None, "--ratio"),
    ("augment {cvae} --balance --balance-share 2 --out {out}/a.npz", None, "--balance-share"),
    ("augment {cvae} --ratio 1 --classes 9 --out {out}/a.npz", None, "9"),
    ("augment {cvae} --ratio 1 --filter --threshold 0 --out {out}/a.npz", None, "--threshold"),
    ("augment {cvae} --ratio 1 --out {out}/a.npz --held-out {tmp}/missing.npz --real {in}", "labels", "missing.npz"),
    ("augment {vae} --ratio 1 --out {out}/a.npz", None, "conditional"),
    ("augment {cvae} --ratio 1 --out {out}/a.npz --temperature inf", None, "--temperature"),
    ("augment {cvae} --ratio 1 --out {out}/a.idx --format idx --real {in}", "colour_images", "{in}"),
    ("augment {cvae} --synthetic-per-class 100000000000 --out {out}/a.npz --no-estimate --real {in}", "labels", "free"),
    # ---- impute
    ("impute {vae} --in {in} --out {out}/r.npz", "mask_missing", "missing array 'mask'"),
    ("impute {vae} --in {in} --out {out}/r.npz", "mask_shape", "mask must have x's shape"),
    ("impute {vae} --in {in} --out {out}/r.npz", "mask_values", "only 0 (missing) and 1"),
    ("impute {vae} --in {in} --out {out}/r.npz", "mask_nan", "only 0 (missing) and 1"),
    ("impute {vae} --in {in} --out {out}/r.npz", "mask_strings", "{in}"),
    ("impute {vae} --in {in} --out {out}/r.npz", "zero_d", "{in}"),
    ("impute {vae} --in {in} --out {out}/r.npz", "nan", "{in}"),
    ("impute {vae} --in {in} --out {out}/r.npz", "strings", "{in}"),
    ("impute {vae} --in {in} --out {out}/r.npz", "objects", "Python objects"),
    ("impute {vae} --in {in} --out {out}/r.npz --iterations 0", "mask_values", "--iterations"),
    ("impute {gan} --in {in} --out {out}/r.npz", "mask_values", "needs a VAE run"),
    ("impute {in} --in {in} --out {out}/r.npz", "mask_values", "is a file, not a run directory"),
    # ---- denoise
    ("denoise {vae} --in {in} --out {out}/c.npz", "zero_d", "{in}"),
    ("denoise {vae} --in {in} --out {out}/c.npz", "nan", "NaN"),
    ("denoise {vae} --in {in} --out {out}/c.npz", "inf", "{in}"),
    ("denoise {vae} --in {in} --out {out}/c.npz", "strings", "{in}"),
    ("denoise {vae} --in {in} --out {out}/c.npz", "complex", "{in}"),
    ("denoise {vae} --in {in} --out {out}/c.npz", "negative", "0..255"),
    ("denoise {vae} --in {in} --out {out}/c.npz", "no_images", "{in}"),
    ("denoise {vae} --in {in} --out {out}/c.npz", "labels", "drop y"),
    ("denoise {cvae} --in {in} --out {out}/c.npz", "fraction_labels", "{in}"),
    ("denoise {cvae} --in {in} --out {out}/c.npz", "label_7", "{in}"),
    ("denoise {vae} --in {in} --out {out}/c.npz", "mask_values", "only 0 (missing) and 1"),
    ("denoise {vae} --in {in} --out {out}/c.npz --steps 0", "floats", "--steps"),
    ("denoise {vae} --in {in} --out {out}/c.npz --noise-std nan", "floats", "--noise-std"),
    # ---- encode
    ("encode {vae} --in {in} --out {out}/c.npz", "zero_d", "{in}"),
    ("encode {vae} --in {in} --out {out}/c.npz", "one_d", "{in}"),
    ("encode {vae} --in {in} --out {out}/c.npz", "five_d", "{in}"),
    ("encode {vae} --in {in} --out {out}/c.npz", "nan", "{in}"),
    ("encode {vae} --in {in} --out {out}/c.npz", "strings", "{in}"),
    ("encode {vae} --in {in} --out {out}/c.npz", "bools", "{in}"),
    ("encode {vae} --in {in} --out {out}/c.npz", "above_255", "{in}"),
    ("encode {vae} --in {in} --out {out}/c.npz", "small_images", "(14, 14, 1)"),
    ("encode {vae} --in {in} --out {out}/c.npz", "zero_d_labels", "{in}"),
    ("encode {cvae} --in {in} --out {out}/c.npz", "no_labels", "needs the labels y"),
    ("encode {cvae} --in {in} --out {out}/c.npz", "fraction_labels", "{in}"),
    ("encode {cvae} --in {in} --out {out}/c.npz", "string_labels", "{in}"),
    ("encode {cvae} --in {in} --out {out}/c.npz", "negative_labels", "{in}"),
    ("encode {vae} --in {in} --out {out}/c.npz --map {out}/map.jpg", "labels", "--map"),
    # ---- condense
    ("condense {cvae} --per-class 0 --out {out}/s.npz", None, "--per-class"),
    ("condense {cvae} --per-class 2 --steps -1 --out {out}/s.npz", None, "--steps"),
    ("condense {cvae} --per-class 2 --out {out}/s.npz --real {in}", "small_images", "{in}"),
    ("condense {cvae} --per-class 2 --out {out}/s.npz --real {in}", "nan", "{in}"),
    ("condense {cvae} --per-class 2 --out {out}/s.npz --real {in}", "label_7", "{in}"),
    ("condense {vae} --per-class 2 --out {out}/s.npz", None, "unconditional"),
    ("condense {cvae} --per-class 2 --out {out}/s.npz --temperature -0.5", None, "--temperature"),
    # ---- shard
    ("shard {in} --out {out}/s", "nan", "{in}"),
    ("shard {in} --out {out}/s", "zero_d", "{in}"),
    ("shard {in} --out {out}/s", "fraction_labels", "{in}"),
    ("shard {in} --out {out}/s", "text", "{in}"),
    ("shard {in} --out {out}/s --images-per-shard -1", "labels", "--images-per-shard"),
    ("shard {tmp} --out {out}/s", None, "{tmp}"),
    # ---- pictures
    ("pictures {gan} --out {out}/p --scale 0", None, "--scale"),
    ("pictures {gan} --out {tmp}/a_file", None, "a_file"),
    ("pictures {gan} --out {out}/p --temperature -2", None, "--temperature"),
    ("pictures {gan} --out {out}/p --colour red", None, "unrecognized arguments: --colour red"),
    ("pictures {vae} --out {out}/p --data-dir {in}", "nan", "{in}"),
    ("pictures {vae} --out {out}/p --data-dir {in}", "small_images", "{in}"),
    # ---- an --out no file can be written to, for every command that writes
    ("generate {gan} --n 4 --out {tmp}/a_file/s.npz", None, "a_file is a file"),
    ("augment {cvae} --ratio 1 --out {tmp}/a_file/a.npz --real {in}", "labels", "a_file is a file"),
    ("impute {vae} --in {in} --out {tmp}/a_file/r.npz", "good_masked", "a_file is a file"),
    ("denoise {vae} --in {in} --out {tmp}/a_file/c.npz", "good_floats", "a_file is a file"),
    ("encode {vae} --in {in} --out {tmp}/a_file/c.npz", "no_labels", "a_file is a file"),
    ("condense {cvae} --per-class 1 --out {tmp}/a_file/s.npz", None, "a_file is a file"),
    ("shard {in} --out {tmp}/a_file/s", "labels", "a_file is a file"),
    ("pictures {gan} --out {tmp}/a_file/p", None, "a_file"),
    ("train-gan --data-dir {in} --out {tmp}/a_file/run --steps 1", "labels", "a_file"),
    ("impute {vae} --in {in} --out {tmp}", "good_masked", "--out must end in .npz"),
    ("encode {vae} --in {in} --out {out}/c.npz --map {tmp}", "no_labels", "--map must end in .png"),
    # ---- training
    ("train-gan --data-dir {in} --out {out}/run --steps 1", "nan", "{in}"),
    ("train-gan --data-dir {in} --out {out}/run --steps 1", "zero_d", "{in}"),
    ("train-vae --data-dir {in} --out {out}/run --steps 1 --conditional", "fraction_labels", "{in}"),
    ("train-vae --data-dir {in} --out {out}/run --steps 1", "text", "{in}"),
]

# Every command that reads a run, against every damage that applies to it: (command line, damages, run it damages)
RUN_READERS = [
    ("generate {damaged} --n 4 --out {out}/s.npz", "gan"),
    ("generate {damaged} --n 4 --out {out}/s.npz", "vae"),
    ("augment {damaged} --ratio 0.5 --out {out}/a.npz --no-estimate", "cvae"),
    ("impute {damaged} --in {in} --out {out}/r.npz", "vae"),
    ("denoise {damaged} --in {in} --out {out}/c.npz", "vae"),
    ("encode {damaged} --in {in} --out {out}/c.npz --map {out}/map.png", "vae"),
    ("condense {damaged} --per-class 1 --steps 0 --out {out}/s.npz", "cvae"),
    ("pictures {damaged} --out {out}/p", "gan"),
    ("pictures {damaged} --out {out}/p", "vae"),
    ("train-gan --resume --out {damaged} --steps 1", "gan"),
    ("train-vae --resume --out {damaged} --steps 1", "vae"),
]

RUN_FILES = {"gan": {"generator"}, "vae": {"sampler", "decoder", "encoder"}, "cvae": {"sampler", "decoder", "encoder"}}
SAMPLER = {"generator", "sampler"}
MODEL_FILES = {"generate": SAMPLER, "augment": SAMPLER, "condense": SAMPLER,
               "pictures": SAMPLER | {"encoder", "decoder"},
               "impute": {"encoder", "decoder"}, "denoise": {"encoder", "decoder"}, "encode": {"encoder", "decoder"},
               "train-gan": {"checkpoint"}, "train-vae": {"checkpoint"}}


def applies(command, run, damage):
    """Whether a damage touches a file this command reads from this run."""
    name, kind = command.split()[0], damage.split("_")[0]
    if damage.startswith("sampler_") and damage != "sampler_foreign":  # the config's field
        return True
    if kind in ("decoder", "encoder", "generator", "sampler", "checkpoint"):
        return kind in MODEL_FILES[name] and (kind == "checkpoint" or kind in RUN_FILES[run])
    if kind == "state":
        return name.startswith("train")
    if "samples" in damage or kind == "sample":
        return name == "pictures"
    return True


def damaged_file(damage):
    """The file of a run a damage touches, which the one line must name."""
    kind = damage.split("_")[0]
    if kind in ("decoder", "encoder", "generator", "checkpoint") or damage == "sampler_foreign":
        return f"{kind}.keras"
    return {"state": "state.json", "sample": "samples"}.get(kind, "config.json")


DAMAGE_CASES = [(command, run, damage) for command, run in RUN_READERS for damage in DAMAGES
                if applies(command, run, damage)]


@pytest.fixture
def runs(request):
    """The session's tiny runs, by the names command lines use."""
    names = {"vae": "vae_run", "cvae": "three_class_vae_run", "gan": "gan_run", "ugan": "unconditional_gan_run"}
    return lambda name: str(request.getfixturevalue(names[name]))


@pytest.fixture(scope="session")
def unconditional_gan_run(tmp_path_factory, npz_data):
    """An unconditional GAN on `npz_data`: 1 step."""
    return trained(tmp_path_factory, train_gan.main, ["--data-dir", npz_data, "--steps", 1, *TINY])


def answer(capsys, tmp_path, line, given, runs, damaged=None):
    """(exit status, stderr, files left in {out}) of `line` run as its command's entry point."""
    places = {"tmp": str(tmp_path), "out": str(tmp_path / "out"), "in": str(tmp_path / "in.npz")}
    (tmp_path / "a_file").write_text("a file, not a folder")
    if given:
        INPUTS[given](places["in"])
    words = line.split()
    names = {"{vae}", "{cvae}", "{gan}", "{ugan}"}
    argv = [runs(word[1:-1]) if word in names else word.format(damaged=damaged, **places) for word in words[1:]]
    module = cli.COMMANDS[words[0]][0]
    main = importlib.import_module(module).main
    capsys.readouterr()  # what training a session's run said
    code, _, err = command_error(main, argv, capsys)
    left = sorted(os.listdir(tmp_path / "out")) if (tmp_path / "out").exists() else []
    return code, err, left, places


def assert_one_line(code, err, left, fragment):
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert fragment in err, (fragment, err)
    assert left == [], left


@pytest.mark.parametrize("line, given, fragment", CASES, ids=[f"{c[0].split()[0]}-{c[1] or c[2]}-{i}"
                                                            for i, c in enumerate(CASES)])
def test_bad_input_is_one_line(capsys, tmp_path, runs, line, given, fragment):
    code, err, left, places = answer(capsys, tmp_path, line, given, runs)
    assert_one_line(code, err, left, fragment.format(**places))


@pytest.mark.parametrize("line, run, damage", DAMAGE_CASES,
                         ids=[f"{c[0].split()[0]}-{c[1]}-{c[2]}" for c in DAMAGE_CASES])
def test_a_damaged_run_is_one_line_naming_the_file(capsys, tmp_path, runs, line, run, damage):
    damaged = tmp_path / "damaged"
    shutil.copytree(runs(run), damaged)
    DAMAGES[damage](damaged)
    given = {"impute": "good_masked", "denoise": "good_floats", "encode": "no_labels"}.get(line.split()[0])
    code, err, left, _ = answer(capsys, tmp_path, line, given, runs, damaged=str(damaged))
    assert_one_line(code, err, left, f"{damaged}: no samples" if damage == "no_samples" else
                    str(damaged / damaged_file(damage)))
