"""Run examples/notebook.ipynb headless on a real Jupyter kernel of this Python."""

import json
import os
import re
import sys
from pathlib import Path

import pytest

import skcnn

nbformat = pytest.importorskip("nbformat", reason="running the notebook needs nbformat")
nbclient = pytest.importorskip("nbclient", reason="running the notebook needs nbclient")
pytest.importorskip("ipykernel", reason="running the notebook needs ipykernel")
pytest.importorskip("matplotlib", reason="the notebook plots with matplotlib")
pytest.importorskip("rich", reason="the notebook draws progress bars with rich")
pytest.importorskip("ipywidgets", reason="rich draws its progress bars in Jupyter with ipywidgets")
pytest.importorskip("sklearn.callback", reason="the notebook's callbacks need scikit-learn >= 1.9")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "notebook.ipynb"
# A model that learned digits; the notebook's small networks reach 0.96 to 0.98.
MIN_ACCURACY = 0.9


def kernel_manager(tmp_path):
    """A kernel manager for this very Python, importing this very skcnn.

    The kernel spec is written to a temporary directory, so that no spec
    needs to be installed (a fresh virtual environment has none, or one for
    another Python).
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec_dir = tmp_path / "kernels" / "skcnn-tests"
    spec_dir.mkdir(parents=True)
    source_root = str(Path(skcnn.__file__).resolve().parents[1])
    python_path = os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "skcnn tests",
        "language": "python",
        "env": {"PYTHONPATH": python_path, "MPLBACKEND": "Agg"},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")], ensure_native_kernel=False)
    return KernelManager(kernel_name="skcnn-tests", kernel_spec_manager=specs)


def cell_text(cell):
    """Everything a cell printed or returned, as text."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "".join(parts)


def cell_html(cell):
    """The HTML a cell displayed (estimators' diagrams)."""
    return "".join(output.data.get("text/html", "") for output in cell.get("outputs", [])
                   if "data" in output)


def widget_text(notebook):
    """What the notebook's output widgets (rich's live displays) show at the end."""
    state = notebook.metadata.get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return "".join(
        output.get("data", {}).get("text/plain", "") + output.get("text", "")
        for widget in state.values() for output in widget.get("state", {}).get("outputs", [])
    )


def test_the_notebook_runs_and_its_models_learn(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        "strip the outputs of examples/notebook.ipynb before committing it"
    )
    # A last cell that says which Python and which skcnn the kernel ran.
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import sys, skcnn\nprint('kernel python:', sys.executable)\n"
        "print('kernel skcnn:', skcnn.__file__)"
    ))
    client = nbclient.NotebookClient(
        notebook, km=kernel_manager(tmp_path), timeout=300, store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the traceback, if a cell fails
    text = "\n".join(cell_text(cell) for cell in notebook.cells if cell.cell_type == "code")
    assert f"kernel python: {sys.executable}" in text
    assert f"kernel skcnn: {skcnn.__file__}" in text
    accuracies = {
        label: float(value)
        for label, value in re.findall(r"^([\w -]*accuracy): (\d\.\d+)", text, re.M)
    }
    assert set(accuracies) >= {
        "Test accuracy", "Grid search test accuracy", "Pipeline test accuracy",
    }, text
    low = {label: value for label, value in accuracies.items() if value < MIN_ACCURACY}
    assert not low, f"the notebook's models barely learned: {low}\n{text}"
    assert re.search(r"Epochs: \d+ \(at most 40\)", text), text
    assert re.search(r"^Total trainable parameters: [\d,]+$", text, re.M), text
    # The diagrams of the network and of the Pipeline show the layers as steps.
    html = "".join(cell_html(cell) for cell in notebook.cells if cell.cell_type == "code")
    assert html.count("<div>conv1: Conv2D</div>") == 2, html[-2000:]
    assert "Traceback" not in text and "Warning" not in text, text
    # The progress bars, drawn live in output widgets, end full: the network's
    # own, and the grid search's with every network under it (3 splits x 2
    # candidates, and the refit).
    bars = widget_text(notebook)
    assert re.search(r"^NumpyCNNClassifier - fit .*100%", bars, re.M), bars
    assert re.search(r"^GridSearchCV - fit .*100%", bars, re.M), bars
    assert len(re.findall(r"\| NumpyCNNClassifier - fit #\d .*100%", bars)) == 3 * 2 + 1, bars
