"""The estimators' training engine.

The SGD/Adam epoch loop and L-BFGS side by side, canonical batches,
data-parallel execution (threads and worker processes) with its BLAS
control, deferred Ctrl-C, scikit-learn callbacks and batch-norm statistics.
:class:`skcnn._base.BaseCNN` calls it; nothing here imports the estimators.
"""
