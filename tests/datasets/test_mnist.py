"""Tests of skcnn.datasets.load_mnist: a Bunch laid out as load_digits'."""

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_digits
from sklearn.utils import Bunch

from skcnn.datasets import load_mnist

CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


def test_bunch_has_the_keys_of_load_digits(mnist):
    assert isinstance(mnist, Bunch)
    assert set(mnist) == set(load_digits())
    assert mnist.frame is None


def test_data_is_images_flattened_row_by_row(mnist):
    assert mnist.images.shape == (10000, 28, 28) and mnist.images.dtype == np.uint8
    assert mnist.data.shape == (10000, 784) and mnist.data.dtype == np.uint8
    assert_array_equal(mnist.data, mnist.images.reshape(10000, -1))
    # Row-major pixels: the name of column k says where pixel k sits in the image.
    assert mnist.feature_names[:2] == ["pixel_0_0", "pixel_0_1"]
    assert mnist.feature_names[28] == "pixel_1_0" and mnist.feature_names[-1] == "pixel_27_27"
    row, col = 14, 9
    assert mnist.feature_names[row * 28 + col] == f"pixel_{row}_{col}"
    assert_array_equal(mnist.data[:, row * 28 + col], mnist.images[:, row, col])
    assert mnist.images.min() == 0 and mnist.images.max() == 255


def test_target_and_target_names(mnist):
    assert mnist.target.shape == (10000,)
    assert mnist.target[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(mnist.target).tolist() == CLASS_COUNTS
    assert_array_equal(mnist.target_names, np.arange(10))


def test_descr_gives_source_licence_and_split(mnist):
    assert "LeCun" in mnist.DESCR
    assert "CC BY-SA 3.0" in mnist.DESCR
    assert "first 8,000 images for training, the last 2,000 for testing" in mnist.DESCR


def test_the_dict_keys_still_work(mnist):
    """Callers of the old dict read d["images"] and d["target"]."""
    assert mnist["images"] is mnist.images
    assert mnist["target"] is mnist.target


def test_return_X_y_gives_the_3d_images(mnist):
    X, y = load_mnist(return_X_y=True)
    assert X.shape == (10000, 28, 28)
    assert_array_equal(X, mnist.images)
    assert_array_equal(y, mnist.target)


def test_arrays_are_fresh_and_writable():
    first, second = load_mnist(), load_mnist()
    assert first.images.flags.writeable and first.target.flags.writeable
    first.images[0] = 0
    assert second.images[0].max() == 255  # no shared cache behind the loader


def test_as_frame():
    pd = pytest.importorskip("pandas")
    mnist = load_mnist(as_frame=True)
    assert isinstance(mnist.data, pd.DataFrame) and mnist.data.shape == (10000, 784)
    assert list(mnist.data.columns) == mnist.feature_names
    assert isinstance(mnist.target, pd.Series) and mnist.target.name == "target"
    assert list(mnist.frame.columns) == mnist.feature_names + ["target"]
    assert isinstance(mnist.images, np.ndarray)
    assert_array_equal(mnist.data.to_numpy(), mnist.images.reshape(10000, -1))
    assert_array_equal(mnist.frame["target"], mnist.target)
    X, y = load_mnist(return_X_y=True, as_frame=True)
    assert isinstance(X, pd.DataFrame) and X.shape == (10000, 784)
    assert isinstance(y, pd.Series) and y.iloc[:5].tolist() == [7, 2, 1, 0, 4]


def test_as_frame_without_pandas_says_how_to_install_it():
    code = (
        "import sys\n"
        "sys.modules['pandas'] = None  # as if not installed\n"
        "from skcnn.datasets import load_mnist\n"
        "assert load_mnist().data.shape == (10000, 784)  # numpy output needs no pandas\n"
        "try:\n"
        "    load_mnist(as_frame=True)\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert "load_mnist(as_frame=True) requires pandas" in out.stdout
    assert "pip install pandas" in out.stdout


@pytest.mark.parametrize("name", ["return_X_y", "as_frame"])
def test_flags_must_be_bools(name):
    with pytest.raises(TypeError, match=f"{name} must be a bool. Received {name}='yes'"):
        load_mnist(**{name: "yes"})
