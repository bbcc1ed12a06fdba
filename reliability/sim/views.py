"""What each simulated page does to its session, written as a Flask view
would write it (the same reads and writes, so merges see what they would
see in an app)."""

from __future__ import annotations

from collections.abc import Callable

from flask_strongbox.engine import LazySession

from .plan import Spec

View = Callable[[LazySession, Spec, bool], None]


def _read(session: LazySession, spec: Spec, permanent: bool) -> None:
    dict(session)  # a page that shows everything


def _set(session: LazySession, spec: Spec, permanent: bool) -> None:
    session[spec.key or ""] = spec.value  # blind: never read first


def _delete(session: LazySession, spec: Spec, permanent: bool) -> None:
    session.pop(spec.key or "", None)


def _nested(session: LazySession, spec: Spec, permanent: bool) -> None:
    top, _, item = (spec.key or "").partition(".")
    cart = session.setdefault(top, {})
    cart[item] = spec.value
    session.modified = True


def _append(session: LazySession, spec: Spec, permanent: bool) -> None:
    flashes = session.get("_flashes", [])  # flask.flash
    flashes.append(spec.value)
    session["_flashes"] = flashes


def _consume(session: LazySession, spec: Spec, permanent: bool) -> None:
    session.pop("_flashes") if "_flashes" in session else []  # get_flashed_messages


def _incr(session: LazySession, spec: Spec, permanent: bool) -> None:
    session["n"] = session.get("n", 0) + 1


def _login(session: LazySession, spec: Spec, permanent: bool) -> None:
    session["user"] = spec.value
    if permanent:
        session["_permanent"] = True


def _logout(session: LazySession, spec: Spec, permanent: bool) -> None:
    session.clear()


def _regenerate(session: LazySession, spec: Spec, permanent: bool) -> None:
    session.regenerate()


VIEWS: dict[str, View] = {
    "read": _read, "set": _set, "delete": _delete, "nested": _nested, "append": _append,
    "consume": _consume, "incr": _incr, "login": _login, "logout": _logout, "regenerate": _regenerate,
}
