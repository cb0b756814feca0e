"""Data shared by the test modules (read-only, so that no test can change it for another)."""

import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def _read_only(*arrays):
    for array in arrays:
        array.setflags(write=False)
    return arrays


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 1,797 digits of 8 x 8 pixels scaled to [0, 1]: ``(X, y)``."""
    X, y = load_digits(return_X_y=True)
    return _read_only(X / 16, y)


@pytest.fixture(scope="session")
def digits_split(digits):
    """``digits`` split 3:1, stratified: ``X_train, X_test, y_train, y_test``."""
    X, y = digits
    return _read_only(*train_test_split(X, y, test_size=0.25, random_state=0, stratify=y))


@pytest.fixture(scope="session")
def few_digits(digits):
    """The first 300 of ``digits``: ``(X, y)``, for tests that only need a fitted model."""
    X, y = digits
    return X[:300], y[:300]
