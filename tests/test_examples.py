"""Run every example script on tiny settings and check the pictures it saves."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="the examples plot with matplotlib")
import matplotlib.image  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# dask_cluster.py needs a dask cluster and is tested in test_dask.py.
NOT_HERE = {"dask_cluster.py"}
# The PNGs each example must write.
PICTURES = {
    "plot_digits_classification.py": ["digits_confusion_matrix.png"],
    "plot_grid_search_pipeline.py": ["grid_search_scores.png"],
    "plot_filters_and_activations.py": ["mnist_filters.png", "mnist_activations.png"],
    "plot_mnist_training_curve.py": ["mnist_training_curve.png"],
}
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
    for name in PICTURES.get(script, []):
        path = tmp_path / name
        assert path.is_file(), f"{script} did not save {name}:\n{proc.stdout}"
        pixels = matplotlib.image.imread(path)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) >= 100
        assert np.std(pixels) > 0, f"{name} is blank"
        inked = (pixels[..., :3] < 0.95).any(axis=-1).mean()
        assert inked > 0.02, f"{name} is almost blank ({inked:.1%} of its pixels drawn)"
        assert f"Saved {path}" in proc.stdout
