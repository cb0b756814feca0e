"""The gallery's link between sphinx-gallery and the example scripts.

The examples are ordinary scripts with ``--quick`` (small networks, a few
epochs) and ``--output-dir`` (where they save their PNGs). The gallery runs
them in their quick mode, so that the build takes a minute instead of
hours: one code path for the command line, the tests and the gallery.

A module of its own, not a function in conf.py, so that Sphinx can pickle
the configuration that names it (``"reset_argv": "gallery.quick_argv"``).
"""

import os


def quick_argv(gallery_conf, script_vars):
    """The command-line arguments every gallery example runs with.

    sphinx-gallery runs an example from its own folder, ``examples/``: the
    PNGs the script saves go to ``examples/output/`` (ignored by git), the
    scripts' own default, named relatively so that the page shows a short
    path, or to ``$SKCNN_EXAMPLES_OUTPUT_DIR`` if set (tests/test_docs.py
    checks them there). The figures on the page are the ones sphinx-gallery
    captures.
    """
    return ["--quick", "--output-dir", os.environ.get("SKCNN_EXAMPLES_OUTPUT_DIR", "output")]

