"""
=================================================
Recognizing hand-written digits with a numpy CNN
=================================================

This example trains :class:`skcnn.NumpyCNNClassifier` on scikit-learn's
digits dataset: 1,797 images of 8 x 8 pixels, with 17 gray levels each. The
classifier reads each row of 64 features as one 8 x 8 image (a square number
of features is taken as a square picture), so the data goes in exactly as it
would go into :class:`~sklearn.svm.SVC` or
:class:`~sklearn.neural_network.MLPClassifier`.

We hold out a quarter of the images, train on the rest, print the test
accuracy and draw the confusion matrix of the test set with scikit-learn's
:class:`~sklearn.metrics.ConfusionMatrixDisplay`.

Run ``python examples/plot_digits_classification.py``; ``--quick`` trains a
small network for 10 epochs instead (a couple of seconds) and
``--output-dir`` says where the PNG goes.
"""

import argparse
import time
from pathlib import Path

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score
from sklearn.model_selection import train_test_split

from skcnn import NumpyCNNClassifier

# The command line: --quick for the small settings this gallery runs, --output-dir
# for where the PNGs go (examples/output/ by default).
parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="tiny settings, for tests")
parser.add_argument(
    "--output-dir", type=Path, help="where to save the PNG (default: examples/output/)"
)
args = parser.parse_args()
if args.output_dir is None:
    args.output_dir = Path(__file__).resolve().parent / "output"
args.output_dir.mkdir(parents=True, exist_ok=True)

# %%
# Load the digits and split them
# -------------------------------
# Pixel values run from 0 to 16: dividing by 16 puts them in [0, 1], the
# scale the network's default learning rate is tuned for.
X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

# %%
# Train the network
# -----------------
# The default architecture: two blocks of 3 x 3 convolution, max-pooling and
# relu (32 then 64 filters), a dense layer of 128 units and the softmax. It
# trains until its stopping rule ends it (``tol``, ``n_iter_no_change``), for
# at most ``max_iter`` epochs; the script prints how many epochs that took
# (``clf.n_iter_``) and how long. The quick run trains one small block for 10
# epochs, with a larger learning rate.
if args.quick:
    clf = NumpyCNNClassifier(
        filters=(8,), hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=10,
        random_state=0,
    )
else:
    clf = NumpyCNNClassifier(random_state=0)
start = time.perf_counter()
clf.fit(X_train, y_train)
seconds = time.perf_counter() - start
y_pred = clf.predict(X_test)
accuracy = accuracy_score(y_test, y_pred)
print(f"Trained {clf.n_iter_} epochs on {len(X_train)} images in {seconds:.1f} s.")
print(f"Test accuracy: {accuracy:.4f} on {len(X_test)} images.")

# %%
# Confusion matrix
# ----------------
# Rows are the true digits, columns the predicted ones: everything off the
# diagonal is a mistake.
disp = ConfusionMatrixDisplay.from_predictions(y_test, y_pred, cmap="Blues", colorbar=False)
disp.ax_.set_title(f"NumpyCNNClassifier on the digits test set (accuracy {accuracy:.3f})")
disp.figure_.set_size_inches(6.4, 6.0)
disp.figure_.tight_layout()
path = args.output_dir / "digits_confusion_matrix.png"
disp.figure_.savefig(path, dpi=100)
print(f"Saved {path}")
plt.show()
