"""Small-data recipes, chosen on the validation split: which generator training and which `augment` options make
synthetic samples help a classifier that has N real images per class.

    python benchmarks/small_data.py --data-dir ../shared/data/mnist --per-class 10 --seeds 2    # choose
    python benchmarks/small_data.py --data-dir DIR --per-class 10 --seeds 1 --gen-steps 20 --classifier-epochs 1 \
        --synthetic-per-class 20 --out /tmp/smoke                                                # smoke, never a figure

Always the validation split (common.split_arrays): subsets are drawn from 50k training images and scored on 10k
others; the test split is never read, since this script is for choosing. Per seed and size, the subset, its hold-out
slice and the classifier are augmentation_benefit's (early stopping on the slice). Generators (--generators):
train_gan.py and train_vae.py --conditional at their defaults (the small-data length), without and with --augment
(--generator-augment; the GAN's --augment is adaptive, and `fixed` trains it with --no-adaptive-augment). For each,
the file `augment --synthetic-per-class S` writes (the real images plus S samples of each class) trains the
classifier, and variants of it (--variants; by default each changes one thing): as many synthetic images as real
ones (--ratio 1), noise scaled by 0.7 (temperature), the filter (a classifier of the real training images keeps
samples it gives their label with p >= 0.9), classical augmentation on top; and combinations
of those, or the real images repeated to as many as the synthetic ones. Without a file (mix-S, mix-S-classical): the
real images with a share S of every batch fresh samples (mixing.mixed_dataset), as augmentation_benefit's mixing
arms. Baselines: the real images alone, and with classical augmentation.
Writes OUT.json (every row, rewritten after each seed and size) and OUT.md (mean, each seed, margins over the real
images alone and with classical augmentation).
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from augment_tf import cli, data, files, synthesis  # noqa: E402
from benchmarks import augmentation_benefit as benefit  # noqa: E402
from benchmarks.common import split_arrays  # noqa: E402

TEMPERATURE = 0.7
FILTER_THRESHOLD = 0.9
# --generator-augment: each generator trains without / with --augment (for the GAN adaptive by default since
# issue 17), or (the GAN) with --augment at a fixed strength: id -> (--augment or not, more flags, name suffix)
GENERATOR_AUGMENT = {
    "off": (False, (), ""),
    "on": (True, (), " --augment"),
    "fixed": (True, ("--no-adaptive-augment",), " --augment --no-adaptive-augment"),
}
ONE_AT_A_TIME = "plain,ratio-1,temperature,filter,classical"
MIX_SHARES = (0.1, 0.25, 0.5)  # shares of each classifier batch drawn fresh from the generator (mixing.mixed_dataset)


def variants(per_class):
    """{id: (row name, synthesis.augmented_arrays options, plus 'classical' and 'real_copies')}: the plain file of
    `per_class` samples a class, one change at a time, and the combinations tried after those (--variants picks)."""
    plain = {"per_class": per_class}
    temperature, filtered = {"temperature": TEMPERATURE}, {"filter_threshold": FILTER_THRESHOLD}
    return {
        "plain": (f"file ({per_class} per class)", plain),
        "ratio-1": ("file, as many synthetic as real", {"ratio": 1.0}),
        "temperature": (f"file, temperature {TEMPERATURE}", {**plain, **temperature}),
        "filter": (f"file, filtered at {FILTER_THRESHOLD}", {**plain, **filtered}),
        "classical": ("file + classical", {**plain, "classical": True}),
        "real-copies": ("file, real images repeated to half", {**plain, "real_copies": True}),
        "temperature-filter": (f"file, temperature {TEMPERATURE}, filtered", {**plain, **temperature, **filtered}),
        "temperature-classical": (f"file, temperature {TEMPERATURE} + classical",
                                  {**plain, **temperature, "classical": True}),
        "real-copies-temperature": (f"file, temperature {TEMPERATURE}, real repeated to half",
                                    {**plain, **temperature, "real_copies": True}),
        "ratio-1-temperature": (f"file, as many synthetic as real, temperature {TEMPERATURE}",
                                {"ratio": 1.0, **temperature}),
        "ratio-1-classical": ("file, as many synthetic as real + classical", {"ratio": 1.0, "classical": True}),
        **{f"mix-{share:g}": (f"no file: {share:.0%} of each batch fresh synthetic", {"mix": share})
           for share in MIX_SHARES},
        **{f"mix-{share:g}-classical": (f"no file: {share:.0%} of each batch fresh synthetic + classical",
                                        {"mix": share, "classical": True}) for share in MIX_SHARES},
    }


def repeat_real(x, y, is_synthetic):
    """The real images repeated (whole copies) until they are about as many as the synthetic ones."""
    copies = max(1, round(is_synthetic.sum() / max(1, (~is_synthetic).sum())))
    real = np.flatnonzero(~is_synthetic)
    idx = np.concatenate([np.tile(real, copies), np.flatnonzero(is_synthetic)])
    return x[idx], y[idx]


def one_size(train_split, scored, per_class, seed, args, work_dir):
    """Rows of every arm for one draw of `per_class` real images of each class."""
    rng = np.random.default_rng([seed, per_class])
    train, val = benefit.hold_out(*benefit.draw(*train_split, [per_class] * benefit.NUM_CLASSES, rng), rng)
    context = {"per_class": per_class, "seed": seed}
    rows = []

    def fit(generator, variant, x, y, classical=False, mix=None):
        begin = time.perf_counter()
        model, epochs = benefit.fit_classifier(x, y, val, seed=seed, epochs=args.classifier_epochs,
                                               patience=args.patience, classical=classical, mix=mix)
        held_out = benefit.scores(model, *val)
        rows.append({**context, "generator": generator, "variant": variant,
                     "accuracy": benefit.scores(model, *scored)["accuracy"], "slice_loss": held_out["loss"],
                     "n_train": len(y), "epochs": epochs, "seconds": time.perf_counter() - begin})
        print(json.dumps(rows[-1]), flush=True)
        return model

    real_model = fit("none", "real only", *train)
    fit("none", "real + classical", *train, classical=True)
    every = variants(args.synthetic_per_class)
    chosen = {every[v][0]: every[v][1] for v in args.variants}
    generators = []
    for augment_id in args.generator_augment:
        generator_augment, flags, suffix = GENERATOR_AUGMENT[augment_id]
        trained = benefit.train_generators(*train, seed, args.gen_steps, os.path.join(work_dir, augment_id),
                                           generator_augment, names=args.generators, flags=flags)
        generators += benefit.generator_rows(trained, {**context, "generator_augment": generator_augment})
        for name, (sampler, config, _) in trained.items():
            generator = name + suffix
            for variant, options in chosen.items():
                options = dict(options)
                classical, real_copies = options.pop("classical", False), options.pop("real_copies", False)
                if "mix" in options:  # the real images, with a share of every batch drawn fresh
                    fit(generator, variant, *train, classical=classical, mix=(sampler, config, options["mix"]))
                    continue
                x, y, is_synthetic = synthesis.augmented_arrays(sampler, config, *train, seed=seed,
                                                              classifier=real_model, **options)
                fit(generator, variant, *(repeat_real(x, y, is_synthetic) if real_copies else (x, y)),
                    classical=classical)
    return rows, generators


def summary_table(rows):
    """Markdown: per (size, generator, variant), mean accuracy, each seed, and each seed's margins over the real
    images alone and with classical augmentation."""
    lines = ["| per class | generator | variant | accuracy: mean (min-max) | each seed | − real only, each seed | "
             "− real + classical, each seed |", "|---|---|---|---|---|---|---|"]
    baseline = {(r["variant"], r["per_class"], r["seed"]): r["accuracy"] for r in rows if r["generator"] == "none"}
    for key in dict.fromkeys((r["per_class"], r["generator"], r["variant"]) for r in rows):
        group = [r for r in rows if (r["per_class"], r["generator"], r["variant"]) == key]
        acc = np.array([r["accuracy"] for r in group])
        margins = [", ".join(f"{100 * (r['accuracy'] - baseline[base, r['per_class'], r['seed']]):+.1f}"
                             for r in group) for base in ("real only", "real + classical")]
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {acc.mean():.4f} ({acc.min():.4f}-{acc.max():.4f}) | "
                     f"{', '.join(f'{a:.4f}' for a in acc)} | {' | '.join(margins)} |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get(data.DATA_DIR_ENV))
    parser.add_argument("--per-class", default="10", help="real images per class, e.g. 10,50")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--gen-steps", type=int, default=0, help="generator steps; 0 (default): train_*.py defaults")
    parser.add_argument("--synthetic-per-class", type=int, default=1000, help="S of the plain augment call")
    parser.add_argument("--variants", default=ONE_AT_A_TIME,
                        help="which of augment's files train a classifier (ids in variants()), e.g. "
                        "plain,temperature,temperature-filter")
    parser.add_argument("--generators", default=",".join(benefit.GENERATORS), help="GAN and/or VAE")
    parser.add_argument("--generator-augment", default="off,on", help="generators without (off) and/or with (on) "
                        "--augment, or (the GAN only) with --augment --no-adaptive-augment (fixed)")
    parser.add_argument("--classifier-epochs", type=int, default=benefit.FULL["classifier_epochs"])
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/small_data/small_data_validation")
    args = parser.parse_args(argv)
    args.per_class = [int(v) for v in args.per_class.split(",")]
    args.variants, args.generators = args.variants.split(","), args.generators.split(",")
    args.generator_augment = args.generator_augment.split(",")
    for given, known in ((args.variants, variants(0)), (args.generators, benefit.GENERATORS),
                         (args.generator_augment, GENERATOR_AUGMENT)):
        if set(given) - set(known):
            parser.error(f"unknown {sorted(set(given) - set(known))}: choose from {', '.join(known)}")
    if "fixed" in args.generator_augment and args.generators != ["GAN"]:
        parser.error("--generator-augment fixed is a GAN option (train_gan.py --no-adaptive-augment): pass "
                     "--generators GAN")
    return args


def main(argv=None):
    args = parse_args(argv)
    train_split, scored, _, _ = split_arrays(args.data_dir, "validation")
    rows, generators, begin = [], [], time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for per_class in args.per_class:
            with tempfile.TemporaryDirectory() as work_dir:
                new_rows, new_generators = one_size(train_split, scored, per_class, seed, args, work_dir)
            rows, generators = rows + new_rows, generators + new_generators
            files.write_json(f"{args.out}.json", {"rows": rows, "generators": generators, "split": "validation",
                                                  "settings": vars(args), "command": " ".join(sys.argv)})
    text = f"{summary_table(rows)}\n\nScored: validation. Total time: {(time.perf_counter() - begin) / 60:.1f} min.\n"
    files.write_text(f"{args.out}.md", text)
    print(text)


if __name__ == "__main__":
    cli.run(main)
