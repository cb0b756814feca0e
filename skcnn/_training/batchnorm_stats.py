"""Batch norm's running statistics recomputed on a whole data set.

``batchnorm_statistics="training_set"`` replaces, at the end of ``fit``, the
moving averages that BatchNorm layers keep during training by the exact mean
and unbiased variance of each layer's input over the training samples, in
inference mode, layer after layer in network order (each layer's input is
computed with the statistics already recomputed before it): "precise batch
norm" (Wu & Johnson, *Rethinking "Batch" in BatchNorm*, 2021). The moving
averages follow the last few batches, and with augmentation they describe
augmented images, not the images the model predicts.

The canonical samples (equal ones merged, as in training) go through the
network in parts of ``SAMPLES_PER_PART`` rows whatever the number of
threads, and the parts' moments combine in their order, so the statistics
have the same bits on any number of threads, and integer sample weights
those of repeated samples.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._functional.batchnorm import combine_moments
from .batches import canonical_batch, dense_rows, sample_label_keys
from .blas import one_thread_blas

# Samples per part of the pass over the training set: enough to keep the
# GEMMs efficient, few enough to bound its memory.
SAMPLES_PER_PART = 256


def recompute_running_stats(network, X, y, sample_weight, sample_shape, n_threads):
    """Set the running statistics of every BatchNorm layer of ``network``
    (``syncs_batch``) to those of 2-D ``X`` (dense or CSR, read as samples
    of ``sample_shape``), weighted by ``sample_weight`` (None: all ones).

    As in training, the samples are canonical first (``canonical_batch``:
    sorted by value and label, equal ones merged into one weighted by their
    count, zero weights dropped), so integer weights give the bits of
    repeated samples. On failure (an error, Ctrl-C) every running statistic
    is put back.
    """
    layers = network.layers
    if not any(layer.syncs_batch for layer in layers):
        return
    rows, weights = canonical_batch(
        np.arange(X.shape[0]), sample_label_keys(X, y), X, y, sample_weight
    )
    parts = [slice(lo, lo + SAMPLES_PER_PART) for lo in range(0, len(rows), SAMPLES_PER_PART)]
    saved = [a.copy() for a in network.running_stats]
    try:
        with one_thread_blas, ThreadPoolExecutor(max(1, n_threads)) as pool:
            for k, layer in enumerate(layers):
                if not layer.syncs_batch:
                    continue

                def moments(part, k=k, layer=layer):
                    h = dense_rows(X, rows[part]).reshape((-1,) + sample_shape)
                    for previous in layers[:k]:
                        h = previous.forward(h)
                    return layer.input_moments(h, None if weights is None else weights[part])

                layer.set_running_stats(combine_moments(list(pool.map(moments, parts))))
    except BaseException:
        for a, old in zip(network.running_stats, saved, strict=True):
            a[...] = old
        raise
