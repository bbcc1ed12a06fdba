"""``flask sessions import`` and ``flask sessions copy``: moving sessions into
Strongbox's store, or from it to another, while the app keeps serving."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import asdict

import click
from flask import Flask, current_app

from .cli import _interface, _keyring, _report, json_option, one_line_errors, sessions_command


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
