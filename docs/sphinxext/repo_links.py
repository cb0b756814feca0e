"""Relative links that work on the forge and in the built docs alike.

The Markdown pages link to the repository's files the way the forge reads
them: ``[RESULTS.md](../benchmarks/RESULTS.md)``,
``[the example](../../examples/plot_digits_classification.py)``. Sphinx
knows only the files under ``docs/``; as each page (or a file it includes,
such as ``CHANGELOG.md``) is read, this extension rewrites such a link:

- to the ``examples/`` folder: the gallery; to a gallery example
  (``examples/plot_*.py``): its gallery page;
- to any other existing file outside ``docs/``: a download of the file;
- in an included file, to a page under ``docs/``: the same page, seen from
  the page that includes it.

Links that do not name an existing file are left alone, so that Sphinx
warns about them.
"""

import os
import re
from pathlib import Path

LINK = re.compile(r"(?<!!)\[([^\]\n]*)\]\(([^)\s]+)\)")


def _rewrite(text, file_dir, page_dir, docs_dir):
    def replace(match):
        label, target = match.groups()
        path, _, anchor = target.partition("#")
        if not path or re.match(r"[a-z]+:", path):
            return match.group(0)
        resolved = (file_dir / path).resolve()
        if resolved == docs_dir.parent / "examples":
            return f"[{label}](#gallery)"
        if not resolved.is_file():
            return match.group(0)
        if docs_dir in resolved.parents:
            if file_dir == page_dir:
                return match.group(0)
            new = os.path.relpath(resolved, page_dir) + (f"#{anchor}" if anchor else "")
        elif resolved.parent.name == "examples" and re.fullmatch(r"plot_.*\.py", resolved.name):
            new = f"#sphx_glr_auto_examples_{resolved.name}"
        else:
            new = "path:" + os.path.relpath(resolved, page_dir)
        return f"[{label}]({new})"

    return LINK.sub(replace, text)


def _page_dir(app):
    return Path(app.env.doc2path(app.env.docname)).resolve().parent


def _on_source_read(app, docname, source):
    if str(app.env.doc2path(docname)).endswith(".md"):
        page_dir = Path(app.env.doc2path(docname)).resolve().parent
        source[0] = _rewrite(source[0], page_dir, page_dir, Path(app.srcdir).resolve())


def _on_include_read(app, relative_path, parent_docname, content):
    if str(relative_path).endswith(".md"):
        file_dir = (Path(app.srcdir) / relative_path).resolve().parent
        content[0] = _rewrite(content[0], file_dir, _page_dir(app), Path(app.srcdir).resolve())


def setup(app):
    app.connect("source-read", _on_source_read)
    app.connect("include-read", _on_include_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
