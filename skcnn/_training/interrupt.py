"""Ctrl-C during training: finish the current batch, then stop cleanly."""

import signal
import threading
from contextlib import contextmanager


class InterruptFlag:
    """Set by the first SIGINT while training runs."""

    def __init__(self):
        self.requested = False


@contextmanager
def deferred_interrupt():
    """Defer the first Ctrl-C to the end of the current batch.

    The first SIGINT only sets ``flag.requested`` and puts the previous handler
    back, so a second Ctrl-C interrupts at once as usual. Outside the main
    thread (joblib threads, Dask workers) signals cannot be handled here and
    the flag simply stays False.
    """
    flag = InterruptFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        flag.requested = True
        signal.signal(signal.SIGINT, previous)

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # signals unavailable in this interpreter context
        yield flag
        return
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
