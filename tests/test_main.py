"""The demo behind ``python -m skcnn``."""

import re

from skcnn.__main__ import main


def test_demo_trains_with_progress_and_compares_models(capsys):
    main(["--max-iter", "4"])
    out = capsys.readouterr().out
    assert len(re.findall(r"^Iteration \d+, loss = ", out, flags=re.M)) == 4
    assert "max_iter reached after 4 epochs" in out
    rows = dict(re.findall(r"^(\w+)\s+(0\.\d{4})\s+[\d.]+s$", out, flags=re.M))
    assert set(rows) == {"NumpyCNNClassifier", "LogisticRegression", "MLPClassifier"}
    assert float(rows["LogisticRegression"]) > 0.9
