"""Sphinx configuration of the API reference (``make docs``; builds offline from the docstrings)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "hybridsmooth"
author = "the hybridsmooth developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
html_theme = "alabaster"
exclude_patterns = ["_build"]
# no network: nothing is fetched from other projects' inventories
intersphinx_mapping: dict = {}


# The docstrings write formulas as plain text (|g|^2, eta * L, E||u||^4), which reStructuredText would read as
# substitutions and emphasis. Outside ``literals`` and roles, escape the two characters that start them.
import re  # noqa: E402

_LITERAL = re.compile(r"(``.*?``|:[a-z:]+:`[^`]*`)")
# a "* " that opens a line is a bullet, not emphasis
_MARKUP = re.compile(r"(?<!\\)(\||\*(?!\s))")


def _escape_formulas(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        if line.lstrip().startswith(".."):
            continue
        indent = len(line) - len(line.lstrip())
        bullet = line[indent : indent + 2] == "* "
        body = line[indent + 2 :] if bullet else line[indent:]
        parts = _LITERAL.split(body)
        body = "".join(p if j % 2 else _MARKUP.sub(r"\\\1", p) for j, p in enumerate(parts))
        lines[i] = line[:indent] + ("* " if bullet else "") + body


def setup(app):
    app.connect("autodoc-process-docstring", _escape_formulas)
