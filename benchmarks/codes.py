"""How much of a digit's class its VAE code keeps: 5-nearest-neighbour accuracy on codes, PCA and raw pixels.

    python benchmarks/codes.py --data-dir ../shared/data/mnist --run RUN [--split test] [--k 5]

RUN is an unconditional VAE run (a conditional encoder is told the class, so its codes need not hold it). The
training split's codes are the neighbours' base and the scored split's codes are classified by their k nearest
(Euclidean). Against: PCA fitted on the training images at the code's dimension, and the raw pixels. --split
validation bases on the 50k training images left after holding out 10k, and scores those 10k. Writes OUT.json.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from augment_tf import cli, data, files, posterior, runs  # noqa: E402
from benchmarks.common import split_arrays  # noqa: E402


def knn_accuracy(base, base_y, query, query_y, k, chunk=500):
    """Share of `query` whose k nearest `base` rows (Euclidean) vote its label (ties: the smallest label)."""
    base = base.astype(np.float32)
    base_sq = np.sum(base**2, axis=1)
    right = 0
    for start in range(0, len(query), chunk):
        q = query[start:start + chunk].astype(np.float32)
        distances = base_sq[None, :] - 2 * q @ base.T  # + |q|^2, the same for every base row
        nearest = np.argpartition(distances, k, axis=1)[:, :k]
        votes = np.apply_along_axis(np.bincount, 1, base_y[nearest], minlength=int(base_y.max()) + 1)
        right += int(np.sum(votes.argmax(axis=1) == query_y[start:start + chunk]))
    return right / len(query)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get(data.DATA_DIR_ENV))
    parser.add_argument("--run", required=True)
    parser.add_argument("--split", choices=["validation", "test"], default="test")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--out", default=os.path.join("benchmarks", "results", "codes"))
    args = parser.parse_args(argv)
    config = runs.read_json(args.run, runs.CONFIG)
    if config.get("num_classes"):
        raise SystemExit(f"{args.run} is conditional: its encoder is told the class; pass an unconditional VAE run")
    (x_base, y_base), (x_query, y_query), _, _ = split_arrays(args.data_dir, args.split)
    encoder = runs.load_exported(args.run, ["encoder.keras"])["encoder.keras"]
    begin = time.perf_counter()
    codes = [posterior.encode(encoder, x / 255.0)[0] for x in (x_base, x_query)]
    seconds = time.perf_counter() - begin
    pixels = [x.reshape(len(x), -1) / 255.0 for x in (x_base, x_query)]
    dim = codes[0].shape[1]
    centre = pixels[0].mean(axis=0)
    axes = np.linalg.svd(pixels[0] - centre, full_matrices=False)[2][:dim]
    pca = [(p - centre) @ axes.T for p in pixels]
    rows = [{"features": f"VAE codes ({dim}-d posterior means)",
             "accuracy": knn_accuracy(codes[0], y_base, codes[1], y_query, args.k)},
            {"features": f"PCA ({dim}-d, fitted on the base images)",
             "accuracy": knn_accuracy(pca[0], y_base, pca[1], y_query, args.k)},
            {"features": f"raw pixels ({pixels[0].shape[1]}-d)",
             "accuracy": knn_accuracy(pixels[0], y_base, pixels[1], y_query, args.k)}]
    for row in rows:
        print(f"| {row['features']} | {row['accuracy']:.2%} |", flush=True)
    files.write_json(f"{args.out}_{args.split}.json", {"command": " ".join(sys.argv), "run": args.run, "k": args.k,
                                                        "encode_images_per_s": (len(x_base) + len(x_query)) / seconds,
                                                        "rows": rows})
    return 0


if __name__ == "__main__":
    cli.run(main)
