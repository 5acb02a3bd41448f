"""Denoising MNIST digits: augment_tf.denoise against BM3D, non-local means, total variation and a Gaussian filter.

    python benchmarks/denoise.py --data-dir ../shared/data/mnist --split validation --run RUN [--n 300]
    python benchmarks/denoise.py --data-dir ../shared/data/mnist --split test --run RUN --seeds 0,1,2 \\
        --params results/denoise/validation.json

Digits of --split (common.split_arrays: 10k held-out training images for validation, the test split for test; the
first --n of them) get Gaussian noise of each --stds level, clipped to [0, 1] and rounded to uint8 (what saving
noisy images does), with each --seeds seed. RUN is a (conditional) VAE run; for validation it must not have trained
on the held-out images (train it on --split validation's training folder, printed). Each baseline's parameter is
chosen on the validation split (the best mean PSNR over a grid, per noise level, on the first 100 digits) and
written to OUT.json; on test they come from --params. Scores: PSNR and SSIM against the clean digits, the accuracy
of the reference classifier (augment_tf.reference) on the results, images per second; --speed times denoise alone
on N digits.
Writes OUT.json, OUT.md and OUT_stdS.png (the first 10 digits: noisy, denoised, BM3D, original).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from augment_tf import cli, data, defaults, files, images, posterior, runs  # noqa: E402
from augment_tf.reference import features_and_labels, reference_classifier  # noqa: E402
from benchmarks.common import split_arrays, split_dirs  # noqa: E402

CHOOSE = 100  # digits each baseline's parameter is chosen on
GRIDS = {  # each baseline's parameter, chosen per noise level on validation
    "gaussian filter": [0.3, 0.5, 0.7, 1.0, 1.4, 2.0],  # sigma in pixels
    "total variation": [0.02, 0.05, 0.1, 0.2, 0.4, 0.8],  # weight
    "non-local means": [0.2, 0.3, 0.4, 0.6, 0.8, 1.0],  # h, in units of the noise std
    "bm3d": [0.6, 0.8, 1.0, 1.2],  # the std it is told, in units of the true one
}


def baseline(name, param, noisy, std):
    """One baseline applied image by image to `noisy` (N, H, W) in [0, 1]."""
    from scipy.ndimage import gaussian_filter
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle

    if name == "gaussian filter":
        return np.stack([gaussian_filter(image, param) for image in noisy])
    if name == "total variation":
        return np.stack([denoise_tv_chambolle(image, weight=param) for image in noisy])
    if name == "non-local means":
        return np.stack([denoise_nl_means(image, h=param * std, sigma=std, patch_size=3, patch_distance=5)
                         for image in noisy])
    import bm3d

    return np.stack([bm3d.bm3d(image, sigma_psd=param * std) for image in noisy])


def psnr(result, clean):
    return 10 * np.log10(1.0 / np.mean((result - clean) ** 2, axis=(1, 2)))


def ssim(result, clean):
    from skimage.metrics import structural_similarity

    return np.array([structural_similarity(r, c, data_range=1.0) for r, c in zip(result, clean)])


def add_noise(clean, std, seed):
    """Noisy digits as a user has them: clipped to [0, 1] and rounded to 256 levels."""
    rng = np.random.default_rng([seed, int(std * 1000)])
    return np.rint(np.clip(clean + rng.normal(0, std, clean.shape), 0, 1) * 255) / 255


def score(name, result, clean, y, reference, seconds):
    return {"method": name, "psnr": float(psnr(result, clean).mean()), "ssim": float(ssim(result, clean).mean()),
            "accuracy": float(np.mean(features_and_labels(reference, np.rint(result * 255).astype(np.uint8)
                                                          [..., None])[1] == y)),
            "images_per_s": len(clean) / seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get(data.DATA_DIR_ENV))
    parser.add_argument("--split", choices=["validation", "test"], required=True)
    parser.add_argument("--run", required=True, help="a VAE run (see above for validation)")
    parser.add_argument("--n", type=int, default=300, help="digits scored (BM3D takes about 0.7 s a digit)")
    parser.add_argument("--stds", default="0.1,0.3,0.5")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--steps", type=int, default=defaults.DENOISE_STEPS)
    parser.add_argument("--learning-rate", type=float, default=defaults.DENOISE_LEARNING_RATE)
    parser.add_argument("--only-denoise", action="store_true", help="skip the baselines (to choose denoise's own "
                        "settings, such as --steps, on validation)")
    parser.add_argument("--speed", type=int, default=0, metavar="N", help="also time denoise alone on the split's "
                        "first N digits at the last --stds level (the target: 10,000 in under 60 s)")
    parser.add_argument("--without-labels", action="store_true", help="a conditional run: also denoise without the "
                        "labels, every class searched (level given)")
    parser.add_argument("--params", help="test: the validation run's JSON, whose chosen parameters are used")
    parser.add_argument("--work", default="/tmp/augment_tf_denoise")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    stds, seeds = [float(s) for s in args.stds.split(",")], [int(s) for s in args.seeds.split(",")]
    out = args.out or os.path.join("benchmarks", "results", "denoise", f"{args.split}_n{args.n}")
    if args.split == "test" and not args.params:
        raise SystemExit("--split test scores the parameters chosen on validation: pass --params VALIDATION.json")
    chosen = json.load(open(args.params))["chosen"] if args.params else {}
    _, (x, y), _, _ = split_arrays(args.data_dir, args.split)
    train_dir, score_dir, _ = split_dirs(args.data_dir, args.split, os.path.join(args.work, "data"))
    print(f"VAE training data for this split (must be the run's): {train_dir}", file=sys.stderr)
    clean, y, y_all = x[: args.n, ..., 0] / 255.0, y[: args.n], y
    reference = reference_classifier("mnist", score_dir, verbose=True)
    config = runs.read_json(args.run, runs.CONFIG)
    models = runs.load_exported(args.run, ["encoder.keras", "decoder.keras"])
    labels = y if config.get("num_classes") else None
    rows, shown = [], {}  # (std, seed) -> the first 10 digits: noisy, denoised, BM3D, original
    for std in stds:
        for seed in seeds:
            noisy = add_noise(clean, std, seed)
            context = {"std": std, "seed": seed, "n": args.n}
            rows.append({**context, **score("noisy", noisy, clean, y, reference, 1e-9)})
            arms = [(False, labels), (True, labels)] + ([(False, None)] if args.without_labels else [])
            for estimated, given in arms:
                begin = time.perf_counter()
                result, level = posterior.denoise(models["encoder.keras"], models["decoder.keras"], noisy[..., None],
                                                None if estimated else std, given, config.get("num_classes"),
                                                steps=args.steps, learning_rate=args.learning_rate)
                name = "denoise, level estimated" if estimated else "denoise, level given"
                name += ", without labels" if given is None and labels is not None else ""
                if not estimated and given is labels:
                    shown[(std, seed)] = result[:10, ..., 0]
                rows.append({**context, **score(name, result[..., 0], clean, y, reference,
                                                time.perf_counter() - begin),
                             "estimated_std_median": float(np.median(level))})
                print(json.dumps(rows[-1]), flush=True)
            for name, grid in {} if args.only_denoise else GRIDS.items():
                key = f"{name}@{std}"
                if args.split == "validation" and key not in chosen:  # the first seed's noise, first CHOOSE digits
                    part = slice(0, CHOOSE)
                    chosen[key] = max(grid, key=lambda p: psnr(baseline(name, p, noisy[part], std), clean[part]).mean())
                begin = time.perf_counter()
                result = baseline(name, chosen[key], noisy, std)
                rows.append({**context, **score(name, result, clean, y, reference, time.perf_counter() - begin),
                             "param": chosen[key]})
                print(json.dumps(rows[-1]), flush=True)
                if name == "bm3d":
                    shown[(std, seed)] = [noisy[:10], shown.pop((std, seed)), result[:10], clean[:10]]
    if args.speed:  # the whole call, compilation included, as a user's command pays it
        many = add_noise(x[: args.speed, ..., 0] / 255.0, stds[-1], seeds[0])[..., None]
        for estimated in (False, True):
            begin = time.perf_counter()
            posterior.denoise(models["encoder.keras"], models["decoder.keras"], many, None if estimated else stds[-1],
                            y_all[: args.speed] if labels is not None else None, steps=args.steps,
                            learning_rate=args.learning_rate)
            seconds = time.perf_counter() - begin
            rows.append({"method": f"speed, level {'estimated' if estimated else 'given'}", "std": stds[-1],
                         "n": args.speed, "seconds": seconds, "images_per_s": args.speed / seconds})
            print(json.dumps(rows[-1]), flush=True)
    files.write_json(f"{out}.json", {"command": " ".join(sys.argv), "run": args.run, "chosen": chosen, "rows": rows})
    lines = ["| std | method | PSNR (dB) | SSIM | reference accuracy | images/s |", "|---|---|---|---|---|---|"]
    for std in stds:
        for method in dict.fromkeys(r["method"] for r in rows if "psnr" in r):
            these = [r for r in rows if r["std"] == std and r["method"] == method]
            mean = lambda k: np.mean([r[k] for r in these])
            speed = "" if method == "noisy" else f"{mean('images_per_s'):.0f}"
            lines.append(f"| {std} | {method} | {mean('psnr'):.2f} | {mean('ssim'):.3f} | {mean('accuracy'):.1%} | "
                         f"{speed} |")
    lines += [f"\n{r['method']}: {r['n']} digits at std {r['std']} in {r['seconds']:.1f} s ({r['images_per_s']:.0f} "
              "images/s)" for r in rows if "seconds" in r]
    for std in [] if args.only_denoise else stds:  # rows: noisy, denoise (level given), BM3D, original
        files.write_png(f"{out}_std{std}.png", images.grid(
            np.rint(np.concatenate(shown[(std, seeds[0])]) * 255).astype(np.uint8)[..., None], rows=4))
    with open(f"{out}.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    cli.run(main)
