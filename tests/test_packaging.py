"""The suite tests the package as users install it.

``./dev test`` installs the built wheel into a fresh virtualenv and runs this
suite from it with ``STRONGBOX_TEST_INSTALLED=1``: then ``flask_strongbox``
must come from that virtualenv, never from the checkout's ``src/``, or every
other test would be checking the wrong code.
"""

from __future__ import annotations

import json
import os
import sys
from importlib import metadata
from pathlib import Path

import pytest

import flask_strongbox

ROOT = Path(__file__).resolve().parent.parent
INSTALLED = os.environ.get("STRONGBOX_TEST_INSTALLED") == "1"


@pytest.mark.skipif(not INSTALLED, reason="only when testing the installed wheel (./dev test)")
def test_the_suite_imports_the_installed_wheel_not_the_checkout() -> None:
    package = Path(flask_strongbox.__file__).resolve().parent
    assert ROOT / "src" not in package.parents, f"imported from the checkout: {package}"
    assert Path(sys.prefix).resolve() in package.parents, f"not from this virtualenv: {package}"
    # pip records where it installed the distribution from: the wheel file.
    origin = json.loads(metadata.distribution("flask-strongbox").read_text("direct_url.json") or "{}")
    assert origin.get("url", "").endswith(".whl"), f"not installed from a wheel: {origin}"


def test_type_information_ships_with_the_package() -> None:
    """``py.typed`` tells mypy and pyright to use the package's annotations."""
    assert (Path(flask_strongbox.__file__).parent / "py.typed").is_file()


def test_the_licence_ships_in_the_distribution_metadata() -> None:
    distribution = metadata.distribution("flask-strongbox")
    assert distribution.metadata["License-Expression"] == "BSD-3-Clause"
    licence = [f for f in distribution.files or () if f.name == "LICENSE"]
    assert licence, "LICENSE is not in the installed distribution"
    assert "Flask-Strongbox contributors" in licence[0].read_text()
