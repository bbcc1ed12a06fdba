"""Sphinx configuration: ``./dev docs`` builds the site into docs/_build/html."""

from __future__ import annotations

import sys
from pathlib import Path

from pallets_sphinx_themes import get_version  # type: ignore[import-untyped]  # no py.typed

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

# Project --------------------------------------------------------------

project = "Flask-Strongbox"
copyright = "2026 Flask-Strongbox contributors"
author = "Flask-Strongbox contributors"
# The version lives in pyproject.toml only; this reads the installed package's.
release, version = get_version("Flask-Strongbox")

# General --------------------------------------------------------------

master_doc = "index"
default_role = "code"
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.graphviz",
    "myst_parser",
    "sphinx_click",
    "pallets_sphinx_themes",
    "strongbox_settings",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
# reference-app.md is the reference app's own page; app.md includes it and adds the pictures.
exclude_patterns = ["_build", "reference-app.md"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True
autoclass_content = "both"

# Every cross-reference is checked, so a docstring that names something that does not exist
# fails the build (-W). The build has no network, hence no intersphinx: references into the
# documentation of Python, Flask and the store clients cannot resolve and are ignored by package.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(datetime|collections\.abc|os|typing)\..*"),
    (r"py:.*", r"(flask|werkzeug|click|blinker|redis|valkey|psycopg|psycopg_pool|prometheus_client)(\..*)?"),
    (r"py:class", r"Flask"),  # a string annotation in Strongbox's signature
    (r"py:class", r"CollectorRegistry"),  # prometheus_client's, a string annotation too
]
# Docstring problems in the library that the first build found. Each entry goes once its
# docstring is fixed, and from then on the build checks that reference too.
nitpick_ignore = [
    # Private types in public signatures: StrongboxSession(loader=...) and .state,
    # RedisStore(client), StrongboxSessionInterface.keyring().
    ("py:class", "Loaded"),
    ("py:class", "Client"),
    ("py:class", "LazyClient"),
    ("py:class", "flask_strongbox.engine.ops.T"),  # a TypeVar
    ("py:class", "flask_strongbox.extension.F"),  # a TypeVar
    ("py:class", "flask_strongbox.keys.Keyring"),
    ("py:class", "flask_strongbox.keys.KeySet"),
    ("py:class", "Keyring"),  # the engine's annotations name the private key types
    ("py:class", "RejectionLog"),
    ("py:class", "NamedSignal"),  # blinker's, a string annotation
    # StrongboxSession.handle links SessionInfo.handle, but SessionInfo's fields are
    # documented as :param:, not as attributes.
    ("py:attr", "flask_strongbox.SessionInfo.handle"),
    # Unqualified names that do not resolve from the module they are written in:
    # signals (SessionInfo), stores.redis (StoreUnavailable, delete_user).
    ("py:class", "SessionInfo"),
    ("py:class", "StoreUnavailable"),
    ("py:meth", "delete_user"),
    ("py:class", "datetime"),  # testing.Clock's and ServerSession's annotations
]

# Diagrams are drawn by Graphviz's `dot` at build time, as SVG: no script, no CDN.
graphviz_output_format = "svg"
graphviz_dot_args = ["-Gfontname=sans-serif", "-Nfontname=sans-serif", "-Efontname=sans-serif"]

# HTML -----------------------------------------------------------------

html_theme = "flask"
# The theme's version banner asks PyPI about newer releases; this package is not on PyPI.
version_banner = False
html_sidebars = {
    "index": ["project.html", "localtoc.html", "searchbox.html"],
    "**": ["localtoc.html", "relations.html", "searchbox.html"],
}
html_static_path = ["_static"]
html_css_files = ["strongbox.css"]
html_title = f"Flask-Strongbox Documentation ({version})"
html_show_sourcelink = False
