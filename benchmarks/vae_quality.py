"""Time-to-quality, test-set likelihood bound and imputation of `train_vae.py --conditional` (default settings).

    python benchmarks/vae_quality.py --data-dir ../shared/data/mnist --split validation   # to choose: ~30 min
    python benchmarks/vae_quality.py --data-dir ../shared/data/mnist --split test --seed S  # to report, per seed
    python benchmarks/vae_quality.py --data-dir ../shared/data/mnist --split validation --variant latent-32 \
        --marks 10 --impute-minutes 0 --iw-samples 0 --no-real      # one default changed, to re-make a choice
    python benchmarks/vae_quality.py --data-dir DIR --marks 0.2 --impute-minutes 0.2 --n 500 --impute-n 100 \
        --iterations 4 --iw-samples 2 --no-real --classifier-steps 50                # smoke, never a figure

(a) Quality: the CVAE trains exactly as train_vae.py does (run directory, grids, checkpoints each epoch: all
    counted in the wall time); at each --marks minute the whole model is snapshotted (not counted) and later
    scored on --n balanced samples with augment_tf.metrics (FID, precision/recall, label fidelity, CAS).
(b) Likelihood, nats per test image (all 10k): the negative ELBO (one z draw, analytic KL) two ways:
    "gray", the grayscale pixel values as targets of the Bernoulli likelihood, which is what training
    optimises but not a normalised density over [0, 1] values; and "binarised", the test split binarised once
    (pixel ~ Bernoulli(value / 255), seed 0): a bound on a proper discrete log-likelihood, for a model trained
    on grayscale. At the last mark also the importance-weighted bound (Burda et al. 2016), K=--iw-samples.
(c) Imputation on the first --impute-n test images, with 50% of pixels missing at random and with the bottom
    half missing: MSE on the missing pixels (values in [0, 1]) and the reference classifier's accuracy on the
    repaired images, for augment_tf.impute with the CVAE (given the true labels, as conditional runs require:
    its accuracy is therefore not comparable), with an unconditional VAE trained --impute-minutes with
    train_vae.py defaults, and two baselines: per-pixel training-set mean filling and the masked image as is.
"Test" is the split --split names (common.split_dirs): 10k held-out training images for validation, the test
split for test; with --split test, real training images the reference classifier never trained on give the floor.
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from augment_tf import cli, data, defaults, files, images, masks, metrics, posterior, reference, runs, sampling  # noqa: E402
from augment_tf import train_vae  # noqa: E402
from benchmarks.common import WallClockSnapshots, markdown, real_row, split_dirs  # noqa: E402

LIKELIHOOD_COLUMNS = ["model", "minutes", "nelbo_gray", "nelbo_binarised", "iw_nll_gray", "iw_nll_binarised", "k"]
IMPUTATION_COLUMNS = ["mask", "method", "mse_missing", "classifier_accuracy"]
VARIANTS = {  # train_vae.py flags changing one default, for choosing defaults on the validation split
    "defaults": [],
    "latent-8": ["--latent-dim", "8"],
    "latent-32": ["--latent-dim", "32"],
    "width-64": ["--width", "64"],  # the default since this choice; the variant stays so the record reproduces
    "width-32": ["--width", "32"],  # the default before it (issue 35 re-decides on more seeds)
    "beta-0.5": ["--beta", "0.5"],  # issue 38: a weaker KL term, sharper samples; the fitted prior covers the gap
}


def train(conditional, marks, data_dir, run_dir, seed=0, flags=()):
    """train_vae.py's main with default flags (or `flags`), plus whole-model snapshots; (model, config, snapshots)."""
    snapshots = WallClockSnapshots(None, marks)
    argv = ["--epochs", "1000", "--out", run_dir, "--seed", str(seed), *flags]
    argv += ["--conditional"] if conditional else []
    train_vae.main(argv + (["--data-dir", data_dir] if data_dir else []), extra_callbacks=[snapshots])
    config = runs.read_json(run_dir, runs.CONFIG)
    for snap in snapshots.snapshots:
        snap["images_per_s"] = snap["steps"] * config["batch_size"] / snap["seconds"]
    return snapshots.model, config, snapshots.snapshots


def likelihood(model, x_test, y_test, iw_samples=0):
    """Mean negative ELBO (and importance-weighted bound) in nats on grayscale and binarised test images."""
    gray = images.to_unit_range(x_test)
    binarised = (np.random.default_rng(0).random(gray.shape) < gray).astype(np.float32)
    labels = y_test if model.num_classes else None
    row = {}
    for name, x in (("gray", gray), ("binarised", binarised)):
        row[f"nelbo_{name}"] = -float(np.mean(model.log_likelihood_bound(x, labels)))
        if iw_samples > 1:
            row[f"iw_nll_{name}"] = -float(np.mean(model.log_likelihood_bound(x, labels, samples=iw_samples)))
            row["k"] = iw_samples
    return row


def imputation(vaes, x, y, train_mean, classifier, iterations, png_prefix):
    """Rows of MSE on missing pixels and classifier accuracy per mask and method; writes example grids."""
    x01 = images.to_unit_range(x)
    cases = {"50% pixels at random": masks.random_pixel_mask(x.shape, 0.5, np.random.default_rng(0)),
             "bottom half": masks.half_mask(x.shape, "bottom")}
    accuracy = lambda u8: float(np.mean(np.argmax(classifier.predict(u8, batch_size=1000, verbose=0), -1) == y))
    rows = [{"mask": "none", "method": "original images", "mse_missing": 0.0, "classifier_accuracy": accuracy(x)}]
    for mask_name, mask in cases.items():
        observed = mask.astype(bool)
        filled = {"masked as is (missing = 0)": np.where(observed, x01, 0.0),
                  "training-set mean per pixel": np.where(observed, x01, train_mean)}
        for name, (model, labels) in vaes.items():
            filled[name] = posterior.impute(model.encoder, model.image_decoder, x01, mask, labels, iterations, seed=0)
        repaired = {name: images.from_model_range(f, (0.0, 1.0)) for name, f in filled.items()}
        for name, u8 in repaired.items():
            mse = float(np.mean((images.to_unit_range(u8)[~observed] - x01[~observed]) ** 2))
            rows.append({"mask": mask_name, "method": name, "mse_missing": mse, "classifier_accuracy": accuracy(u8)})
            print(json.dumps(rows[-1]), flush=True)
        examples = np.concatenate([x[:10], *(u8[:10] for u8 in repaired.values())])
        slug = mask_name.split()[0].replace("%", "pct")
        files.write_png(f"{png_prefix}_impute_{slug}.png", images.grid(examples, rows=1 + len(repaired)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get(data.DATA_DIR_ENV))
    parser.add_argument("--marks", default="2,5,10", help="training minutes at which to score the CVAE")
    parser.add_argument("--impute-minutes", type=float, default=5, help="unconditional VAE for (c); 0 skips it")
    parser.add_argument("--no-real", action="store_true", help="skip scoring real images (the floor)")
    parser.add_argument("--n", type=int, default=10_000, help="samples scored per snapshot")
    parser.add_argument("--iw-samples", type=int, default=50, help="K of the importance-weighted bound (<2 skips)")
    parser.add_argument("--impute-n", type=int, default=2000, help="test images repaired per mask")
    parser.add_argument("--iterations", type=int, default=defaults.IMPUTE_ITERATIONS, help="imputation chain length")
    parser.add_argument("--classifier-steps", type=int, help="smoke runs only: a quicker reference classifier")
    parser.add_argument("--split", choices=["validation", "test"], default="test",
                        help="validation: choose on held-out training images; test: report the final choice")
    parser.add_argument("--seed", type=int, default=0, help="the VAEs' --seed (data order, noise)")
    parser.add_argument("--variant", choices=list(VARIANTS), default="defaults",
                        help="train the CVAE with one default changed, to re-make a choice on the validation split")
    parser.add_argument("--out", default="benchmarks/results/vae_quality.json")
    args = parser.parse_args(argv)
    marks = [float(m) for m in args.marks.split(",")]
    steps = args.classifier_steps
    with tempfile.TemporaryDirectory() as work_dir:
        train_dir, score_dir, held_out = split_dirs(args.data_dir, args.split, os.path.join(work_dir, "data"))
        classifier = reference.reference_classifier("mnist", score_dir, steps=steps)  # before any clock starts
        x_test, y_test = data.load_arrays("mnist", "test", score_dir)
        x_train, y_train = data.load_arrays("mnist", "train", train_dir)
        score = lambda x, y: metrics.evaluate_samples(x, y, data_dir=score_dir, cas=True, max_samples=args.n,
                                                      classifier_steps=steps)

        quality = [] if args.no_real or held_out is None else [real_row(held_out, score_dir, args.n)]
        bounds = []
        cvae, config, snapshots = train(True, marks, train_dir, os.path.join(work_dir, "cvae"), args.seed,
                                         VARIANTS[args.variant])
        vae = None
        if args.impute_minutes:
            vae, _, vae_snaps = train(False, [args.impute_minutes], train_dir, os.path.join(work_dir, "vae"), args.seed)
            vae.set_weights(vae_snaps[-1]["weights"])
        labels = sampling.balanced_labels(args.n, range(config["num_classes"]))
        name = f"augment_tf ConditionalVAE ({args.variant})"
        x_train01 = images.to_unit_range(x_train)
        for i, snap in enumerate(snapshots):
            cvae.set_weights(snap.pop("weights"))  # the prior is N(0, I) during training
            for prior in ("standard", "fitted"):
                if prior == "fitted":
                    cvae.fit_latent_prior(x_train01, y_train)
                x = sampling.sample(cvae.sampler, config, labels=labels, seed=1)
                png = args.out.replace(".json", f"_{snap['minutes']:g}min_{prior}.png")
                files.write_png(png, sampling.preview(x, labels))
                quality.append({"model": f"{name}, {prior} prior", **snap, **score(x, labels)})
                print(json.dumps(quality[-1]), flush=True)
            last = i == len(snapshots) - 1
            bounds.append({"model": name, "minutes": snap["minutes"],
                           **likelihood(cvae, x_test, y_test, args.iw_samples if last else 0)})
            print(json.dumps(bounds[-1]), flush=True)

        n = args.impute_n
        vaes = {f"impute: CVAE {marks[-1]:g} min (true labels given)": (cvae, y_test[:n])}
        if vae is not None:
            vaes[f"impute: VAE {args.impute_minutes:g} min"] = (vae, None)
            bounds.append({"model": "augment_tf VAE (defaults)", "minutes": args.impute_minutes,
                           **likelihood(vae, x_test, y_test, args.iw_samples)})
        train_mean = x_train01.mean(axis=0)
        repaired = imputation(vaes, x_test[:n], y_test[:n], train_mean, classifier, args.iterations,
                              args.out.replace(".json", ""))

    files.write_json(args.out, {"quality": quality, "likelihood": bounds, "imputation": repaired, "config": config,
                                "split": args.split, "seed": args.seed, "variant": args.variant,
                                "command": " ".join(sys.argv)})
    print(markdown(quality), markdown(bounds, LIKELIHOOD_COLUMNS), markdown(repaired, IMPUTATION_COLUMNS), sep="\n\n")


if __name__ == "__main__":
    cli.run(main)
