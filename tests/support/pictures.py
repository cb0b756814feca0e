"""Checks of the PNGs and accuracies that the example scripts print, shared by
test_examples.py and test_dask.py."""

import re

import numpy as np

# Ten digits: chance is 0.1. A quick run must still draw a model that learned.
MIN_ACCURACY = 0.8


def printed_accuracies(stdout):
    """``{label: value}`` of every line "<label with accuracy>: <value> ..." of ``stdout``."""
    lines = re.findall(r"^(\w[^:\n]*accuracy[^:\n]*): (\d\.\d+)", stdout, re.M)
    return {label: float(value) for label, value in lines}


def assert_picture(path, stdout):
    """``path`` is a PNG with something drawn on it, announced in ``stdout``."""
    import matplotlib.image

    assert path.is_file(), f"{path.name} was not saved:\n{stdout}"
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) >= 100
    assert np.std(pixels) > 0, f"{path.name} is blank"
    inked = (pixels[..., :3] < 0.95).any(axis=-1).mean()
    assert inked > 0.02, f"{path.name} is almost blank ({inked:.1%} of its pixels drawn)"
    assert f"Saved {path}" in stdout
