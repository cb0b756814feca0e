"""Models saved by skcnn 0.1.0 (pickle and skops) load and predict the same."""

import pickle
from pathlib import Path

import numpy as np
import pytest

from skcnn import SKOPS_TRUSTED_TYPES

SAVED = Path(__file__).parent / "data" / "saved_0_1_0"
NAMES = sorted(path.stem for path in SAVED.glob("*.pkl"))


def _load(name, fmt):
    if fmt == "pickle":
        with open(SAVED / f"{name}.pkl", "rb") as f:
            return pickle.load(f)
    sio = pytest.importorskip("skops.io", reason="the optional skops extra is not installed")
    path = SAVED / f"{name}.skops"
    untrusted = set(sio.get_untrusted_types(file=path))
    assert untrusted <= set(SKOPS_TRUSTED_TYPES), untrusted - set(SKOPS_TRUSTED_TYPES)
    return sio.load(path, trusted=SKOPS_TRUSTED_TYPES)


def test_every_fixture_is_checked():
    assert len(NAMES) == 4


@pytest.mark.parametrize("fmt", ["pickle", "skops"])
@pytest.mark.parametrize("name", NAMES)
def test_a_model_saved_by_0_1_0_predicts_the_same(name, fmt):
    expected = np.load(SAVED / "expected.npz")
    model = _load(name, fmt)
    X = expected["X"]
    np.testing.assert_array_equal(model.predict(X), expected[f"{name}_predict"])
    if f"{name}_predict_proba" in expected:
        np.testing.assert_array_equal(model.predict_proba(X), expected[f"{name}_predict_proba"])


@pytest.mark.parametrize("name", NAMES)
def test_a_model_saved_by_0_1_0_keeps_training(name):
    model = _load(name, "pickle")
    expected = np.load(SAVED / "expected.npz")
    X = expected["X"]
    if model.solver == "lbfgs":
        pytest.skip("partial_fit is for the stochastic solvers")
    y = expected[f"{name}_predict"]
    before = [w.copy() for w in model.coefs_]
    model.partial_fit(X, y)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.coefs_))
