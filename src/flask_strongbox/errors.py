"""The exceptions Strongbox raises. A shallow tree: catch
:class:`StrongboxError` for all of them, or one class for one cause."""

from __future__ import annotations

from werkzeug.exceptions import ServiceUnavailable


class StrongboxError(Exception):
    """Base class of every Strongbox error."""


class ConfigurationError(StrongboxError, RuntimeError):
    """A setting is missing or unsafe. The message names the setting and the fix."""


class StoreUnavailable(StrongboxError, ServiceUnavailable):
    """The session store cannot be reached or cannot answer right now.

    This is not "no session": the request fails with ``503 Service
    Unavailable`` and a ``Retry-After`` header, and the client's cookie is left
    alone so the user stays logged in once the store is back.

    :param store: the store's short name, such as ``"redis"``.
    :param detail: what went wrong, for the operator's log. It must not hold
        passwords, session ids or cookies.
    :param retry_after: seconds the client should wait before trying again.
    """

    description = "Session storage is temporarily unavailable. Please try again shortly."

    def __init__(self, store: str, detail: str, retry_after: int = 1) -> None:
        super().__init__()
        self.store = store
        self.detail = detail
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.store} store unavailable: {self.detail}"

    # ``Retry-After`` comes from werkzeug's ServiceUnavailable, which sends
    # ``self.retry_after``: adding it here too sent the header twice.


class SaveConflict(StoreUnavailable):
    """A save lost the compare-and-swap race too many times in a row.

    Each retry re-reads the record and re-applies only this request's changes,
    so this happens under sustained contention on one session, or when another
    request changed a key this one read and then changed (re-applying would
    lose the other request's update, so nothing is saved and the client is
    asked to retry).
    """

    def __init__(self, attempts: int, detail: str | None = None, reason: str = "contention") -> None:
        super().__init__(
            "session", detail or f"save lost {attempts} compare-and-swap races in a row"
        )
        self.attempts = attempts
        #: A short cause for signals and logs: ``"contention"``, ``"rotated
        #: away"``, or the conflicting key, such as ``session['cart']['a']``.
        self.reason = reason


class SessionBusy(StoreUnavailable):
    """An exclusive request waited ``STRONGBOX_EXCLUSIVE_WAIT`` for another
    request of the same session to finish, in vain. Nothing was loaded or
    saved; the client gets ``503`` with ``Retry-After`` and retries.

    .. versionadded:: 0.2
    """

    def __init__(self, waited: float) -> None:
        super().__init__("session", (
            f"another request of this session held it for {waited:g} s "
            "(STRONGBOX_EXCLUSIVE_WAIT); nothing was loaded or saved"
        ))
        self.waited = waited


class SessionTooLarge(StrongboxError, ValueError):
    """The sealed session would exceed ``STRONGBOX_MAX_SIZE`` bytes. Nothing
    was stored.

    :param size: the sealed size, in bytes.
    :param limit: ``STRONGBOX_MAX_SIZE``.
    """

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"session is {size} bytes sealed, above STRONGBOX_MAX_SIZE={limit}; "
            "keep large data in your database and store only its key in the session"
        )


class SessionTooDeep(StrongboxError, ValueError):
    """A session value nests deeper than a session can hold
    (:data:`~flask_strongbox.serialization.MAX_DEPTH` levels of dicts, lists
    and tuples), or refers to itself. Nothing was stored.

    .. versionadded:: 0.2
    """


class UnreadableRecord(StrongboxError):
    """A store holds something under a key that is not a record it can read
    (a field of the wrong type or missing, a key of the wrong kind).

    The session layer treats it as no session: the client gets a fresh, empty
    one, the operator a log line, and the bad record is removed on the next
    write.

    :param key: the store key (a keyed hash, never a session id).
    :param reason: a short, log-safe cause, such as ``"expires is not a number"``.
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"unreadable session record: {reason}")
        self.key = key
        self.reason = reason
