"""Where the engine tells what happened to sessions: blinker signals, sent by
the app (or whatever the adapter names as sender), and operator log lines that
carry a keyed fingerprint of the session, never its id."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..audit import RejectionLog, logger

if TYPE_CHECKING:
    from blinker import NamedSignal

    from ..keys import Keyring


class Events:
    """Announces session events for one app.

    :param sender: the signals' sender, such as the Flask app.
    :param keyring: for the log lines' keyed fingerprints.
    :param rejections: where refused cookies and records are counted.
    """

    __slots__ = ("keyring", "rejections", "sender")

    def __init__(self, sender: object, keyring: Keyring | None, rejections: RejectionLog) -> None:
        self.sender = sender
        self.keyring = keyring
        self.rejections = rejections

    def announce(self, signal: NamedSignal, handle: str | None, reason: str, **more: Any) -> None:
        """Send a lifecycle signal (with ``handle``, ``reason`` and ``more``)
        and log it: revocations and conflicts at INFO, the everyday events
        (created, rotated, destroyed, expired) at DEBUG."""
        event = signal.name.rpartition("-")[2]
        level = logging.INFO if event in ("revoked", "conflict") else logging.DEBUG
        if logger.isEnabledFor(level):
            logger.log(level, "session %s %s (%s)", self.fingerprint(handle), event, reason)
        signal.send(self.sender, handle=handle, reason=reason, **more)

    def reject(self, reason: str, now: float, handle: str | None = None) -> None:
        """A cookie or stored record was refused: counted, summed into one
        log line per interval, and signalled."""
        from ..signals import session_rejected

        self.rejections.record(reason, now)
        session_rejected.send(self.sender, handle=handle, reason=reason)

    def fingerprint(self, handle: str | None) -> str:
        return self.keyring.fingerprint(handle) if handle and self.keyring else "-"
