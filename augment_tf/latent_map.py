"""A picture of a VAE's codes: the codes in 2-D coloured by class, and for a 2-D code the images decoded across
the plane beside them (as in the keras.io VAE example)."""

import numpy as np

from augment_tf import files


def principal_plane(codes):
    """The codes projected on their first two principal components (N, 2), and the share of variance they hold."""
    centred = codes - codes.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    return centred @ axes[:2].T, float(np.sum(singular[:2] ** 2) / np.sum(singular**2))


def draw_map(path, mean, y, decoder=None, label=None):
    """A scatter of the codes in 2-D, coloured by class; for a 2-D code with a `decoder`, a grid of decoded images
    across the plane beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plane, share = (mean, 1.0) if mean.shape[1] == 2 else principal_plane(mean)
    panels = 2 if decoder is not None and mean.shape[1] == 2 else 1
    figure, axes = plt.subplots(1, panels, figsize=(6 * panels, 5.5), squeeze=False)
    scatter = axes[0, 0].scatter(plane[:, 0], plane[:, 1], c=y if y is not None else "k", s=2, cmap="tab10")
    if y is not None:
        figure.colorbar(scatter, ax=axes[0, 0], label="class")
    axes[0, 0].set_title("codes (posterior means)" if mean.shape[1] == 2 else
                         f"codes on their first two principal components ({share:.0%} of the variance)")
    if panels == 2:
        n, size = 15, None
        grid = np.linspace(*np.percentile(plane, [1, 99], axis=0), n)  # (n, 2): the populated part of the plane
        z = np.array([[a, b] for b in grid[::-1, 1] for a in grid[:, 0]], np.float32)
        inputs = z if label is None else [z, np.full(len(z), label, np.int32)]
        tiles = np.asarray(decoder(inputs, training=False))[..., 0]
        size = tiles.shape[1]
        axes[0, 1].imshow(tiles.reshape(n, n, size, size).transpose(0, 2, 1, 3).reshape(n * size, n * size),
                          cmap="gray")
        axes[0, 1].set_axis_off()
        axes[0, 1].set_title("decoded across the plane" + ("" if label is None else f" (class {label})"))
    with files.atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(figure)
