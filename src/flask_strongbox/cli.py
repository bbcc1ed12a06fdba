"""``flask sessions``: look at and manage the session store from a shell.

Every command takes ``--json`` and then prints one JSON object on stdout (the
shapes are in the CLI docs); progress goes to stderr. A failure is one line on
stderr naming the setting or the store, with exit status 1 (2 for a malformed
argument), and nothing on stdout.
"""

from __future__ import annotations

import functools
import json
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any, ParamSpec, TypeVar

import click
from flask import current_app
from flask.cli import AppGroup

from . import rotation, signals, users
from .engine.events import Events
from .engine.purge import MAX_REST
from .errors import ConfigurationError, StoreUnavailable
from .health import check
from .interface import StrongboxSessionInterface, strongbox_of
from .keys import Keyring
from .stores.base import Store

sessions_command = AppGroup("sessions", help="Manage Strongbox server-side sessions.")

P = ParamSpec("P")
T = TypeVar("T")

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print one JSON object on stdout, for scripts.")


class BadArgument(click.ClickException):
    """A malformed argument: one line, and the usage error's exit status."""

    exit_code = 2


def one_line_errors(command: Callable[P, T]) -> Callable[P, T]:
    """Turn the errors an operator can meet (the store is down, a setting is
    missing or unsafe) into one line on stderr and exit status 1, never a
    traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return command(*args, **kwargs)
        except (StoreUnavailable, ConfigurationError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def _interface() -> StrongboxSessionInterface:
    return strongbox_of(current_app)


def _events() -> Events:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    interface = _interface()
    try:
        keyring = interface.keyring(app)
    except ConfigurationError:
        keyring = None  # revoking by handle needs no key: the log line just has no fingerprint
    return interface.events(app, keyring)


def _keyring(needed_for: str = "sessions cannot be looked up by user") -> Keyring:
    keyring = _interface().keyring(current_app)
    if keyring is None:
        raise click.ClickException(f"SECRET_KEY is not set; {needed_for}")
    return keyring


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc).replace(microsecond=0)


def _report(as_json: bool, data: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(data) if as_json else text)


@sessions_command.command("stats")
@json_option
@one_line_errors
def stats(as_json: bool) -> None:
    """Count live and expired sessions."""
    interface = _interface()
    store = interface.store
    counts = store.stats(interface.clock())
    _report(as_json, {"store": store.name, "live": counts.live, "expired": counts.expired},
            f"store:   {store.name} ({store!r})\n"
            f"live:    {counts.live}\n"
            f"expired: {counts.expired} (the purge backlog: removed in the background as sessions "
            "are written, or now by 'flask sessions purge')")


@sessions_command.command("list")
@click.option("--user", required=True, help="The identity, e.g. the value of session['user'].")
@json_option
@one_line_errors
def list_sessions(user: str, as_json: bool) -> None:
    """List the live sessions of one user."""
    interface = _interface()
    records = users.sessions_of(interface.store, _keyring(), user, interface.clock())
    if as_json:
        rows = [{"handle": r.key, "created": _when(r.created).isoformat(),
                 "last_seen": _when(r.last_seen).isoformat(), "expires": _when(r.expires).isoformat()}
                for r in records]
        click.echo(json.dumps({"user": user, "sessions": rows}))
    elif not records:
        click.echo(f"no live sessions for user {user!r}")
    else:
        click.echo(f"{'HANDLE':64}  {'CREATED':23}  {'LAST SEEN':23}  EXPIRES")
        stamp = "%Y-%m-%d %H:%M:%S UTC"
        for r in records:
            times = (_when(t).strftime(stamp) for t in (r.created, r.last_seen, r.expires))
            click.echo("  ".join((r.key, *times)))


@sessions_command.command("revoke")
@click.argument("handle")
@json_option
@one_line_errors
def revoke(handle: str, as_json: bool) -> None:
    """End one session, by the handle that 'list' shows."""
    if len(handle) != 64 or any(c not in "0123456789abcdef" for c in handle):
        raise BadArgument("HANDLE must be 64 lowercase hex digits, as shown by 'flask sessions list'")
    if not _interface().store.delete(handle):
        raise click.ClickException("no such session (already ended or expired?)")
    _events().announce(signals.session_revoked, handle, "cli")
    _report(as_json, {"revoked": 1}, "revoked 1 session")


@sessions_command.command("revoke-user")
@click.argument("user")
@json_option
@one_line_errors
def revoke_user(user: str, as_json: bool) -> None:
    """End every session of one user."""
    interface = _interface()
    removed = users.delete_user(interface.store, _keyring(), user)
    events = _events()
    for handle in removed:
        events.announce(signals.session_revoked, handle, "cli")
    _report(as_json, {"user": user, "revoked": len(removed)},
            f"revoked {len(removed)} session(s) of user {user!r}")


@sessions_command.command("purge")
@json_option
@one_line_errors
def purge(as_json: bool) -> None:
    """Remove every expired session now, in small batches, showing progress
    on stderr."""
    interface = _interface()
    store, now = interface.store, interface.clock()
    backlog = store.stats(now).expired
    total = 0
    # On a terminal, a bar redrawn in place; elsewhere (a log, a pipe) click
    # prints the label whenever it changes: one counter line per batch.
    with click.progressbar(length=backlog, label=f"purging {backlog} expired session(s)",
                           file=sys.stderr, show_pos=True) as bar:
        for removed in _purge_batches(store, now, interface.settings.purge_batch):
            total += removed
            bar.label = f"purged {total} of {backlog}"
            bar.update(removed)
    _report(as_json, {"purged": total}, f"purged {total} expired session(s)")


def _purge_batches(store: Store, now: float, batch: int) -> Iterator[int]:
    """How many each batch removed, until one comes back short; resting
    after each for as long as it took, as the background purge does, so live
    requests keep the store at least half of the time."""
    while True:
        started = time.monotonic()
        removed = store.purge(now, batch)
        yield removed
        if removed < batch:
            return
        time.sleep(min(time.monotonic() - started, MAX_REST))


@sessions_command.command("init-db")
@json_option
@one_line_errors
def init_db(as_json: bool) -> None:
    """Create the store's tables and indexes now rather than on first use."""
    store = _interface().store
    store.init_db()
    _report(as_json, {"store": store.name, "ready": True}, f"{store.name} store ready")


@sessions_command.command("health")
@json_option
def health(as_json: bool) -> None:
    """Check that the store answers within STRONGBOX_STORE_TIMEOUT; exit
    status 1 if it does not."""
    interface = _interface()
    found = check(interface.store, interface.clock(), interface.settings.store_timeout)
    data = {"ok": found.ok, "store": found.store, "latency": round(found.latency, 6), "error": found.error}
    if as_json:
        click.echo(json.dumps(data))
    elif found.ok:
        click.echo(f"{found.store} store ok ({found.latency * 1000:.1f} ms)")
    else:
        raise click.ClickException(f"{found.error}")
    if not found.ok:
        raise click.exceptions.Exit(1)


@sessions_command.command("keys")
@json_option
@one_line_errors
def keys(as_json: bool) -> None:
    """Show how many live sessions depend on the current key and on each
    fallback, and which fallbacks can be removed with nobody logged out."""
    interface = _interface()
    keyring = _keyring("there are no keys to show")
    lifetime = interface.settings.absolute_lifetime.total_seconds()
    found = rotation.usage(interface.store, keyring, lifetime, interface.clock())
    if as_json:
        rows = [{"setting": k.setting, "fingerprint": k.fingerprint, "current": k.current,
                 "sessions": k.sessions, "app_key_only": k.app_key_only, "moving": k.moving,
                 "last_ends": None if k.last_ends is None else _when(k.last_ends).isoformat(),
                 "removable": k.removable} for k in found.keys]
        click.echo(json.dumps({"store": interface.store.name, "keys": rows, "unknown_key": found.unknown}))
        return
    stamp = "%Y-%m-%d %H:%M:%S UTC"
    click.echo(f"{'KEY':32}  {'FINGERPRINT':11}  {'SESSIONS':>8}  {'0.1 FORMAT':>10}  LAST ENDS BY")
    for k in found.keys:
        name = f"{k.setting} (current)" if k.current else k.setting
        ends = "-" if k.last_ends is None else _when(k.last_ends).strftime(stamp)
        click.echo(f"{name:32}  {k.fingerprint:11}  {k.sessions:>8}  {k.app_key_only:>10}  {ends}")
    for k in found.keys:
        if not k.current:
            click.echo(_advice(k, found.keys[0].setting, stamp))
    if found.unknown:
        click.echo(f"{found.unknown} live record(s) are under a key that is no longer configured: "
                   "they open as new, empty sessions and go when they expire.")


def _advice(key: rotation.KeyUse, current: str, stamp: str) -> str:
    """The plain sentence for one fallback: remove it, or when it can go."""
    if key.removable:
        return f"{key.setting} can be removed: no live session depends on it, so nobody is logged out."
    assert key.last_ends is not None
    moving = f" and {key.moving} id(s) moving off it" if key.moving else ""
    return (
        f"{key.setting} is still needed by {key.sessions} live session(s){moving}: each moves to "
        f"{current} on its next request, and the last ends by {_when(key.last_ends).strftime(stamp)} "
        "at the latest. Removing it now logs them out."
    )


@sessions_command.command("generate-key")
@json_option
def generate_key(as_json: bool) -> None:
    """Print a new random key for SECRET_KEY or STRONGBOX_SECRET_KEY
    (32 random bytes, URL-safe base64)."""
    key = secrets.token_urlsafe(32)
    click.echo(json.dumps({"key": key}) if as_json else key)


from . import cli_switch as _switch  # noqa: E402, F401 - registers import and copy
