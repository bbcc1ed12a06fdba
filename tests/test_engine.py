"""The session engine on its own: the save's decision as a pure function, the
lifetimes' arithmetic, and an engine that imports no web framework, so other
frameworks' adapters can share it."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from flask_strongbox.engine.decide import Action, Change, decide
from flask_strongbox.engine.lifetimes import Lifetimes
from flask_strongbox.engine.state import Loaded
from flask_strongbox.keys import Keyring
from flask_strongbox.stores.base import Record

KEYSET = Keyring("x" * 32).primary
RECORD = Record(key="k" * 64, blob=b"sealed", version=3, created=1000.0, last_seen=1000.0,
                expires=1300.0, absolute_expires=5000.0)


def state(**flags: bool) -> Loaded:
    loaded = Loaded(b"\0" * 32, KEYSET, "k" * 64, None if flags.pop("gone", False) else RECORD)
    for name, value in flags.items():
        setattr(loaded, name, value)
    return loaded


def change(**facts: bool) -> Change:
    base = {"empty": False, "written": False, "content_changed": False, "identity_changed": False,
            "regenerate": False, "under_fallback": False, "reseal_due": False}
    return Change(**{**base, **facts})


@pytest.mark.parametrize(("loaded", "did", "action"), [
    # nothing to keep
    (None, change(empty=True), Action.NONE),
    (state(), change(empty=True, written=True), Action.DELETE),  # a logout
    (state(gone=True, expired=True), change(empty=True), Action.DELETE),  # clear a dead cookie
    (state(gone=True, expired=True, rotated=True), change(empty=True), Action.NONE),  # keep the new one
    (state(gone=True, unreadable=True), change(empty=True), Action.NONE),  # a read leaves it
    (state(gone=True, unreadable=True), change(empty=True, written=True), Action.DELETE),
    # something to keep
    (None, change(written=True, content_changed=True), Action.CREATE),
    (state(gone=True, expired=True), change(written=True, content_changed=True), Action.CREATE),
    (state(gone=True, unreadable=True), change(written=True, content_changed=True), Action.CREATE),
    (state(gone=True, expired=True, rotated=True), change(written=True, content_changed=True), Action.DROP),
    (state(), change(), Action.TOUCH),  # a read
    (state(), change(written=True), Action.TOUCH),  # session.modified, same content
    (state(), change(written=True, content_changed=True), Action.UPDATE),
    (state(), change(written=True, content_changed=True, identity_changed=True), Action.ROTATE),
    (state(), change(written=True, regenerate=True), Action.ROTATE),
    (state(), change(under_fallback=True), Action.TOUCH),  # a read under a fallback key slides
    (state(), change(written=True, content_changed=True, under_fallback=True), Action.ROTATE),
    # a record under a fallback key, or in the 0.1 envelope, due a touch: rewritten under the current key
    (state(stale=True), change(under_fallback=True, reseal_due=True), Action.ROTATE),
    (state(stale=True), change(reseal_due=True), Action.UPDATE),  # same id, new envelope
    (state(stale=True), change(), Action.TOUCH),  # not due yet: nothing written
    (state(stale=True), change(empty=True, reseal_due=True), Action.DELETE),  # emptied: gone, not moved
    (state(stale=True), change(identity_changed=True, reseal_due=True), Action.ROTATE),  # a login
])
def test_the_save_decision(loaded: Loaded | None, did: Change, action: Action) -> None:
    assert decide(loaded, did) is action


LIFETIMES = Lifetimes(permanent=600, idle=300, absolute=4000, touch_interval=60)


def test_a_deadline_is_the_earliest_of_record_and_settings() -> None:
    assert LIFETIMES.deadline(RECORD, permanent=False) == 1300  # last seen + idle, as stored
    shorter = Lifetimes(permanent=600, idle=100, absolute=4000, touch_interval=60)
    assert shorter.deadline(RECORD, permanent=False) == 1100  # today's idle timeout wins
    capped = Lifetimes(permanent=600, idle=300, absolute=200, touch_interval=60)
    assert capped.deadline(RECORD, permanent=False) == 1200  # today's absolute lifetime wins


def test_sliding_is_throttled_both_ways() -> None:
    assert LIFETIMES.slide(RECORD, 1020, permanent=False) == (False, 1300)  # moved 20 s of 30: not yet
    assert LIFETIMES.slide(RECORD, 1060, permanent=False) == (True, 1360)
    longer = Lifetimes(permanent=600, idle=3000, absolute=4000, touch_interval=60)
    assert longer.slide(RECORD, 1010, permanent=False) == (True, 4010)
    shorter = Lifetimes(permanent=600, idle=100, absolute=4000, touch_interval=60)
    assert shorter.slide(RECORD, 1010, permanent=False) == (True, 1110)  # a shorter setting is written
    assert LIFETIMES.throttle(permanent=False) == 30  # a tenth of a short lifetime


# -- no web framework in the engine --------------------------------------------------

#: Web frameworks the engine must not import. werkzeug is allowed only for its
#: HTTP exception classes (errors.py), which Flask and Quart both answer with a
#: 503 by themselves.
FRAMEWORKS = {"flask", "quart", "starlette", "fastapi", "django"}


def _imports(path: Path, package: str) -> set[str]:
    """The absolute names of the modules a source file imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
                names.update(f"{base}.{alias.name}" for alias in node.names)
            names.add(base)
    return names


def _closure(start: str) -> dict[str, set[str]]:
    """Every flask_strongbox module ``start`` imports, directly or not, with
    what each imports."""
    seen: dict[str, set[str]] = {}
    pending = [start]
    while pending:
        name = pending.pop()
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:  # a name imported from a module, not a module
            continue
        if name in seen or spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            continue
        package = name if spec.submodule_search_locations else name.rpartition(".")[0]
        seen[name] = _imports(Path(spec.origin), package)
        pending += [n for n in seen[name] if n.startswith("flask_strongbox.") and n not in seen]
    return seen


def test_the_engine_imports_no_web_framework() -> None:
    spec = importlib.util.find_spec("flask_strongbox.engine")
    assert spec is not None and spec.origin is not None
    engine_modules = [f"flask_strongbox.engine.{p.stem}" for p in Path(spec.origin).parent.glob("*.py")]
    closure: dict[str, set[str]] = {}
    for module in engine_modules:
        closure.update(_closure(module))
    assert "flask_strongbox.engine.write" in closure and "flask_strongbox.sealing" in closure
    for module, imported in closure.items():
        roots = {name.partition(".")[0] for name in imported}
        assert not roots & FRAMEWORKS, f"{module} imports {roots & FRAMEWORKS}"
        if "werkzeug" in roots:
            assert module == "flask_strongbox.errors", f"{module} imports werkzeug"
