"""``flask sessions``: look at and manage the session store from a shell."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import cast

import click
from flask import current_app
from flask.cli import AppGroup

from . import signals, users
from .engine.events import Events
from .engine.purge import purge_in_batches
from .errors import StoreUnavailable
from .interface import StrongboxSessionInterface, strongbox_of
from .keys import Keyring

sessions_command = AppGroup("sessions", help="Manage Strongbox server-side sessions.")


def _interface() -> StrongboxSessionInterface:
    return strongbox_of(current_app)


def _events() -> Events:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    interface = _interface()
    return interface.events(app, interface.keyring(app))


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _keyring() -> Keyring:
    keyring = _interface().keyring(current_app)
    if keyring is None:
        raise click.ClickException("SECRET_KEY is not set; sessions cannot be looked up by user")
    return keyring


def _fail_on_store_errors(func: click.decorators.FC) -> click.decorators.FC:
    import functools

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return func(*args, **kwargs)
        except StoreUnavailable as exc:
            raise click.ClickException(str(exc)) from None

    return cast(click.decorators.FC, wrapper)


@sessions_command.command("stats")
@_fail_on_store_errors
def stats() -> None:
    """Count live and expired sessions."""
    interface = _interface()
    counts = interface.store.stats(interface.clock())
    click.echo(f"store:   {interface.store.name} ({interface.store!r})")
    click.echo(f"live:    {counts.live}")
    click.echo(f"expired: {counts.expired} (the purge backlog: removed in the background as sessions "
               "are written, or now by 'flask sessions purge')")


@sessions_command.command("list")
@click.option("--user", required=True, help="The identity, e.g. the value of session['user'].")
@_fail_on_store_errors
def list_sessions(user: str) -> None:
    """List the live sessions of one user."""
    interface = _interface()
    records = users.sessions_of(interface.store, _keyring(), user, interface.clock())
    if not records:
        click.echo(f"no live sessions for user {user!r}")
        return
    click.echo(f"{'HANDLE':64}  {'CREATED':23}  {'LAST SEEN':23}  EXPIRES")
    for r in records:
        click.echo(f"{r.key}  {_when(r.created)}  {_when(r.last_seen)}  {_when(r.expires)}")


@sessions_command.command("revoke")
@click.argument("handle")
@_fail_on_store_errors
def revoke(handle: str) -> None:
    """End one session, by the handle that 'list' shows."""
    if len(handle) != 64 or any(c not in "0123456789abcdef" for c in handle):
        raise click.BadParameter("a handle is 64 lowercase hex digits, as shown by 'list'")
    if not _interface().store.delete(handle):
        raise click.ClickException("no such session (already ended or expired?)")
    _events().announce(signals.session_revoked, handle, "cli")
    click.echo("revoked 1 session")


@sessions_command.command("revoke-user")
@click.argument("user")
@_fail_on_store_errors
def revoke_user(user: str) -> None:
    """End every session of one user."""
    interface = _interface()
    removed = users.delete_user(interface.store, _keyring(), user)
    events = _events()
    for handle in removed:
        events.announce(signals.session_revoked, handle, "cli")
    click.echo(f"revoked {len(removed)} session(s) of user {user!r}")


@sessions_command.command("purge")
@_fail_on_store_errors
def purge() -> None:
    """Remove every expired session now, in small batches."""
    interface = _interface()
    total = purge_in_batches(interface.store, interface.clock(), interface.settings.purge_batch)
    click.echo(f"purged {total} expired session(s)")


@sessions_command.command("init-db")
@_fail_on_store_errors
def init_db() -> None:
    """Create the store's tables and indexes now rather than on first use."""
    store = _interface().store
    store.init_db()
    click.echo(f"{store.name} store ready")
