"""Collection rules for the doctests in skcnn/ (pytest --doctest-modules)."""

import importlib.util

# The inspection doctests draw with matplotlib, an optional extra: without it
# they are not collected (the tests in tests/test_inspection.py skip with a reason).
collect_ignore = []
if importlib.util.find_spec("matplotlib") is None:
    collect_ignore.append("skcnn/inspection")
