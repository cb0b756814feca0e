"""The estimators' training engine.

The SGD/Adam epoch loop (``stochastic``) and L-BFGS (``lbfgs``) side by side
over what they share (``common``), canonical batches, data-parallel execution
(threads and worker processes) with its BLAS control, deferred Ctrl-C,
scikit-learn callbacks, checkpoints and resumed fits (``checkpoint``) and
batch-norm statistics. :class:`skcnn._base.BaseCNN`
inherits the loops; nothing here imports the estimators.
"""
