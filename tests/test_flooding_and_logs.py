"""Floods cost nothing and say little; logs never hold what they must not.

Anonymous visitors and cookies naming sessions that do not exist create no
records, so a flood of them cannot fill the store. Rejected cookies are
summed into at most one log line per interval, so a flood cannot fill the
log. And no log line holds a session id, a cookie, a store key, key material
or session data.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from flask_strongbox import ids
from flask_strongbox.keys import Keyring, KeySet

from .conftest import DEFAULTS
from .hostile import OLD_SECRET, SECRET, Target, make_target, set_cookie
from .log_guard import no_secrets_in_logs, secret_shaped
from .services import STORES, make_store

pytestmark = pytest.mark.usefixtures(no_secrets_in_logs.__name__)

# The full 10,000 on the embedded stores; fewer round trips on network ones.
FLOOD = {"memory": 10_000, "sqlite": 10_000, "redis": 1_000, "redis-cached": 1_000, "postgres": 1_000}


@pytest.fixture(params=STORES)
def flooded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Target, int]]:
    for store in make_store(request.param, tmp_path):
        yield make_target(store), FLOOD[request.param]


def _random_cookie() -> str:
    def part() -> str:
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()

    return f"{part()}.{part()}"


# -- floods ------------------------------------------------------------------------


@pytest.mark.slow
def test_anonymous_requests_create_no_records_and_no_cookies(flooded: tuple[Target, int]) -> None:
    """Views that look at the session ("user" in session, or all of it) for
    visitors without a cookie never touch the store."""
    target, count = flooded
    client = target.app.test_client(use_cookies=False)
    for i in range(count):
        response = client.get("/peek" if i % 2 else "/read")
        assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert target.count_records() == 0
    assert target.spy.calls == {}


@pytest.mark.slow
def test_well_formed_unsigned_ids_create_no_records_and_no_store_queries(
    flooded: tuple[Target, int],
) -> None:
    target, count = flooded
    for _ in range(count):
        response = target.send("/peek", f"session={_random_cookie()}")
        assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert target.count_records() == 0
    assert target.spy.calls == {}


@pytest.mark.slow
def test_validly_signed_unknown_ids_create_no_records(flooded: tuple[Target, int]) -> None:
    """Ids the server signed but has no record for (expired, revoked, or
    signed with a leaked key) are looked up once each and never created."""
    target, count = flooded
    keyring = Keyring(SECRET)
    for _ in range(count):
        response = target.send("/peek", f"session={ids.sign(keyring, ids.new_id())}")
        assert response.status_code == 200
        assert set_cookie(response) in (None, "")  # at most cleared, never set
    assert target.count_records() == 0
    assert target.spy.calls["get"] == count
    assert target.spy.writes == 0


# -- aggregated rejection logs -------------------------------------------------------


def _strongbox_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "flask_strongbox"]


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    for store in make_store("sqlite", tmp_path):
        yield make_target(store)


@pytest.mark.slow
def test_flood_of_invalid_cookies_is_one_log_line_per_interval(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flask_strongbox")
    for _ in range(3_000):
        target.send("/read", f"session={_random_cookie()}")
    assert _strongbox_lines(caplog) == ["rejected 1 session cookie(s) or record(s) (bad cookie: 1)"]

    target.clock.advance(10)
    target.send("/read", "session=.")
    assert _strongbox_lines(caplog)[1:] == ["rejected 3000 session cookie(s) or record(s) (bad cookie: 3000)"]


@pytest.mark.slow
def test_steady_flood_of_mixed_rejections_stays_a_trickle(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """A minute of 50 bad requests a second, three kinds, from one client:
    a handful of summary lines that still count every rejection."""
    caplog.set_level(logging.DEBUG, logger="flask_strongbox")
    valid = target.login("alice")
    headers = [f"session={_random_cookie()}", f"session={valid}; session={valid}", "session=..", "session="]
    for _second in range(60):
        for i in range(50):
            target.send("/read", headers[i % len(headers)])
        target.clock.advance(1)
    # The login's own "created" line aside, only rejection summaries.
    lines = [line for line in _strongbox_lines(caplog) if " created " not in line]
    assert 1 <= len(lines) <= 7
    counted = sum(int(line.split()[1]) for line in lines)
    assert 3_000 - 50 * 10 <= counted <= 3_000  # the last interval is still being summed
    assert any("duplicate cookie" in line for line in lines)


# -- nothing secret in the logs --------------------------------------------------------


def _spellings(raw: bytes) -> list[str]:
    return [raw.hex(), base64.urlsafe_b64encode(raw).decode().rstrip("="),
            base64.b64encode(raw).decode().rstrip("=")]


def test_no_log_line_holds_an_id_cookie_store_key_key_or_session_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A representative life: logins, writes, forged, duplicated and
    store-key cookies, a tampered record, a key rotation, a revocation, an
    expiry purge. Every log line is checked against every secret it saw."""
    caplog.set_level(logging.DEBUG)
    for store in make_store("sqlite", tmp_path):
        target = make_target(store, STRONGBOX_PURGE_INTERVAL=1)
    seen_cookies: list[str] = []

    def remember(cookie: str | None) -> str:
        assert cookie
        seen_cookies.append(cookie)
        return cookie

    alice = remember(target.login("alice-7f3e", card="card-4111-1111"))
    target.send("/write", f"session={alice}")
    bob = remember(target.login("bob-9c1d"))
    bob = remember(set_cookie(target.send("/login/bob-9c1d-admin", f"session={bob}")))  # rotates
    for forged in (f"{alice.split('.')[0]}.{_random_cookie().split('.')[1]}", target.store_key(alice),
                   f"{alice}; session={alice}", _random_cookie()):
        target.send("/read", f"session={forged}")
    carol = remember(target.login("carol-22ab"))
    target.put_blob(carol, b"\x01tampered" * 4)
    target.send("/read", f"session={carol}")

    with target.app.test_request_context():
        assert target.box.revoke_user("bob-9c1d-admin") == 1
    target.app.config.update(SECRET_KEY=OLD_SECRET, SECRET_KEY_FALLBACKS=[SECRET])
    alice = remember(set_cookie(target.send("/write", f"session={alice}")))
    target.clock.advance(2 * DEFAULTS.idle_timeout)  # everything idle-expires ...
    remember(target.login("dave-41aa"))  # ... and this write starts a purge of it
    target.app.session_interface.purger.wait(10)  # type: ignore[attr-defined]
    target.send("/logout", f"session={seen_cookies[-1]}")

    lines = [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records]
    text = "\n".join(lines)
    assert "unreadable session record" in text and "rejected" in text and "purged" in text

    forbidden: list[str] = [SECRET, OLD_SECRET, "alice-7f3e", "bob-9c1d", "carol-22ab", "card-4111"]
    for cookie in seen_cookies:
        sid, mac = (base64.urlsafe_b64decode(p + "=") for p in cookie.split("."))
        forbidden += [cookie, *_spellings(sid), *_spellings(mac)]
        forbidden += [ids.store_key(KeySet.from_secret(s), sid) for s in (SECRET, OLD_SECRET)]
    for secret in (SECRET, OLD_SECRET):
        keyset = KeySet.from_secret(secret)
        for key in (keyset.cookie, keyset.lookup, keyset.seal, keyset.identity, keyset.log):
            forbidden += _spellings(key)
    assert [s for s in forbidden if s in text] == []
    assert secret_shaped(text) == []
