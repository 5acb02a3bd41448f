"""Labelled synthetic samples from a conditional run, filtered by a classifier if asked, and the real images they
augment: the arrays `augment` writes, in memory (`augmented_arrays`) or chunk by chunk (`synthetic_chunks`)."""

import os
import sys

import numpy as np

from augment_tf import checks, defaults, pseudo_labels, reference, runs, sampling
from augment_tf.amounts import balance_copies, run_classes, synthetic_counts
from augment_tf.errors import AugmentError


def synthesize(sampler, config, counts, *, classifier=None, threshold=defaults.FILTER_THRESHOLD,
               max_rounds=defaults.FILTER_MAX_ROUNDS, seed=0, temperature=1.0):
    """(x uint8 (N, H, W, C), y int64, filter report or None): `counts[c]` samples of each class c, by class.

    With a `classifier` (raw 0..255 images -> class probabilities) only samples it assigns to their label with
    probability >= `threshold` are kept; what is missing is drawn again with fresh noise, for at most `max_rounds`
    rounds, each drawing more of the classes the filter rejects often. The report counts what it dropped.
    """
    counts = np.asarray(counts, np.int64)
    kept = [[] for _ in counts]
    missing, drawn, rejected = counts.copy(), np.zeros_like(counts), np.zeros_like(counts)
    rounds = 0
    while missing.any() and rounds < (max_rounds if classifier is not None else 1):
        # Draw missing / acceptance rate so far (at most 10x): few rounds even when the filter is strict.
        rate = np.where(drawn > 0, 1 - rejected / np.maximum(drawn, 1), 1.0)
        todo = np.ceil(missing / np.clip(rate, 0.1, 1.0)).astype(np.int64)
        labels = np.repeat(np.arange(len(counts)), todo)
        # Round 0 draws what `generate --seed` draws for the same labels.
        x = sampling.sample(sampler, config, labels=labels, seed=seed if rounds == 0 else (seed, rounds),
                            temperature=temperature)
        ok = np.ones(len(x), bool) if classifier is None else accepted(classifier, x, labels, threshold)
        drawn += todo
        rejected += np.bincount(labels[~ok], minlength=len(counts))
        for c in np.flatnonzero(missing):
            take = x[ok & (labels == c)][: missing[c]]
            kept[c].append(take)
            missing[c] -= len(take)
        rounds += 1
    shape = tuple(config["image_shape"])
    x = np.concatenate([np.zeros((0, *shape), np.uint8)] + [a for parts in kept for a in parts])
    y = np.repeat(np.arange(len(counts)), counts - missing)
    if classifier is None:
        return x, y, None
    report = {"threshold": threshold, "rounds": rounds, "generated": int(drawn.sum()),
              "rejected": int(rejected.sum()), "rejected_per_class": rejected.tolist(),
              "short_per_class": missing.tolist()}
    return x, y, report


def accepted(classifier, x, labels, threshold):
    """Which samples `classifier` assigns to their label (its top class) with probability >= `threshold`."""
    probabilities = np.asarray(classifier.predict(x, batch_size=1000, verbose=0))
    if probabilities.ndim != 2 or probabilities.shape[1] <= labels.max(initial=0):
        raise AugmentError(f"the filter classifier gives {probabilities.shape[-1]} class probabilities but the run "
                           f"has labels up to {labels.max()}: use the classifier of the run's dataset")
    p = probabilities[np.arange(len(labels)), labels]
    return (p >= threshold) & (p >= probabilities.max(axis=1))


def augmented_arrays(sampler, config, x_real, y_real, *, per_class=None, ratio=None, balance=False, balance_share=None,
                     classes=None, filter_threshold=None, classifier=None, max_rounds=defaults.FILTER_MAX_ROUNDS, seed=0,
                     temperature=1.0, return_report=False):
    """(x uint8 (N, H, W, C), y int64, is_synthetic bool): the real samples (with `balance`, then the real copies
    of `balance_copies`), then synthetic ones from a conditional run's `sampler` (see `synthetic_counts` for the
    amounts, `synthesize` for the filter, `sampling.sample` for the temperature). What `augment` writes.

    `filter_threshold` turns the filter on, with `classifier` or else the reference classifier of the run's data;
    `return_report` adds the filter's report (None without the filter) as a fourth item.
    """
    num_classes = run_classes(config)
    x_real, y_real = checks.real_images(x_real, y_real, config)
    counts = synthetic_counts(y_real, num_classes, per_class=per_class, ratio=ratio, balance=balance,
                              balance_share=balance_share, classes=classes)
    if filter_threshold is None:
        classifier = None
    elif classifier is None:
        classifier = reference.reference_classifier(config["dataset"], config.get("data_dir"))
    x_syn, y_syn, report = synthesize(sampler, config, counts, classifier=classifier, threshold=filter_threshold,
                                      max_rounds=max_rounds, seed=seed, temperature=temperature)
    rng = np.random.default_rng([seed, len(y_real)])
    copies = balance_copies(y_real, num_classes, counts, rng, classes) if balance else []
    augmented = combine(*with_copies(x_real, y_real, copies), x_syn, y_syn)
    return (*augmented, report) if return_report else augmented


def with_copies(x_real, y_real, copies):
    """The real samples followed by the ones at indices `copies` (repeated real images)."""
    keep = np.concatenate([np.arange(len(y_real)), np.asarray(copies, np.int64)])
    return x_real[keep], y_real[keep]


def combine(x_real, y_real, x_syn, y_syn):
    """Real then synthetic samples as (x, y, is_synthetic)."""
    is_synthetic = np.repeat([False, True], [len(x_real), len(x_syn)])
    return np.concatenate([x_real, x_syn]), np.concatenate([y_real, y_syn]).astype(np.int64), is_synthetic


def filter_classifier(run_dir, dataset, data_dir, verbose=False):
    """(classifier, its name): what --filter scores samples with, the run's own classifier where it trained one (from
    unlabelled images too, so better than a reference trained on the few labelled ones), else the reference
    classifier (`verbose`: its first training shown on stderr)."""
    own = runs.path(run_dir, pseudo_labels.CLASSIFIER)
    if os.path.exists(own):
        return runs.load_model(own), f"the run's {pseudo_labels.CLASSIFIER}"
    return reference.reference_classifier(dataset, data_dir, verbose=verbose), "the reference classifier"


def synthetic_chunks(sampler, config, counts, *, classifier=None, threshold=None, max_rounds=None, seed=0, skip=0,
                     temperature=1.0, reports=None):
    """Chunks of the `counts` synthetic samples, chunk j of every class in proportion and shuffled (so that each shard
    holds every class), drawn with the seed (`seed`, j); without a filter, chunks within the first `skip` are not
    drawn (a count stands for them, see `skipped`). The filter's report of each chunk goes to `reports`."""
    chunk, total = sampling.CHUNK_BATCHES * 1000, int(counts.sum())
    for j, start in enumerate(range(0, total, chunk)):
        end = min(total, start + chunk)
        these = counts * end // max(total, 1) - counts * start // max(total, 1)  # exact totals over the chunks
        if end <= skip and classifier is None:  # the filter may leave a chunk short: those are drawn again
            yield int(these.sum())  # a count: skipped, not drawn
            continue
        x, y, report = synthesize(sampler, config, these, classifier=classifier, threshold=threshold,
                                  max_rounds=max_rounds, seed=(seed, j), temperature=temperature)
        if report and reports is not None:
            reports.append(report)
        order = np.random.default_rng([seed, j]).permutation(len(y))  # by class no more: every shard mixes them
        yield x[order], y[order]


def merged_report(reports, threshold, classifier_name):
    """One filter report for the chunks' `reports` (None without a filter), as `synthesize` gives for one draw."""
    if not reports:
        return None
    return {"threshold": threshold, "classifier": classifier_name, "rounds": max(r["rounds"] for r in reports),
            **{k: int(sum(r[k] for r in reports)) for k in ("generated", "rejected")},
            **{k: np.sum([r[k] for r in reports], axis=0).tolist() for k in ("rejected_per_class", "short_per_class")}}


def report_filter(report):
    """One stderr line for what the filter dropped, one more if some class stayed short."""
    if report is None:
        return
    print(f"filter: dropped {report['rejected']} of {report['generated']} generated samples ({report['classifier']} "
          f"below {report['threshold']} for their label) in {report['rounds']} rounds", file=sys.stderr)
    short = {c: n for c, n in enumerate(report["short_per_class"]) if n}
    if short:
        print(f"warning: after {report['rounds']} rounds, classes still short of samples (class: missing): {short}; "
              "lower --threshold, raise --max-rounds or train the run longer", file=sys.stderr)
