"""Build the documentation as a user would, warnings as errors, and check what
it holds: an API page for every public name, a gallery page with figures for
every example (whose runs must also pass test_examples.py's checks), and the
index's links to every user-guide page. Also, without Sphinx: the relative
links of the repository's Markdown files lead somewhere."""

import importlib
import os
import pkgutil
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.support.docs import DOCS_MODULES, missing_docs_modules
from tests.support.pictures import EXAMPLE_PICTURES, assert_example_output

import skcnn

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """``(html directory, examples' output directory)`` of one build of the docs."""
    for name in missing_docs_modules():
        pytest.skip(f"{DOCS_MODULES[name]} (pip install '.[docs]'): {name} is not installed")
    html = tmp_path_factory.mktemp("html")
    output = tmp_path_factory.mktemp("examples_output")
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        "SKCNN_EXAMPLES_OUTPUT_DIR": str(output),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    # run_stale_examples: the gallery runs every example again, even where an
    # earlier build left its page.
    command = [
        sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
        "-D", "sphinx_gallery_conf.run_stale_examples=1", str(DOCS), str(html),
    ]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"the build failed or warned:\n{proc.stderr[-6000:]}"
    return html, output


def public_names():
    """``module.name`` of every public name of skcnn and of its public subpackages."""
    names = [f"skcnn.{name}" for name in skcnn.__all__ if name != "__version__"]
    for module in pkgutil.iter_modules(skcnn.__path__):
        if not module.name.startswith("_"):
            sub = importlib.import_module(f"skcnn.{module.name}")
            names += [f"{sub.__name__}.{name}" for name in sub.__all__]
    return names


def test_every_public_name_has_an_api_page(build):
    html, _ = build
    names = public_names()
    assert "skcnn.layers.Conv2D" in names and "skcnn.reuse_workers" in names
    missing = [name for name in names if not (html / "api" / "generated" / f"{name}.html").is_file()]
    assert not missing, f"add these to docs/api/index.rst: {missing}"


def gallery_stdout(script):
    """What ``script`` printed in the gallery: the output blocks of its page's source."""
    page = (DOCS / "auto_examples" / script).with_suffix(".rst").read_text()
    blocks = re.findall(r"\.\. code-block:: none\n\n((?:(?: {4}.*)?\n)+)", page)
    return "\n".join(textwrap.dedent(block) for block in blocks)


@pytest.mark.parametrize("script", sorted(EXAMPLE_PICTURES))
def test_every_example_has_a_gallery_page_with_figures(build, script):
    html, output = build
    stem = Path(script).stem
    assert (html / "auto_examples" / f"{stem}.html").is_file()
    figures = sorted((html / "_images").glob(f"sphx_glr_{stem}_[0-9][0-9][0-9].png"))
    assert len(figures) >= len(EXAMPLE_PICTURES[script]), figures
    # The gallery ran the script with --quick: the checks of test_examples.py.
    assert_example_output(script, gallery_stdout(script), output)


def test_index_links_every_user_guide_page(build):
    html, _ = build
    index = (html / "index.html").read_text()
    pages = sorted(p.stem for p in (DOCS / "user_guide").glob("*.md") if p.stem != "index")
    assert len(pages) >= 10
    missing = [page for page in pages if f'href="user_guide/{page}.html"' not in index]
    assert not missing, f"the index does not link {missing}"
    for page in ("getting_started", "coming_from_mlp", "performance", "changelog",
                 "developer_guide", "api/index", "auto_examples/index"):
        assert f'href="{page}.html"' in index, page


def github_slug(heading):
    """The anchor a forge (and MyST) gives a Markdown heading."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


@pytest.mark.parametrize("name", ["README.md", "CONTRIBUTING.md", "CHANGELOG.md"])
def test_relative_links_of_the_repository_files_lead_somewhere(name):
    text = (ROOT / name).read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    relative = [link for link in links if not re.match(r"[a-z]+:", link)]
    for link in relative:
        path, _, anchor = link.partition("#")
        target = (ROOT / path).resolve()
        assert target.exists(), f"{name} links {link}, which does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.*)$", target.read_text(), re.M)
            assert anchor in map(github_slug, headings), f"{name} links {link}: no such heading"


def test_readme_is_short_and_names_no_private_module():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert not re.search(r"skcnn[./]_[a-z]", readme)
    assert '\npip install ".[test]" && pytest\n' in readme
