"""BLAS held at one thread while skcnn computes, from whichever thread calls.

Two reasons: OpenBLAS may round a product differently with one thread than
with two (the bits would depend on the machine's threads), and its threads
spin while they wait for each other, so beside a busy process a second
thread waits for a core that is taken (``benchmarks/RESULTS.md``, "Design
measurements"). Large networks run several one-thread shards side by side
instead (``parallel``).

threadpoolctl lets only the first Python thread that sets a limit change
OpenBLAS's process-wide pool, so the count is set through OpenBLAS's own C
function, which acts from any thread. The limit is process-wide and
reference-counted: concurrent fits and predictions share it; the first in
sets it and the last out restores the counts it found.
"""

import ctypes
import itertools
import sys
import threading

from threadpoolctl import ThreadpoolController

_OPENBLAS_SETTERS = tuple(
    f"{prefix}openblas_set_num_threads{suffix}"
    for prefix, suffix in itertools.product(("", "scipy_"), ("", "64_", "_64"))
)


_found = (None, [])  # (len(sys.modules) when scanned, the BLAS controllers found)


def _blas_controllers():
    """threadpoolctl's controllers of the loaded BLAS libraries.

    Finding them scans every loaded library (most of a one-image predict's
    time); a new BLAS can only come with an import, so the scan is kept until
    the count of imported modules changes.
    """
    global _found
    count = len(sys.modules)
    if _found[0] != count:
        controllers = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
        _found = (count, controllers)
    return _found[1]


def _set_threads(controller, n):
    """Set one BLAS library's thread count, bypassing threadpoolctl's
    one-controlling-thread rule for OpenBLAS's process-wide pool."""
    if controller.internal_api == "openblas" and controller.threading_layer != "openmp":
        # The library threadpoolctl already opened (else open it: the same copy).
        lib = getattr(controller, "dynlib", None) or ctypes.CDLL(controller.filepath)
        for name in _OPENBLAS_SETTERS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(ctypes.c_int(n))
                return
    controller.set_num_threads(n)


def blas_threads():
    """The largest thread count of the loaded BLAS libraries (None: no BLAS found)."""
    counts = [c.get_num_threads() for c in _blas_controllers()]
    counts = [n for n in counts if n is not None]
    return max(counts) if counts else None


class _OneThreadBlas:
    """Reference-counted process-wide limit of every BLAS library to one thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._saved = []

    def __enter__(self):
        with self._lock:
            if self._users == 0:
                controllers = _blas_controllers()
                self._saved = [(c, c.get_num_threads()) for c in controllers]
                for controller, count in self._saved:
                    if count != 1:
                        _set_threads(controller, 1)
            self._users += 1
        return self

    def __exit__(self, *exc_info):
        with self._lock:
            self._users -= 1
            if self._users == 0:
                for controller, count in self._saved:
                    if count is not None and count != 1:
                        _set_threads(controller, count)
                self._saved = []
        return False


one_thread_blas = _OneThreadBlas()
