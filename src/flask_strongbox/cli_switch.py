"""``flask sessions import`` and ``flask sessions copy``: moving sessions into
Strongbox's store, or from it to another, while the app keeps serving."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import asdict

import click
from flask import Flask, current_app

from .cli import BadArgument, _interface, _keyring, _report, json_option, one_line_errors, sessions_command
from .errors import StoreUnavailable


@sessions_command.command("import")
@click.option("--from", "source", type=click.Choice(["flask-session"]), required=True,
              help="The session system whose records to move.")
@click.option("--batch", default=200, show_default=True, type=click.IntRange(1, 10_000),
              help="Records read from the old store per round trip.")
@json_option
@one_line_errors
def import_sessions(source: str, batch: int, as_json: bool) -> None:
    """Move every Flask-Session record (from STRONGBOX_MIGRATE_STORE) into
    the store now. Users stay logged in: their next request, with
    STRONGBOX_MIGRATE_FROM = 'flask-session', finds the moved session. Safe
    to run again; pickle records are left in place and counted."""
    from .migrate import FlaskSessionConfig, open_reader
    from .migrate.importer import ImportSummary, import_records
    from .migrate.record_format import require_msgspec

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    interface = _interface()
    url = interface.settings.migrate_store
    if url is None:
        raise click.ClickException("STRONGBOX_MIGRATE_STORE is not set: set it to the URL of "
                                   "Flask-Session's store (redis://..., sqlite:///file, ...)")
    require_msgspec()
    keyring = _keyring()
    reader = open_reader(url, FlaskSessionConfig.from_config(app.config), app.instance_path)
    counts: Counter[str] = Counter()
    try:
        moves = import_records(interface.engine, interface.context(app, keyring), reader, batch)
        with click.progressbar(moves, label=f"importing {source} records", file=sys.stderr,
                               show_pos=True) as bar:
            for outcome in bar:
                counts[outcome] += 1
    finally:
        reader.close()
    summary = ImportSummary.of(counts)
    _report(as_json, asdict(summary),
            f"moved {summary.moved}, skipped as pickle {summary.pickle}, expired {summary.expired}, "
            f"moved before {summary.already}, empty {summary.empty}, "
            f"refused as malformed {summary.malformed} or unstorable {summary.unstorable}")


@sessions_command.command("copy")
@click.option("--to", "url", required=True, metavar="URL",
              help="The store to copy to, as a STRONGBOX_STORE URL (with STRONGBOX_TABLE, "
                   "STRONGBOX_KEY_PREFIX and the instance folder applied as for the app's store).")
@click.option("--batch", default=200, show_default=True, type=click.IntRange(1, 10_000),
              help="Records read per round trip.")
@click.option("--passes", default=3, show_default=True, type=click.IntRange(0),
              help="Most walks over the store; each after the first copies what changed meanwhile. "
                   "0: until one finds nothing to copy.")
@click.option("--resume", "cursor", default="", metavar="CURSOR",
              help="Go on from the cursor a stopped run printed.")
@json_option
@one_line_errors
def copy_sessions(url: str, batch: int, passes: int, cursor: str, as_json: bool) -> None:
    """Copy every live session, sealed as it is, to another store while the
    app keeps serving. Safe to run again and to resume; a record is written
    only where the target lacks it or holds an older version."""
    from .copying import Batch, Copier
    from .stores import store_from_url

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    interface = _interface()
    settings, source = interface.settings, interface.store
    options = {"table": settings.table, "prefix": settings.key_prefix,
               "timeout": settings.store_timeout, "base_dir": app.instance_path}
    target = store_from_url(url, options)
    if repr(target) == repr(source):
        raise BadArgument("--to names the app's own store")
    target.init_db()
    last = [cursor]
    live = source.stats(interface.clock()).live
    with click.progressbar(length=live, label=f"copying {live} live session(s) to {target.name}",
                           file=sys.stderr, show_pos=True) as bar:

        def on_batch(done: Batch) -> None:
            last[0] = done.cursor
            bar.update(sum(done.counts.values()))

        try:
            copier = Copier(source, target, interface.clock, batch)
            summary = copier.until_settled(on_batch, passes or None, cursor)
        except StoreUnavailable as exc:
            hint = f"; resume with --resume {last[0]}" if last[0] else ""
            raise click.ClickException(f"{exc}{hint}") from None
        finally:
            target.close()
    _report(as_json, {"to": target.name, **asdict(summary)},
            f"copied {summary.copied}, updated {summary.updated}, already there {summary.unchanged}, "
            f"expired {summary.expired}, in {summary.passes} pass(es); {summary.live_source} live in the "
            f"source; " + ("settled: nothing left to copy" if summary.settled else
                           "still changing: run it again once writes to this store have stopped"))
