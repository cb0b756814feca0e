"""What building the documentation needs (the ``docs`` extra), shared by
test_docs.py, which builds it, and test_examples.py, which runs the examples
itself only where the build cannot (the gallery runs them otherwise)."""

import importlib.util

# Module -> why the build needs it.
DOCS_MODULES = {
    "sphinx": "the documentation is built with Sphinx",
    "pydata_sphinx_theme": "the documentation uses pydata-sphinx-theme",
    "numpydoc": "the API reference reads numpydoc docstrings",
    "sphinx_gallery": "the examples' gallery is sphinx-gallery's",
    "myst_parser": "the documentation's pages are Markdown (myst-parser)",
    "matplotlib": "the gallery's examples plot with matplotlib",
    "skl2onnx": "the API reference imports skcnn.onnx",
}


def missing_docs_modules():
    """The modules of ``DOCS_MODULES`` that are not installed."""
    return [name for name in DOCS_MODULES if importlib.util.find_spec(name) is None]
