"""Checks of the PNGs and scores that the example scripts print, shared by
test_examples.py (the scripts run on their own), test_docs.py (the scripts
run by the documentation's gallery) and test_dask.py."""

import re

import numpy as np

# Ten digits: chance is 0.1. A quick run must still draw a model that learned.
MIN_ACCURACY = 0.8

# The PNGs each gallery example (examples/plot_*.py) must write.
EXAMPLE_PICTURES = {
    "plot_digits_classification.py": ["digits_confusion_matrix.png"],
    "plot_grid_search_pipeline.py": ["grid_search_scores.png"],
    "plot_filters_and_activations.py": ["mnist_filters.png", "mnist_activations.png"],
    "plot_mnist_training_curve.py": ["mnist_training_curve.png"],
    "plot_rotation_regression.py": ["rotation_regression.png"],
    "plot_signal_regression.py": ["signal_regression.png"],
}
# Regression examples print errors, not accuracies.
REGRESSION_EXAMPLES = {"plot_rotation_regression.py", "plot_signal_regression.py"}


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


def assert_example_output(script, stdout, output_dir):
    """A quick run of ``script`` (a name of ``EXAMPLE_PICTURES``) that printed
    ``stdout`` saved its pictures in ``output_dir`` and drew a model that learned."""
    for name in EXAMPLE_PICTURES[script]:
        assert_picture(output_dir / name, stdout)
    if script in REGRESSION_EXAMPLES:
        # The model drawn learned: its error is far below the target's spread.
        rmse = float(re.search(r"NumpyCNNRegressor: test RMSE ([\d.]+)", stdout)[1])
        spread = float(re.search(r"Target standard deviation: ([\d.]+)", stdout)[1])
        assert rmse < 0.7 * spread, stdout
        return
    # The model drawn learned: every accuracy printed (test, validation,
    # cross-validation) is far above chance.
    accuracies = printed_accuracies(stdout)
    assert "Test accuracy" in accuracies, stdout
    low = {label: value for label, value in accuracies.items() if value < MIN_ACCURACY}
    assert not low, f"{script} --quick drew a model that barely learned: {low}"
