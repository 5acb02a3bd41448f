"""Sample quality on a reference classifier's features: FID, improved precision/recall, label fidelity, CAS.

    python -m augment_tf.evaluate samples.npz [--dataset mnist] [--data-dir DIR] [--cas] [--max-samples 10000] [--seed 0]

Prints one JSON object on stdout; notes and training progress go to stderr. The reference classifier is trained
once per dataset and cached under `$AUGMENT_TF_CACHE` (default `~/.cache/augment_tf`).
"""

import json

from augment_tf import cli, data, defaults, metrics
from augment_tf.errors import AugmentError

CLASSIFIER_STEPS = defaults.REFERENCE_STEPS  # reference.STEPS, read where --help needs no TensorFlow


def load_samples(path):
    """`x` and optional `y` of a samples `.npz` file, or a DataError saying what is wrong with it."""
    arrays = data.read_npz(path, ("x",), ("y",), hint="save with np.savez(path, x=images, y=labels)")
    if "y" in arrays:
        return data.check_arrays(arrays["x"], arrays["y"], path)
    return data.check_images(arrays["x"], path), None


def main(argv=None):
    """CLI: scores a samples .npz and prints the metrics as one JSON object on stdout."""
    parser = cli.parser("augment_tf.evaluate", __doc__)
    parser.add_argument("samples", help=".npz with x (uint8, N x H x W [x C]) and optional y (integer labels)")
    parser.add_argument("--dataset", default="mnist", help="real dataset to compare with (default mnist)")
    parser.add_argument("--data-dir", help=f"local real data (IDX folder or .npz); default ${data.DATA_DIR_ENV} or TFDS")
    parser.add_argument("--cas", action="store_true", help="also train on the samples and test on real data (needs y)")
    parser.add_argument("--max-samples", type=int, default=10000, help="samples and real test images used (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the CAS classifier")
    parser.add_argument("--classifier-steps", type=int,
                        help=f"training steps of the reference and CAS classifiers (default {CLASSIFIER_STEPS}); "
                        "lower only for quick checks: figures compare only at the default")
    args = parser.parse_args(argv)
    if args.max_samples <= metrics.K_NEIGHBOURS:
        raise AugmentError(f"--max-samples must be at least {metrics.K_NEIGHBOURS + 1}, got {args.max_samples}")
    if args.classifier_steps is not None and args.classifier_steps < 1:
        raise AugmentError(f"--classifier-steps must be a positive integer, got {args.classifier_steps}")
    x, y = load_samples(args.samples)
    result = metrics.evaluate_samples(x, y, dataset=args.dataset, data_dir=args.data_dir, cas=args.cas,
                                      max_samples=args.max_samples, seed=args.seed,
                                      classifier_steps=args.classifier_steps, verbose=True)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    cli.run(main)
