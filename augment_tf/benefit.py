"""Will the synthetic samples help? An estimate from the user's own real images, before anyone trains on them.

The real images are cut into stratified folds. On each, the same small CNN (the reference classifier's recipe,
augment_tf.reference, for a fixed number of steps) trains on the other folds alone and on them plus the synthetic
samples, as augment writes them, and both are scored on the held-out real fold. The mean difference estimates what
the samples add to a classifier trained on the file. The generator saw those folds, so the estimate can credit it for
copying them: augment leaves out of each fold the samples nearest a held-out image (`drop_held_out_copies`); given
labelled images the generator never saw (`held_out`), the CNNs train on all the real images instead (a few seeds)
and are scored on those.
"""

import numpy as np

from augment_tf import defaults, progress, reference

FOLDS = defaults.ESTIMATE_FOLDS  # the one figure augment's --help quotes before TensorFlow loads
STEPS = 600  # per classifier, whatever the data size: six small CNNs of 600 steps make the whole estimate
MAX_REAL = 6000  # larger real sets are estimated on a stratified draw of this many images


def stratified_folds(y, folds, rng):
    """Fold index (0..folds-1) of every label in `y`, each class dealt round-robin in a random order."""
    fold_of = np.empty(len(y), np.int64)
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        fold_of[rows] = (rng.integers(folds) + np.arange(len(rows))) % folds
    return fold_of


def nearest_real(x_real, y_real, x_syn, y_syn, chunk=1024):
    """Index of each synthetic sample's nearest real image of its class (pixel distance), -1 where its class has
    none: the real image a sample most likely copies."""
    flat_real = x_real.reshape(len(x_real), -1).astype(np.float32)
    flat_syn = x_syn.reshape(len(x_syn), -1).astype(np.float32)
    nearest = np.full(len(x_syn), -1, np.int64)
    for c in np.unique(y_syn):
        real_rows, syn_rows = np.flatnonzero(y_real == c), np.flatnonzero(y_syn == c)
        if not len(real_rows):
            continue
        real = flat_real[real_rows]
        for rows in np.array_split(syn_rows, -(-len(syn_rows) // chunk)):
            distance = (real**2).sum(1)[None, :] - 2 * flat_syn[rows] @ real.T  # + |syn|^2, the same for each row
            nearest[rows] = real_rows[distance.argmin(1)]
    return nearest


def accuracy(model, x, y, batch_size=1000):
    """Share of `x` the model labels `y`. Called eagerly: `predict` would trace a new function for each of the
    estimate's models, and TensorFlow warns about the retracing."""
    batches = (np.asarray(x[i:i + batch_size], np.float32) for i in range(0, len(x), batch_size))
    return float(np.mean(np.concatenate([np.argmax(model(b, training=False), axis=-1) for b in batches]) == y))


def estimate(x_real, y_real, x_syn, y_syn, num_classes, *, folds=None, steps=None, max_real=MAX_REAL, seed=0,
             drop_held_out_copies=False, held_out=None, verbose=False):
    """Accuracy of a small CNN on real images it did not train on, trained without and with the synthetic samples in
    the file's proportion: {"real_only", "with_synthetic", "gain" (means), "verdict", "per_fold", ...}, or None
    when there are too few real images to hold any out.

    By default a `folds`-fold cross-validation of the real images. The generator saw every real image, held-out ones
    too; `drop_held_out_copies` leaves out of each fold the samples whose nearest real image of their class is held
    out, so that near-copies cannot score for it. `held_out` (x, y): labelled images the generator never saw; the
    CNNs then train on all the real images, `folds` times with different seeds, and are scored on these.
    `verbose` names each CNN as it trains and shows its steps on stderr."""
    if held_out is not None and drop_held_out_copies:
        raise ValueError("drop_held_out_copies guards the cross-validation; with held_out no real fold is held out")
    rng, folds, steps = np.random.default_rng(seed), folds or FOLDS, steps or STEPS
    x_real, x_syn = (as_images(x) for x in (x_real, x_syn))
    y_real, y_syn = np.asarray(y_real, np.int64), np.asarray(y_syn, np.int64)
    if len(x_real) > max_real:  # a stratified draw of real images, and as large a share of the synthetic ones
        keep = np.flatnonzero(stratified_folds(y_real, -(-len(x_real) // max_real), rng) == 0)
        some = rng.choice(len(x_syn), round(len(x_syn) * len(keep) / len(x_real)), replace=False)
        x_real, y_real, x_syn, y_syn = x_real[keep], y_real[keep], x_syn[some], y_syn[some]
    rounds = "fold" if held_out is None else "seed"
    if held_out is None:
        fold_of = stratified_folds(y_real, folds, rng)
        splits = [(fold_of != k, (x_real[fold_of == k], y_real[fold_of == k])) for k in range(folds)]
    else:  # every round trains on all the real images and scores on the images the generator never saw
        held_out = as_images(held_out[0]), np.asarray(held_out[1], np.int64)
        splits = [(np.ones(len(y_real), bool), held_out)] * folds
    copies_fold = None
    if drop_held_out_copies:  # the fold of each sample's nearest real image; -1: its class has no real image
        nearest = nearest_real(x_real, y_real, x_syn, y_syn)
        copies_fold = np.where(nearest >= 0, fold_of[nearest], -1)
    per_fold = []
    for k, (train, (x_test, y_test)) in enumerate(splits):
        if not len(y_test) or not train.any():
            continue
        allowed = np.arange(len(x_syn)) if copies_fold is None else np.flatnonzero(copies_fold != k)
        some = rng.choice(allowed, min(len(allowed), round(len(x_syn) * train.mean())), replace=False)  # file's share
        x_both, y_both = np.concatenate([x_real[train], x_syn[some]]), np.concatenate([y_real[train], y_syn[some]])
        arms = {"real images only": (x_real[train], y_real[train]), "with the synthetic samples": (x_both, y_both)}
        models = []
        for arm, (x, y) in arms.items():
            progress.note(f"estimate: CNN {2 * k + len(models) + 1} of {2 * len(splits)} ({rounds} {k + 1}, {arm})",
                          verbose)
            models.append(reference.train_classifier(x, y, num_classes, steps=steps, seed=seed + k, verbose=verbose))
        per_fold.append([accuracy(model, x_test, y_test) for model in models])
    if not per_fold:
        return None
    scores = np.asarray(per_fold)
    gains = scores[:, 1] - scores[:, 0]
    verdict = "helps" if gains.min() > 0 else "hurts" if gains.max() < 0 else "unclear"
    return {"real_only": float(scores[:, 0].mean()), "with_synthetic": float(scores[:, 1].mean()),
            "gain": float(gains.mean()), "verdict": verdict, "per_fold": scores.tolist(), "folds": len(per_fold),
            "real_images": len(x_real), "synthetic_images": len(x_syn), "steps": steps, "seed": seed,
            "drop_held_out_copies": drop_held_out_copies,
            "held_out_images": None if held_out is None else len(held_out[1])}


def as_images(x):
    """N x H x W x C, whether or not `x` has its channel axis."""
    return np.asarray(x).reshape(*np.shape(x)[:3], -1)


def describe(result):
    """One line for the user: the two accuracies, the gain, and what every fold (or seed) says."""
    held_out = result.get("held_out_images")
    rounds = "fold" if held_out is None else "seed"
    agreement = {"helps": f"every {rounds} gained",
                 "hurts": f"every {rounds} lost: they may hurt a classifier trained on this file",
                 "unclear": f"no clear effect: not every {rounds} gained, not every {rounds} lost"}[result["verdict"]]
    if held_out is None:
        how = f"{result['folds']}-fold cross-validation on {result['real_images']} real images"
        agreement += ("; the generator trained on these images, so this can over-state the gain (--held-out scores "
                      "on images it never saw)")
    else:
        how = (f"trained on {result['real_images']} real images with {result['folds']} seeds, scored on {held_out} "
               "held-out images")
    return (f"estimate: a small CNN scores {result['with_synthetic']:.1%} with the synthetic samples and "
            f"{result['real_only']:.1%} on the real images alone ({result['gain'] * 100:+.1f} points, {how}): "
            f"{agreement}")
