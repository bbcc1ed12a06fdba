"""Run Flask's, Flask-Login's, Flask-WTF's and Flask-Security's own test suites
with ``Strongbox(app)`` added, beside a plain run, and list what differs.

Usage (from the repository's root)::

    python compat/run.py                          # all four projects
    python compat/run.py --project flask-wtf      # one (repeat --project for more)
    python compat/run.py --project flask -- -k session   # arguments after -- go to pytest
    python compat/run.py --mode strongbox         # only the run with Strongbox (or: plain)
    python compat/run.py --project flask-security --mode strongbox --decode -- TESTS

For each project it

1. downloads the project's sdist from PyPI with ``pip download --no-deps
   --no-binary :all:`` into ``build/compat-cache/`` and unpacks it there; the
   version is the one installed in the harness's virtualenv (Flask, which
   Flask-Strongbox depends on) or else the latest;
2. installs the project and its test dependencies into one virtualenv,
   ``build/compat-venv/``, beside Flask-Strongbox from this checkout
   (``pip install -e .``);
3. runs the suite's pytest twice from the unpacked sdist: plain, then with
   ``-p strongbox_plugin`` (``compat/strongbox_plugin.py``), which installs
   ``Strongbox(app)`` on every Flask app the suite makes, with a
   ``memory://`` store per app;
4. writes each run's JUnit XML to ``build/compat/`` and, with both runs,
   ``build/compat/<project>-summary.json``: the counts and every test whose
   outcome differs between the two runs.

``--decode`` has Flask-Security's test helpers that decode Flask's signed
cookie by hand ask Strongbox for the session instead (see the plugin), to
check what the tests that use them check beyond the cookie's format.

pytest is held below 9: Flask 3.1's ``tests/test_cli.py`` imports a name
pytest 9 removed.

Flask-Security runs its SQLAlchemy data stores only (Flask-SQLAlchemy,
Flask-SQLAlchemy-Lite and plain SQLAlchemy sessions): its MongoEngine and
peewee variants are deselected and their packages not installed.

The harness downloads and takes about half an hour (Flask-Security's suite
alone, some eleven minutes a run), so it is not part of
``./dev test`` or CI. The results are written up in ``docs/compatibility.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
CACHE = BUILD / "compat-cache"
VENV = BUILD / "compat-venv"
RESULTS = BUILD / "compat"
PY = VENV / "bin" / "python"


@dataclass(frozen=True)
class Project:
    """One suite to run: what to download, install, and pass to pytest."""

    name: str
    test_deps: tuple[str, ...]
    pytest_args: tuple[str, ...] = ()


PROJECTS = {
    "flask": Project("flask", ("pytest<9", "asgiref", "greenlet", "python-dotenv")),
    "flask-login": Project("flask-login", ("pytest<9", "semantic-version")),
    "flask-wtf": Project("flask-wtf", ("pytest<9", "flask-babel", "flask-reuploaded")),
    "flask-security": Project(
        "Flask-Security",
        (
            "pytest<9",
            "Flask-Babel",
            "Babel",
            "Flask-Mail",
            "Flask-SQLAlchemy",
            "Flask-SQLAlchemy-Lite",
            "argon2-cffi",
            "authlib",
            "bcrypt",
            "cbor2",
            "cryptography",
            "freezegun",
            "nh3",
            "phonenumberslite",
            "qrcode",
            "requests",
            "sqlalchemy<2.1",
            "sqlalchemy-utils",
            "webauthn",
            "zxcvbn",
            "asgiref",
        ),
        ("-k", "not mongo and not peewee"),
    ),
}


def run(*cmd: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    # The commands are this file's own, with paths it made: nothing untrusted.
    subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, check=True)  # noqa: S603


def ensure_venv() -> None:
    if not PY.exists():
        run(sys.executable, "-m", "venv", VENV)
        run(PY, "-m", "pip", "install", "-q", "--upgrade", "pip>=25.1")
    run(PY, "-m", "pip", "install", "-q", "-e", ROOT)


def installed_version(name: str) -> str | None:
    found = subprocess.run(  # noqa: S603 (our own interpreter, a constant script)
        [str(PY), "-c", f"import importlib.metadata as m; print(m.version({name!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() if found.returncode == 0 else None


def fetch(project: Project) -> Path:
    """Download and unpack the project's sdist; return the unpacked folder."""
    version = installed_version(project.name)
    spec = f"{project.name}=={version}" if version else project.name
    target = CACHE / project.name.lower()
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.tar.gz"):
        old.unlink()
    run(PY, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", spec, "-d", target)
    (sdist,) = target.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(target, filter="data")
    return target / sdist.name.removesuffix(".tar.gz")


def install(project: Project, source: Path) -> None:
    run(PY, "-m", "pip", "install", "-q", source, *project.test_deps)
    translations = source / "flask_security" / "translations"
    if translations.is_dir():  # Flask-Security's tox compiles its catalogs first
        for folder in (translations, source / "tests" / "translations"):
            run(VENV / "bin" / "pybabel", "compile", "--domain", "flask_security", "-d", folder)


def run_suite(project: Project, source: Path, mode: str, extra: list[str], decode: bool = False) -> Path:
    report = RESULTS / f"{project.name.lower()}-{mode}{'-decode' if decode else ''}.xml"
    args = ["-q", "-p", "no:randomly", f"--junitxml={report}", *project.pytest_args, *extra]
    if mode == "strongbox":
        args[:0] = ["-p", "strongbox_plugin"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "compat"), STRONGBOX_COMPAT_DECODE=str(int(decode)))
    print("+", PY, "-m pytest", " ".join(args), flush=True)
    subprocess.run([str(PY), "-m", "pytest", *args], cwd=source, env=env, check=False)  # noqa: S603
    return report


def outcomes(report: Path) -> dict[str, str]:
    """Each test's outcome in a JUnit XML report: passed, failed, error or skipped."""
    found = {}
    # The report is the one pytest just wrote for us, not untrusted input.
    for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314
        name = f"{case.get('classname')}::{case.get('name')}"
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        found[name] = {"failure": "failed", "error": "error", "skipped": "skipped"}.get(
            kinds[0] if kinds else "", "passed"
        )
    return found


def summarise(
    project: Project,
    version: str,
    plain: dict[str, str],
    boxed: dict[str, str],
) -> dict[str, object]:
    def count(results: dict[str, str]) -> dict[str, int]:
        return {k: list(results.values()).count(k) for k in ("passed", "failed", "error", "skipped")}

    differ = {
        name: {"plain": plain.get(name, "absent"), "strongbox": boxed.get(name, "absent")}
        for name in sorted(set(plain) | set(boxed))
        if plain.get(name) != boxed.get(name)
    }
    return {
        "project": project.name,
        "version": version,
        "plain": count(plain),
        "strongbox": count(boxed),
        "differences": differ,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", action="append", choices=sorted(PROJECTS))
    parser.add_argument("--mode", choices=("both", "plain", "strongbox"), default="both")
    parser.add_argument(
        "--decode", action="store_true",
        help="with Strongbox, let cookie-decoding test helpers ask Strongbox (Flask-Security)",
    )
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to pytest")
    options = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    ensure_venv()
    modes = ("plain", "strongbox") if options.mode == "both" else (options.mode,)
    for key in options.project or list(PROJECTS):
        project = PROJECTS[key]
        source = fetch(project)
        install(project, source)
        reports = {
            mode: run_suite(project, source, mode, options.pytest_args, options.decode) for mode in modes
        }
        if options.mode == "both":
            summary = summarise(
                project,
                source.name.rsplit("-", 1)[1],
                outcomes(reports["plain"]),
                outcomes(reports["strongbox"]),
            )
            (RESULTS / f"{key}-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
