"""Run every gallery example on quick settings and check the pictures it saves
and the scores it prints, where the documentation cannot be built.

Where it can, tests/test_docs.py builds it, and the gallery runs the same
scripts with the same ``--quick`` settings; that test makes these checks on
the gallery's runs, so that each example runs once per test session."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.docs import missing_docs_modules
from tests.support.pictures import EXAMPLE_PICTURES, assert_example_output

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# dask_cluster.py needs a dask cluster and is tested in test_dask.py.
NOT_HERE = {"dask_cluster.py"}
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if p.name not in NOT_HERE)


def test_every_example_is_checked():
    assert set(SCRIPTS) == set(EXAMPLE_PICTURES), "add the new example and its PNGs to EXAMPLE_PICTURES"


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs_and_saves_its_pictures(script, tmp_path):
    pytest.importorskip("matplotlib", reason="the examples plot with matplotlib")
    if not missing_docs_modules():
        pytest.skip("the documentation's gallery runs the examples: tests/test_docs.py checks them")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--quick", "--output-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert_example_output(script, proc.stdout, tmp_path)
