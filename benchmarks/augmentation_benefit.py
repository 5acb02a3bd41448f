"""Does synthetic data help a small classifier? Low-data and imbalanced MNIST, real vs classical/GAN/VAE augmentation.

    python benchmarks/augmentation_benefit.py --data-dir ../shared/data/mnist             # full: ~1-2 h, 2 CPU cores
    python benchmarks/augmentation_benefit.py --data-dir ../shared/data/mnist --quick     # ~8-13 min: a check
    python benchmarks/augmentation_benefit.py --data-dir DIR --seeds 1 --per-class 10 --imbalance none \
        --gen-steps 50 --classifier-epochs 2 --synthetic-per-class 50 --out /tmp/smoke    # smoke, never a figure
    python benchmarks/augmentation_benefit.py --pool A.json B.json --out AB     # seeds run apart, one report

Classifier: the same for every arm, reference.build_classifier (raw 0..255 images), Adam 1e-3, batch 128, early
stopping on the loss of a held-out slice of the real subset (VAL_FRACTION of each class, at least 1 image) with the
best weights restored. An epoch is one pass over its training set, but at least 2048 and at most 8192 samples
(EPOCH_SAMPLES), and at most --classifier-epochs of them. Accuracies are on the whole real MNIST test split (--split
test, to report), or on 10k training images held out from where subsets are drawn (--split validation, to choose
shares and recipes: common.split_arrays); tables give mean ± std (min–max) over --seeds seeds from --first-seed
(seed s draws the subset and seeds generators and classifiers).

Low data (--per-class N): N real train images of each class. Arms: real only; + classical augmentation
(RandomTranslation 0.1, RandomRotation ±10°, RandomZoom ±10%, drawn afresh every batch); + GAN; + VAE (every batch
--synthetic-share fresh samples, uniform over classes, from a conditional model, the rest real: mixing.mixed_dataset;
several shares: one arm each, here and in the transfer arms; train_gan.py / train_vae.py train the models on the
training part of the subset only, for --gen-steps steps, or 0: their small-data defaults, with --augment unless
--no-generator-augment); + classical + the better generator, the classical layers then transforming real and synthetic
images alike; CAS GAN / VAE: trained on --synthetic-per-class fixed samples of each class alone; augment output (GAN /
VAE): trained on the real images plus those samples, the file `augment --synthetic-per-class` writes, beside what
augment's estimate (benefit.py, on the training part) predicted for it (it drops held-out copies), the plain
cross-validation it replaced, and the estimate scored on the held-out slice, which the generators never saw (augment
--held-out) (ESTIMATES; --estimates picks). The better generator is the one whose CAS classifier has the lower loss on
the held-out real slice: its samples alone best predict real images (a loss, because accuracy on a slice of 20 images
moves in steps of 5%).
Transfer (--transfer N): N real train images of each of digits 5-9, scored on the test images of 5-9. Generators
(--gen-steps, --generator-augment as above) are fine-tuned with --init-from from runs that learned digits 0-4 from
every training image (train_*.py's defaults, or --base-steps; trained once per invocation, seed --first-seed), or from
scratch on the N images of each class; arms: real only; + classical; + classical + each of the four generators
(--synthetic-share of each batch, classes 5-9); with --freeze-d K,... also the GAN fine-tuned with train_gan.py
--freeze-d K (its discriminator's first K convolutions kept as the base run trained them), one arm each.
Imbalanced (--imbalance F): classes 0-4 in full, each of 5-9 cut to a fraction F of its images. Arms: as is; random
oversampling (every class drawn with replacement up to the largest class); class-weighted loss (n / (K n_c));
GAN / VAE rebalancing (every class topped up to the largest, --rebalance-share of each shortfall with synthetic
samples and the rest with real copies, as augment --balance --balance-share writes it; several shares: one arm each,
from the same generators). The generators train on the training part randomly oversampled, so that they see every
class as often. Also balanced accuracy and minority recall (mean recall of classes 5-9).

Writes OUT.json (every run, the generators' training times, the summary), OUT.md (the tables and the seed-by-seed
margins of the targets, also printed) and OUT.png; the JSON is rewritten after each experiment, so an interrupted
run keeps what it finished (--report turns it into OUT.md and OUT.png). --pool joins runs of one recipe made apart
(e.g. some seeds a session) into one OUT, refusing a seed twice.
"""

import argparse
import contextlib
import functools
import io
import json
import math
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import augment_tf  # noqa: E402

augment_tf.load_tensorflow()  # first: TensorFlow without the start-up notes keras's import would print
from augment_tf import amounts, cli, data, defaults, files, images, mixing, reference, runs, synthesis  # noqa: E402
from augment_tf import train_gan, train_vae  # noqa: E402
from augment_tf.benefit import estimate as estimate_benefit  # noqa: E402
from benchmarks.common import load_result, markdown, pool_files, split_arrays  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

NUM_CLASSES = 10
MINORITY = np.arange(5, 10)
VAL_FRACTION = 0.2
BATCH_SIZE = 128
EPOCH_SAMPLES = (2048, 8192)
GENERATORS = {"GAN": train_gan, "VAE": train_vae}
METRICS = ("accuracy", "balanced_accuracy", "minority_recall")
# row key (KEY_gain, KEY_verdict): (title, held-out slice -> benefit.estimate options); the plain cross-validation,
# augment's estimate (held-out copies dropped since the validation choice), and what `augment --held-out` reports
# when given images the generator never saw (the slice). The keys keep their meaning across result files.
ESTIMATES = {"estimate": ("the plain cross-validated estimate (augment's until 484dc26)", lambda val: {}),
             "estimate_copies_dropped": ("augment's estimate (cross-validated, held-out copies dropped)",
                                         lambda val: {"drop_held_out_copies": True}),
             "estimate_held_out": ("the estimate on the held-out slice the generators never saw (augment --held-out)",
                                   lambda val: {"held_out": val})}
# Budgets, estimated from smoke runs on a 2-core CPU shared with another job (the JSON records every arm's seconds
# and epochs): full ~2 h there, less alone (10 generators per seed, 1-2 min each; 31 classifiers, 0.3-2 min each);
# --quick ~13 min there.
FULL = dict(seeds=3, per_class="10,50,200", imbalance="0.01,0.1", gen_steps=1000, classifier_epochs=30)
QUICK = dict(seeds=1, per_class="10,50", imbalance="0.01", gen_steps=300, classifier_epochs=15)


# --- data ------------------------------------------------------------------------------------------------------


def draw(x, y, counts, rng):
    """`counts[c]` images of each class c, drawn without replacement."""
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), n, replace=False) for c, n in enumerate(counts)])
    return x[idx], y[idx]


def hold_out(x, y, rng):
    """(train, validation): VAL_FRACTION of each class (at least one image) held out for early stopping and choices."""
    val = np.zeros(len(y), bool)
    for c in range(NUM_CLASSES):
        members = rng.permutation(np.flatnonzero(y == c))
        val[members[: max(1, round(VAL_FRACTION * len(members)))]] = True
    return (x[~val], y[~val]), (x[val], y[val])


def oversample(x, y, rng):
    """Random oversampling: each class topped up to the largest class with copies drawn by `rng` with replacement
    (augment --balance without synthetic samples)."""
    return synthesis.with_copies(x, y, amounts.balance_copies(y, NUM_CLASSES, np.zeros(NUM_CLASSES, np.int64), rng))


def rebalance(x, y, sampler, config, share, seed):
    """Every class topped up to the largest: `share` of each shortfall with synthetic samples from `sampler`, the
    rest with real copies drawn with replacement (share 0: random oversampling); what `augment --balance
    --balance-share` writes."""
    x, y, _ = synthesis.augmented_arrays(sampler, config, x, y, balance=True, balance_share=share, seed=seed)
    return x, y


def class_weights(y):
    """Loss weight n / (K n_c) per class: every class weighs the same in total."""
    counts = np.bincount(y, minlength=NUM_CLASSES)
    return {c: len(y) / (NUM_CLASSES * n) for c, n in enumerate(counts)}


# --- generators ------------------------------------------------------------------------------------------------


def train_generators(x, y, seed, gen_steps, work_dir, augment=False, init_from=None, names=tuple(GENERATORS),
                     flags=()):
    """{name: (sampler, config, seconds)}: train_gan.py and train_vae.py --conditional (or those of `names`), each
    through its own main(), on (x, y) written to an .npz, in WORK_DIR/GAN and WORK_DIR/VAE; `gen_steps` 0 keeps their
    defaults; `augment` passes --augment, else --no-augment; `init_from` (a folder of such runs) starts each from its
    namesake there (--init-from); `flags` go to every script."""
    os.makedirs(work_dir, exist_ok=True)
    path = os.path.join(work_dir, "train.npz")
    files.write_npz(path, x=images.for_file(x), y=y)
    trained = {}
    for name in names:
        script = GENERATORS[name]
        run_dir = os.path.join(work_dir, name)
        argv = ["--conditional", "--data-dir", path, "--out", run_dir, "--seed", str(seed),
                "--augment" if augment else "--no-augment"]
        argv += (["--init-from", os.path.join(init_from, name)] if init_from else []) + list(flags)
        begin = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # one progress line per epoch
            script.main(argv + (["--steps", str(gen_steps)] if gen_steps else []))
        trained[name] = (*runs.load_sampler(run_dir), time.perf_counter() - begin)
    return trained


def shifted(sampler, offset):
    """`sampler` for labels `offset` higher: a run trained on classes 0..K-1 then draws classes offset..offset+K-1."""
    z, labels = keras.Input(sampler.inputs[0].shape[1:]), keras.Input((), dtype="int32")
    return keras.Model([z, labels], sampler([z, labels - offset]))


def generator_rows(trained, context):
    """What each generator's training cost, for the runtime record (also printed), and how it augmented."""
    rows = [{**context, "model": name, "seconds": seconds, "steps": config["epochs"] * config["steps_per_epoch"],
             "batch_size": config["batch_size"], "n_train": config["n_train"],
             **{key: config[key] for key in ("augment", "adaptive_augment") if key in config}}
            for name, (_, config, seconds) in trained.items()]
    for row in rows:
        print(json.dumps(row), flush=True)
    return rows


# --- classifier ------------------------------------------------------------------------------------------------


def fit_classifier(x, y, val, *, seed, epochs, patience, classical=False, class_weight=None, mix=None):
    """(classifier, epochs run): trained on uint8 (x, y) until the loss on `val` stops improving, best weights kept.

    `mix` = (sampler, config, share[, classes]): every batch is `share` fresh synthetic samples (of `classes`, default
    all) and the rest real ones (`mixing.mixed_dataset`); an epoch then counts as if the data were the real samples
    plus `share / (1 - share)` times as many synthetic ones.
    """
    keras.utils.set_random_seed(seed)
    model = reference.build_classifier(x.shape[1:], NUM_CLASSES, classical)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    if mix is None:
        dataset = data.make_dataset(x, y, BATCH_SIZE, seed=seed, drop_remainder=False, repeat=True,
                                    value_range=(0.0, 255.0))
        size = len(x)
    else:
        sampler, config, share, *classes = mix
        dataset = mixing.mixed_dataset(sampler, config, x, y, synthetic_fraction=share, batch_size=BATCH_SIZE,
                                       classes=classes[0] if classes else None, seed=seed).repeat()
        size = len(x) / (1 - share)
    steps = math.ceil(np.clip(size, *EPOCH_SAMPLES) / BATCH_SIZE)
    stop = keras.callbacks.EarlyStopping("val_loss", patience=patience, restore_best_weights=True)
    history = model.fit(dataset, epochs=epochs, steps_per_epoch=steps, validation_data=(_float(val[0]), val[1]),
                        validation_batch_size=1000, class_weight=class_weight, callbacks=[stop],
                        shuffle=False, verbose=0)  # the dataset shuffles
    return model, len(history.epoch)


def _float(x):
    """uint8 images as float32 0..255, what the classifier takes."""
    return np.asarray(x, np.float32)


def scores(model, x, y):
    """Accuracy, balanced accuracy (mean per-class recall), minority recall (mean recall of MINORITY), log loss; the
    recalls over the classes `y` has."""
    probabilities = model.predict(_float(x), batch_size=1000, verbose=0)
    predicted = np.argmax(probabilities, axis=-1)
    recall = {c: np.mean(predicted[y == c] == c) for c in np.unique(y)}
    return {"accuracy": float(np.mean(predicted == y)), "balanced_accuracy": float(np.mean(list(recall.values()))),
            "minority_recall": float(np.mean([recall[c] for c in MINORITY if c in recall])),
            "loss": float(-np.mean(np.log(np.maximum(probabilities[np.arange(len(y)), y], 1e-7))))}


def trainer(val, test, context, args, seed):
    """arm(name, x, y, **fit options) -> one classifier's row: test scores, held-out accuracy and loss, cost."""

    def arm(name, x, y, **fit_kwargs):
        begin = time.perf_counter()
        model, epochs = fit_classifier(x, y, val, seed=seed, epochs=args.classifier_epochs, patience=args.patience,
                                       **fit_kwargs)
        held_out = scores(model, *val)
        row = {**context, "arm": name, **scores(model, *test), "val_accuracy": held_out["accuracy"],
               "val_loss": held_out["loss"], "n_train": len(y), "epochs": epochs,
               **({"synthetic_share": fit_kwargs["mix"][2]} if fit_kwargs.get("mix") else {}),
               "seconds": time.perf_counter() - begin}
        print(json.dumps(row), flush=True)
        return row

    return arm


# --- experiments -----------------------------------------------------------------------------------------------


def variant(arm, shares, share, what):
    """The arm's name: as it is with one share; "GAN rebalancing, 10% synthetic" for one of several (a variant of
    the arm, see margins)."""
    return arm + (f", {share:.0%} {what}" if len(shares) > 1 else "")


def low_data(train_split, test, per_class, seed, args, work_dir):
    """(classifier rows, generator rows) for `per_class` real images of each class."""
    rng = np.random.default_rng([seed, per_class])
    train, val = hold_out(*draw(*train_split, [per_class] * NUM_CLASSES, rng), rng)
    context = {"experiment": "low data", "setting": f"{per_class} per class", "seed": seed}
    trained = train_generators(*train, seed, args.gen_steps, work_dir, args.generator_augment)
    shares = np.atleast_1d(args.synthetic_share)  # one share (a number) or several (a list): see share_list
    fit = trainer(val, test, context, args, seed)
    rows = [fit("real only", *train), fit("real + classical", *train, classical=True)]
    rows += [fit(variant(f"real + {name}", shares, share, "of each batch"), *train, mix=(sampler, config, share))
             for name, (sampler, config, _) in trained.items() for share in shares]
    cas = {}
    for name, (sampler, config, _) in trained.items():
        x, y, synthetic = synthesis.augmented_arrays(sampler, config, *train, per_class=args.synthetic_per_class,
                                                   seed=seed)
        cas[name] = fit(f"CAS {name} (synthetic only)", x[synthetic], y[synthetic])
        row = fit(f"augment output ({name})", x, y)
        for key in args.estimates:  # what augment tells a user of this file, and the alternatives
            _, options = ESTIMATES[key]
            begin = time.perf_counter()
            guess = estimate_benefit(*train, x[synthetic], y[synthetic], NUM_CLASSES, seed=seed, **options(val))
            row.update({f"{key}_gain": guess["gain"], f"{key}_verdict": guess["verdict"],
                        f"{key}_seconds": time.perf_counter() - begin})
        rows.append(row)
    best = min(cas, key=lambda name: cas[name]["val_loss"])  # a loss, not a count of a few held-out images
    rows += [{**fit(variant("real + classical + best synthetic", shares, share, "of each batch"), *train,
                    classical=True, mix=(*trained[best][:2], share)), "best": best} for share in shares]
    return rows + list(cas.values()), generator_rows(trained, context)


def transfer(train_split, test, per_class, seed, args, work_dir, base_dir):
    """(classifier rows, generator rows) for `per_class` images of each of digits 5-9 (MINORITY), scored on the
    test images of 5-9: generators fine-tuned from runs on every training image of 0-4 (trained once into
    `base_dir`), against the same generators trained from scratch on the few images."""
    x, y = train_split
    rng = np.random.default_rng([seed, per_class, MINORITY[0]])
    counts = np.where(np.isin(np.arange(NUM_CLASSES), MINORITY), per_class, 0)
    train, val = hold_out(*draw(x, y, counts, rng), rng)
    context = {"experiment": "transfer", "setting": f"{per_class} per class of 5-9", "seed": seed}
    generator_runs = []
    if not os.path.isdir(os.path.join(base_dir, "GAN")):
        known = ~np.isin(y, MINORITY)
        base = train_generators(x[known], y[known], args.first_seed, args.base_steps, base_dir)
        generator_runs += generator_rows(base, {**context, "setting": "base: every training image of 0-4"})
    fine = train_generators(*train, seed, args.gen_steps, os.path.join(work_dir, "fine"), args.generator_augment,
                            init_from=base_dir)
    scratch = train_generators(train[0], train[1] - MINORITY[0], seed, args.gen_steps,  # labels 0-4 for 5-9
                               os.path.join(work_dir, "scratch"), args.generator_augment)
    frozen = {k: train_generators(*train, seed, args.gen_steps, os.path.join(work_dir, f"freeze_d{k}"),
                                  args.generator_augment, init_from=base_dir, names=("GAN",),
                                  flags=["--freeze-d", str(k)])
              for k in args.freeze_d if k}
    starts = {"fine-tuned": fine, "from scratch": scratch, **{f"fine-tuned, FreezeD {k}": frozen[k] for k in frozen}}
    for start, trained in starts.items():
        generator_runs += generator_rows(trained, {**context, "start": start})
    starts["from scratch"] = {name: (shifted(sampler, MINORITY[0]), {**config, "num_classes": NUM_CLASSES}, seconds)
                              for name, (sampler, config, seconds) in scratch.items()}
    fit = trainer(val, tuple(a[np.isin(test[1], MINORITY)] for a in test), context, args, seed)
    rows = [fit("real only", *train), fit("real + classical", *train, classical=True)]
    shares = np.atleast_1d(args.synthetic_share)
    for start, trained in starts.items():  # "GAN fine-tuned, FreezeD 1": a variant of "GAN fine-tuned" (margins)
        rows += [fit(variant(f"real + classical + {name} {start}", shares, share, "of each batch"), *train,
                     classical=True, mix=(sampler, config, share, MINORITY))
                 for name, (sampler, config, _) in trained.items() for share in shares]
    return rows, generator_runs


def imbalanced(train_split, test, fraction, seed, args, work_dir):
    """(classifier rows, generator rows) for classes 0-4 in full and 5-9 cut to `fraction`."""
    rng = np.random.default_rng([seed, round(fraction * 1e6)])
    counts = np.bincount(train_split[1], minlength=NUM_CLASSES)
    counts[MINORITY] = np.maximum(2, np.rint(fraction * counts[MINORITY]))  # 2: one to train, one held out
    train, val = hold_out(*draw(*train_split, counts, rng), rng)
    context = {"experiment": "imbalanced", "setting": f"classes 5-9 at {fraction:.0%}", "seed": seed}
    trained = train_generators(*oversample(*train, rng), seed, args.gen_steps, work_dir)  # every class as often
    fit = trainer(val, test, context, args, seed)
    rows = [fit("as is", *train), fit("random oversampling", *oversample(*train, rng)),
            fit("class-weighted loss", *train, class_weight=class_weights(train[1]))]
    shares = np.atleast_1d(args.rebalance_share)  # one share (a number) or several (a list): see share_list
    for name, (sampler, config, _) in trained.items():
        for share in shares:  # several: one arm each, from the same generator (to choose the share)
            arm = variant(f"{name} rebalancing", shares, share, "synthetic")
            rows.append(fit(arm, *rebalance(*train, sampler, config, share, seed)))
    return rows, generator_rows(trained, context)


# --- results ---------------------------------------------------------------------------------------------------


def summarise(rows):
    """One row per (experiment, setting, arm): mean, std (ddof 1), min and max of each metric over seeds."""
    groups = {}
    for row in rows:
        groups.setdefault((row["experiment"], row["setting"], row["arm"]), []).append(row)
    summary = []
    for (experiment, setting, name), group in groups.items():
        entry = {"experiment": experiment, "setting": setting, "arm": name, "seeds": len(group)}
        for metric in METRICS:
            values = np.array([r[metric] for r in group])
            entry[metric] = {"mean": values.mean(), "std": values.std(ddof=1) if len(values) > 1 else 0.0,
                             "min": values.min(), "max": values.max()}
        picks = [r["best"] for r in group if "best" in r]
        if picks:
            entry["best_picks"] = {name: picks.count(name) for name in GENERATORS}
        summary.append(entry)
    return summary


# each target of the benchmark: (experiment, arm, baseline arm, metric), compared seed by seed
COMPARISONS = [("low data", "real + classical + best synthetic", "real + classical", "accuracy"),
               ("imbalanced", "GAN rebalancing", "random oversampling", "minority_recall"),
               ("imbalanced", "VAE rebalancing", "random oversampling", "minority_recall"),
               *((("transfer", f"real + classical + {name} {start}", "real + classical", "accuracy")
                  for name in GENERATORS for start in ("fine-tuned", "from scratch")))]


def estimates(rows):
    """Markdown: each estimate (ESTIMATES) of each augment-output arm against its scored outcome (minus real only),
    how often its calls ("helps", "hurts") were right, and how far its gain was from the outcome on average."""
    real = {(r["setting"], r["seed"]): r["accuracy"] for r in rows if r["arm"] == "real only"}
    parts = []
    for key, (title, _) in ESTIMATES.items():
        table, gaps = [], []
        for r in rows:
            if f"{key}_verdict" not in r or (r["setting"], r["seed"]) not in real:
                continue
            outcome = 100 * (r["accuracy"] - real[r["setting"], r["seed"]])
            gaps.append(abs(100 * r[f"{key}_gain"] - outcome))
            right = {"helps": outcome > 0, "hurts": outcome < 0}.get(r[f"{key}_verdict"])
            table.append({"setting": r["setting"], "seed": r["seed"], "arm": r["arm"],
                          "estimate": f"{r[f'{key}_verdict']} ({100 * r[f'{key}_gain']:+.1f})",
                          "outcome (points)": f"{outcome:+.1f}",
                          "called right": "no call" if right is None else "yes" if right else "no"})
        if table:
            calls = [t["called right"] for t in table if t["called right"] != "no call"]
            score = (f"{calls.count('yes')} of {len(calls)} calls right, {len(table) - len(calls)} without a call; "
                     f"gain off the outcome by {np.mean(gaps):.1f} points on average")
            columns = ["setting", "seed", "arm", "estimate", "outcome (points)", "called right"]
            parts.append(f"### {title} against the scored outcome ({score})\n\n{markdown(table, columns)}")
    return "\n\n".join(parts)


def margins(rows):
    """Markdown: for each comparison and setting, arm minus baseline on each seed (in points) and whether it wins
    on every seed."""
    table = []
    for experiment, family, baseline, metric in COMPARISONS:
        for setting in dict.fromkeys(r["setting"] for r in rows if r["experiment"] == experiment):
            value = {(r["arm"], r["seed"]): r[metric] for r in rows if r["setting"] == setting}
            # the arm, or each of its variants ("VAE rebalancing, 50% synthetic")
            names = dict.fromkeys(arm for arm, _ in value if arm == family or arm.startswith(f"{family}, "))
            for name in names:
                seeds = sorted(seed for arm, seed in value if arm == name and (baseline, seed) in value)
                if seeds:
                    diffs = [100 * (value[name, seed] - value[baseline, seed]) for seed in seeds]
                    table.append({"setting": setting, "comparison": f"{name} − {baseline}", "metric": metric,
                                  "per seed (points)": ", ".join(f"{d:+.1f}" for d in diffs),
                                  "better on every seed": "yes" if min(diffs) > 0 else "no"})
    columns = ["setting", "comparison", "metric", "per seed (points)", "better on every seed"]
    return f"### margins (scored split, seed by seed)\n\n{markdown(table, columns)}" if table else ""


def tables(summary):
    """Markdown: the low-data table (accuracy) and the imbalanced one (accuracy, balanced, minority recall)."""
    cell = lambda s: f"{s['mean']:.3f} ± {s['std']:.3f} ({s['min']:.3f}–{s['max']:.3f})"
    picks = lambda e: ", ".join(f"{n} {k}" for n, k in e.get("best_picks", {}).items() if k)
    out = []
    for experiment, metrics in (("low data", METRICS[:1]), ("imbalanced", METRICS), ("transfer", METRICS[:1])):
        entries = [e for e in summary if e["experiment"] == experiment]
        if not entries:
            continue
        rows = [{"setting": e["setting"], "arm": e["arm"], "seeds": e["seeds"], "best of GAN/VAE": picks(e),
                 **{m.replace("_", " "): cell(e[m]) for m in metrics}} for e in entries]
        columns = ["setting", "arm", *(m.replace("_", " ") for m in metrics), "seeds"]
        columns += ["best of GAN/VAE"] if experiment == "low data" else []
        out.append(f"### {experiment} (scored split, mean ± std (min–max) over seeds)\n\n{markdown(rows, columns)}")
    return "\n\n".join(out)


def plot(summary, path):
    """Low data: test accuracy against real images per class; imbalanced: minority recall per arm and setting
    (nothing is drawn without either)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    low = [e for e in summary if e["experiment"] == "low data"]
    skewed = [e for e in summary if e["experiment"] == "imbalanced"]
    panels = [p for p in (low, skewed) if p]
    if not panels:  # the transfer experiment alone: its table says it all
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 5), squeeze=False)
    axes = list(axes[0])
    if low:
        ax = axes.pop(0)
        for name in dict.fromkeys(e["arm"] for e in low):
            points = [(int(e["setting"].split()[0]), e["accuracy"]) for e in low if e["arm"] == name]
            ax.errorbar([n for n, _ in points], [s["mean"] for _, s in points], yerr=[s["std"] for _, s in points],
                        marker="o", capsize=3, label=name)
        sizes = sorted({int(e["setting"].split()[0]) for e in low})
        ax.set(xscale="log", xlabel="real images per class (20% of them held out)", ylabel="test accuracy",
               title="Low data")
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.minorticks_off()
        ax.legend(fontsize=8)
    if skewed:
        ax = axes.pop(0)
        settings = list(dict.fromkeys(e["setting"] for e in skewed))
        names = list(dict.fromkeys(e["arm"] for e in skewed))
        width = 0.8 / len(settings)
        for i, setting in enumerate(settings):
            stats = [next(e["minority_recall"] for e in skewed if e["setting"] == setting and e["arm"] == name)
                     for name in names]
            ax.bar(np.arange(len(names)) + i * width, [s["mean"] for s in stats], width,
                   yerr=[s["std"] for s in stats], capsize=3, label=setting)
        ax.set_xticks(np.arange(len(names)) + width * (len(settings) - 1) / 2, names, rotation=20, fontsize=8)
        ax.set(ylabel="minority recall (classes 5-9, test)", title="Imbalanced")
        ax.legend(fontsize=8)
    fig.tight_layout()
    with files.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def write_results(out, rows, generator_runs, args):
    """OUT.json with every run and the summary; returns the summary."""
    summary = summarise(rows)
    files.write_json(f"{out}.json", {"rows": rows, "generators": generator_runs, "summary": summary,
                                     "settings": vars(args), "command": " ".join(sys.argv)})
    return summary


# --- command line ----------------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get(data.DATA_DIR_ENV))
    parser.add_argument("--quick", action="store_true", help=f"quick defaults {QUICK} instead of {FULL}")
    parser.add_argument("--seeds", type=int, help="seeds 0..S-1 (full 3, quick 1)")
    parser.add_argument("--per-class", help="low-data sizes, real images per class, e.g. 10,50,200; none skips")
    parser.add_argument("--imbalance", help="fractions kept of classes 5-9, e.g. 0.01,0.1; none skips")
    parser.add_argument("--transfer", default="none",
                        help="transfer: real images per class of 5-9, e.g. 10, with generators fine-tuned from runs "
                        "on digits 0-4; none (default) skips")
    parser.add_argument("--freeze-d", type=lambda text: sizes(text, int), default=[0],
                        help="transfer: also the GAN fine-tuned with train_gan.py --freeze-d K, one arm each K>0 of "
                        "e.g. 0,1,2 (default 0: none)")
    parser.add_argument("--base-steps", type=int, default=0,
                        help="transfer: steps of the runs on digits 0-4 (default 0: train_*.py's defaults)")
    parser.add_argument("--gen-steps", type=int,
                        help="optimizer steps of each GAN / VAE (full 1000, quick 300); 0: train_*.py defaults")
    parser.add_argument("--synthetic-share", type=share_list, default=mixing.SYNTHETIC_FRACTION,
                        help="share of each mixing arm's classifier batch that is fresh synthetic samples (low data, "
                        "transfer); several, e.g. 0.1,0.25,0.5: one arm each from the same generators")
    parser.add_argument("--rebalance-share", type=share_list, default=defaults.BALANCE_SHARE,
                        help="share of each class's shortfall that rebalancing fills with synthetic samples (the "
                        "rest: real copies; augment --balance's default); several, e.g. 0.1,0.25,0.5: one "
                        "rebalancing arm each from the same generators, to choose the share on the validation split")
    parser.add_argument("--generator-augment", action=argparse.BooleanOptionalAction, default=True,
                        help="low-data generators train with --augment (random shifts, rotations, zooms)")
    parser.add_argument("--synthetic-per-class", type=int, default=1000, help="CAS: synthetic images per class")
    parser.add_argument("--estimates", type=estimate_list, default=list(ESTIMATES),
                        help=f"estimates to score on each augment-output arm, of {','.join(ESTIMATES)} (default all); "
                        "none skips; the test split scores augment's, estimate_copies_dropped")
    parser.add_argument("--classifier-epochs", type=int,
                        help=f"most classifier epochs of {EPOCH_SAMPLES[0]}-{EPOCH_SAMPLES[1]} samples (full 30, "
                        "quick 15)")
    parser.add_argument("--patience", type=int, default=5, help="epochs without a better held-out loss before stopping")
    parser.add_argument("--split", choices=["validation", "test"], default="test",
                        help="validation: subsets from 50k training images, scored on 10k others (to choose shares "
                        "and recipes); test: subsets from the whole training split, scored on the test split")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds FIRST..FIRST+S-1: report on seeds that no choice was made on")
    parser.add_argument("--out", default="benchmarks/results/augmentation_benefit",
                        help="writes OUT.json, OUT.md, OUT.png")
    parser.add_argument("--report", action="store_true",
                        help="run nothing: rewrite OUT.md and OUT.png from OUT.json (e.g. of an interrupted run)")
    parser.add_argument("--pool", nargs="+", metavar="JSON",
                        help="run nothing: pool earlier runs' OUT.json files (seeds run apart, same recipe) into "
                        "OUT.json, OUT.md and OUT.png")
    args = parser.parse_args(argv)
    if not set(args.freeze_d) <= {0, 1, 2}:
        parser.error(f"--freeze-d takes 0, 1 or 2 (the discriminator has 2 convolutions), got {args.freeze_d}")
    if not all(0 <= share < 1 for share in np.atleast_1d(args.synthetic_share)):
        parser.error(f"--synthetic-share must be in [0, 1), got {args.synthetic_share}")
    if not all(0 <= share <= 1 for share in np.atleast_1d(args.rebalance_share)):
        parser.error(f"--rebalance-share must be in [0, 1], got {args.rebalance_share}")
    if args.report and not os.path.isfile(f"{args.out}.json"):
        parser.error(f"--report needs {args.out}.json, written by an earlier run with this --out")
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def share_list(text):
    """'0.25' -> 0.25 (one share: a number, as in earlier runs' settings); '0.1,0.5' -> [0.1, 0.5]."""
    values = [float(v) for v in text.split(",")]
    return values[0] if len(values) == 1 else values


def estimate_list(text):
    """'estimate,estimate_held_out' -> those ESTIMATES keys; 'none' -> []."""
    keys = sizes(text, str)
    unknown = [key for key in keys if key not in ESTIMATES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown estimate {', '.join(unknown)}; choose from {', '.join(ESTIMATES)}")
    return keys


def sizes(text, kind):
    """'10,50,200' -> [10, 50, 200]; 'none' -> []."""
    return [] if text == "none" else [kind(v) for v in text.split(",")]


def main(argv=None):
    args = parse_args(argv)
    if args.report:
        done = load_result(f"{args.out}.json", ("rows", "summary", "command"), "rerun with this --out to write it")
        return report(args.out, done["rows"], done["summary"], f"(report from {args.out}.json: {done['command']})")
    if args.pool:
        return pool_runs(args.pool, args.out)
    train_split, test, _, _ = split_arrays(args.data_dir, args.split)
    rows, generator_runs, begin = [], [], time.perf_counter()
    experiments = [(low_data, n) for n in sizes(args.per_class, int)]
    experiments += [(imbalanced, f) for f in sizes(args.imbalance, float)]
    with tempfile.TemporaryDirectory() as base_dir:  # the transfer experiment's generators on digits 0-4, made once
        experiments += [(functools.partial(transfer, base_dir=base_dir), n) for n in sizes(args.transfer, int)]
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for experiment, setting in experiments:
                with tempfile.TemporaryDirectory() as work_dir:  # the subset and the generators' run directories
                    new_rows, new_generators = experiment(train_split, test, setting, seed, args, work_dir)
                rows += new_rows
                generator_runs += new_generators
                write_results(args.out, rows, generator_runs, args)
    summary = write_results(args.out, rows, generator_runs, args)
    minutes = (time.perf_counter() - begin) / 60
    report(args.out, rows, summary, f"Scored split: {args.split}. Total time: {minutes:.1f} min.")


# the settings that make two runs' rows comparable: the recipe, not the seeds or sizes
RECIPE = ("gen_steps", "synthetic_share", "rebalance_share", "generator_augment", "synthetic_per_class",
          "classifier_epochs", "patience", "base_steps")


def pool_runs(paths, out):
    """OUT.json, .md and .png from the rows of several runs of one recipe (seeds run apart, reported together)."""
    pooled, done = pool_files(paths, ("experiment", "setting", "arm", "seed"), RECIPE)
    summary = summarise(pooled["rows"])
    files.write_json(f"{out}.json", {**pooled, "generators": [g for run in done for g in run["generators"]],
                                     "summary": summary})
    report(out, pooled["rows"], summary, f"Scored split: {pooled['split']}. Pooled from: {', '.join(paths)}.")


def report(out, rows, summary, footer=""):
    """Writes OUT.md (the tables, the seed-by-seed margins, `footer`) and OUT.png; prints the tables."""
    text = "\n\n".join(part for part in (tables(summary), margins(rows), estimates(rows), footer) if part) + "\n"
    files.write_text(f"{out}.md", text)
    plot(summary, f"{out}.png")
    print(text)


if __name__ == "__main__":
    cli.run(main)
