"""The demo: ``python -m skcnn``.

Trains NumpyCNNClassifier on scikit-learn's digits (8 x 8 images) with one
progress line per epoch, then compares its test accuracy and fit time with
LogisticRegression and MLPClassifier on the same split.
"""

import argparse
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from . import NumpyCNNClassifier, __version__


def _fit_and_score(model, X_train, y_train, X_test, y_test):
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    return model.score(X_test, y_test), seconds


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m skcnn", description=__doc__.splitlines()[0])
    parser.add_argument("--max-iter", type=int, default=None,
                        help="epochs for the CNN (default: the estimator's default)")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=args.random_state
    )
    print(f"skcnn {__version__}: digits, {len(X_train)} training and {len(X_test)} "
          "test images of 8 x 8 pixels\n")

    cnn = NumpyCNNClassifier(verbose=True, random_state=args.random_state)
    if args.max_iter is not None:
        cnn.set_params(max_iter=args.max_iter)
    print(f"Training {cnn!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        rows = [("NumpyCNNClassifier", *_fit_and_score(cnn, X_train, y_train, X_test, y_test))]
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    print(f"\n{'converged' if converged else 'max_iter reached'} after {cnn.n_iter_} epochs\n")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, model in [
            ("LogisticRegression", LogisticRegression(max_iter=1000)),
            ("MLPClassifier", MLPClassifier(random_state=args.random_state)),
        ]:
            rows.append((name, *_fit_and_score(model, X_train, y_train, X_test, y_test)))

    print(f"{'model':<20} {'test accuracy':>13} {'fit time':>10}")
    for name, accuracy, seconds in rows:
        print(f"{name:<20} {accuracy:>13.4f} {seconds:>9.1f}s")


if __name__ == "__main__":
    main()
