"""Check that a built sdist is complete, never half.

The sdist holds exactly the files git tracks under the shipped paths (the
library, the test suite with every helper, the docs) and the top-level files
named below, plus what the build generates (PKG-INFO, setup.cfg, egg-info).
A file missing from it, or one that git does not know (a stray log, a
build product), fails the check with its name.

    python .ci/check_sdist.py build/dist/flask_strongbox-0.1.0.tar.gz
"""

from __future__ import annotations

import subprocess
import sys
import tarfile

SHIPPED_TREES = ("src/", "tests/", "docs/", "reliability/")
SHIPPED_FILES = ("CHANGES.md", "LICENSE", "MANIFEST.in", "README.md", "SECURITY.md", "pyproject.toml")
GENERATED = ("PKG-INFO", "setup.cfg")


def tracked() -> set[str]:
    listed = subprocess.run(  # noqa: S603 - a fixed command line
        ["git", "ls-files", "--", *SHIPPED_TREES, *SHIPPED_FILES],  # noqa: S607 - git from PATH
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    return {name for name in listed if not name.startswith("docs/_build/")}


def packed(sdist: str) -> set[str]:
    with tarfile.open(sdist) as archive:
        # Every member sits under "<name>-<version>/".
        names = {m.name.partition("/")[2] for m in archive.getmembers() if m.isfile()}
    return {n for n in names if n not in GENERATED and ".egg-info/" not in n}


def main(sdist: str) -> int:
    expected, found = tracked(), packed(sdist)
    missing, extra = sorted(expected - found), sorted(found - expected)
    for name in missing:
        print(f"{sdist}: missing {name}", file=sys.stderr)
    for name in extra:
        print(f"{sdist}: not tracked by git, yet shipped: {name}", file=sys.stderr)
    if missing or extra:
        print("the sdist must be complete: fix MANIFEST.in or the stray files", file=sys.stderr)
        return 1
    print(f"{sdist}: {len(found)} files, complete (library, tests, docs, licence, changelog)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python .ci/check_sdist.py DIST.tar.gz")
    sys.exit(main(sys.argv[1]))
