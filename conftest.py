"""Collection rules for the doctests in skcnn/ (pytest --doctest-modules)."""

import importlib.util

# The inspection doctests draw with matplotlib, an optional extra: without it
# they are not collected (the tests in tests/test_inspection.py skip with a reason).
collect_ignore = []
if importlib.util.find_spec("matplotlib") is None:
    collect_ignore.append("skcnn/inspection")

# The ONNX export needs the optional 'onnx' extra (skl2onnx, onnxruntime): without
# it skcnn.onnx is not collected (tests/test_onnx.py skips with a reason).
if importlib.util.find_spec("skl2onnx") is None or importlib.util.find_spec("onnxruntime") is None:
    collect_ignore.append("skcnn/onnx")
