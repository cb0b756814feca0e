"""Run every example script on quick settings and check the pictures it saves
and the accuracy it prints."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.pictures import MIN_ACCURACY, assert_picture, printed_accuracies

pytest.importorskip("matplotlib", reason="the examples plot with matplotlib")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# dask_cluster.py needs a dask cluster and is tested in test_dask.py.
NOT_HERE = {"dask_cluster.py"}
# The PNGs each example must write.
PICTURES = {
    "plot_digits_classification.py": ["digits_confusion_matrix.png"],
    "plot_grid_search_pipeline.py": ["grid_search_scores.png"],
    "plot_filters_and_activations.py": ["mnist_filters.png", "mnist_activations.png"],
    "plot_mnist_training_curve.py": ["mnist_training_curve.png"],
    "plot_rotation_regression.py": ["rotation_regression.png"],
    "plot_signal_regression.py": ["signal_regression.png"],
}
# Regression examples print errors, not accuracies.
REGRESSION = {"plot_rotation_regression.py", "plot_signal_regression.py"}
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if p.name not in NOT_HERE)


def test_every_example_is_checked():
    assert set(SCRIPTS) == set(PICTURES), "add the new example and its PNGs to PICTURES"


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs_and_saves_its_pictures(script, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--quick", "--output-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for name in PICTURES[script]:
        assert_picture(tmp_path / name, proc.stdout)
    if script in REGRESSION:
        # The model drawn learned: its error is far below the target's spread.
        rmse = float(re.search(r"NumpyCNNRegressor: test RMSE ([\d.]+)", proc.stdout)[1])
        spread = float(re.search(r"Target standard deviation: ([\d.]+)", proc.stdout)[1])
        assert rmse < 0.7 * spread, proc.stdout
        return
    # The model drawn learned: every accuracy printed (test, validation,
    # cross-validation) is far above chance.
    accuracies = printed_accuracies(proc.stdout)
    assert "Test accuracy" in accuracies, proc.stdout
    low = {label: value for label, value in accuracies.items() if value < MIN_ACCURACY}
    assert not low, f"{script} --quick drew a model that barely learned: {low}"
