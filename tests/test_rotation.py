"""Key rotation that finishes, on every store.

After ``SECRET_KEY`` is replaced and the old key kept in
``SECRET_KEY_FALLBACKS``, a session under the old key moves to the new one
on its next request that is due a touch, a read included (new id, new
cookie, sealed under the new key), so active sessions are off the old key
within one touch interval and the rest end by their absolute lifetime.
``flask sessions keys`` shows what still depends on each key and says when a
fallback can go; removing one it calls removable logs nobody out.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import Result
from flask import Flask

from flask_strongbox import ids, sealing
from flask_strongbox.keys import Keyring, KeySet, weakness
from flask_strongbox.stores.base import Store

from .apps import Browser, Clock, make_app, no_ids_in_logs, store_key
from .test_split_knowledge import fixture_record

pytestmark = pytest.mark.usefixtures(no_ids_in_logs.__name__)

OLD = "Ho7Vr2Lq9Zx4Mb1Tn8Kc3Wd6Fs0Jy5Pg2Ue7Ai4Rb"
NEW = "Nq3Xc8Vb1Lm6Tz0Rk5Hs9Wd2Fj7Gp4Ya1Ue8Io3Pe"
MINUTE = 60.0


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["sessions", *args])


def keys_json(app: Flask) -> dict[str, Any]:
    result = run(app, "keys", "--json")
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = json.loads(result.output)
    return found


def user_of(browser: Browser) -> str:
    """Who the browser's session says it is, without taking any cookie the
    response sets (a check must not change what it checks)."""
    body: dict[str, Any] = browser.get("/dump", follow_cookie=False).get_json()
    return str(body.get("user", ""))


def rotate(app: Flask, *fallbacks: str) -> None:
    app.config.update(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=list(fallbacks))


def login(app: Flask, name: str) -> Browser:
    browser = Browser(app)
    browser.get(f"/login/{name}")
    assert browser.cookie
    return browser


# -- moving on the next request --------------------------------------------------


def test_a_read_due_a_touch_moves_a_fallback_session_to_the_current_key(store: Store, clock: Clock) -> None:
    app = make_app(store, clock, secret=OLD)
    alice = login(app, "alice")
    old_cookie = alice.cookie
    assert old_cookie
    rotate(app, OLD)
    clock.advance(5 * MINUTE)  # a touch is due
    response = alice.get("/dump")
    assert response.get_json() == {"user": "alice"}
    assert alice.cookie and alice.cookie != old_cookie
    assert ids.unsign(Keyring(NEW), alice.cookie) is not None  # signed by the new key only
    assert ids.unsign(Keyring(OLD), alice.cookie) is None
    record = store.get(store_key(app, alice.cookie), clock())
    assert record is not None and record.blob[0] == 2
    assert sealing.kid_of(record.blob) == KeySet.from_secret(NEW).kid
    # Another tab still sending the old cookie follows the move for a minute.
    other_tab = Browser(app, old_cookie)
    assert other_tab.get("/dump").get_json() == {"user": "alice"}
    assert other_tab.cookie == alice.cookie


def test_the_move_is_throttled_like_a_touch(store: Store, clock: Clock) -> None:
    """Reads before a touch is due leave the session where it is; the one
    that is due moves it, once."""
    app = make_app(store, clock, secret=OLD)
    alice = login(app, "alice")
    rotate(app, OLD)
    old_cookie = alice.cookie
    for _ in range(3):
        clock.advance(10)
        assert alice.get("/dump").get_json() == {"user": "alice"}
    assert alice.cookie == old_cookie
    clock.advance(MINUTE)
    alice.get("/dump")
    moved = alice.cookie
    assert moved != old_cookie
    clock.advance(10)
    alice.get("/dump")
    assert alice.cookie == moved


# -- flask sessions keys -----------------------------------------------------------


def test_keys_after_a_rotation_with_live_idle_and_expired_sessions(store: Store, clock: Clock) -> None:
    """Carol's session expired before the rotation, Bob's idles until it
    expires, Alice keeps using hers, Dave logs in under the new key. The
    command follows the fallback's count down to "can be removed", and
    removing it then changes nobody's session, while removing it earlier
    would have logged Bob out."""
    app = make_app(store, clock, secret=OLD)
    start = clock()
    carol = login(app, "carol")
    clock.advance(50 * MINUTE)
    alice, bob = login(app, "alice"), login(app, "bob")
    clock.advance(20 * MINUTE)  # carol's idle hour is over
    rotate(app, OLD)
    dave = login(app, "dave")

    found = keys_json(app)
    assert found["unknown_key"] == 0
    current, old = found["keys"]
    assert (current["setting"], current["current"], current["sessions"]) == ("SECRET_KEY", True, 1)
    assert (old["setting"], old["current"], old["sessions"], old["moving"]) == (
        "SECRET_KEY_FALLBACKS[0]", False, 2, 0)
    assert old["fingerprint"] == KeySet.from_secret(OLD).kid.hex() != current["fingerprint"]
    assert old["last_ends"].startswith(_iso(start + 50 * MINUTE + 31 * 24 * 3600))
    assert old["removable"] is False and old["app_key_only"] == 0

    old_alice = alice.cookie
    assert alice.get("/dump").get_json() == {"user": "alice"}  # a touch is due: she moves
    assert alice.cookie != old_alice
    found = keys_json(app)
    assert [k["sessions"] for k in found["keys"]] == [2, 1]
    assert found["keys"][1]["moving"] == 1  # her old id's tombstone, for a minute
    text = run(app, "keys").output
    assert ("SECRET_KEY_FALLBACKS[0] is still needed by 1 live session(s) and 1 id(s) moving off it: "
            "each moves to SECRET_KEY on its next request") in text

    # Removing the fallback now would log Bob out. (Put back at once: his
    # cookie was refused before any store query, so nothing changed.)
    rotate(app)
    assert user_of(bob) == ""
    rotate(app, OLD)

    for _ in range(2):  # Alice and Dave stay active; Bob does not come back
        clock.advance(25 * MINUTE)
        alice.get("/dump")
        dave.get("/dump")
    found = keys_json(app)
    assert [k["sessions"] for k in found["keys"]] == [2, 0]
    assert found["keys"][1]["removable"] is True
    assert "SECRET_KEY_FALLBACKS[0] can be removed: no live session depends on it" in run(app, "keys").output

    browsers = {"alice": alice, "bob": bob, "carol": carol, "dave": dave}
    before = {name: user_of(b) for name, b in browsers.items()}
    assert before == {"alice": "alice", "bob": "", "carol": "", "dave": "dave"}
    rotate(app)  # the fallback removed, as the command said it could be
    assert {name: user_of(b) for name, b in browsers.items()} == before


def test_keys_keeps_a_fallback_while_a_browser_whose_move_answer_was_lost_needs_it(
    store: Store, clock: Clock,
) -> None:
    """Alice's move landed but its answer was lost: her browser still holds
    the old cookie, signed with the fallback. The command keeps calling the
    fallback needed, past the minute a tombstone used to live, until she is
    back and has the new cookie; a minute later it can go, and removing it
    logs her out no more."""
    app = make_app(store, clock, secret=OLD)
    alice = login(app, "alice")
    rotate(app, OLD)
    clock.advance(5 * MINUTE)
    alice.get("/dump", follow_cookie=False)  # due a touch: she moves; the answer is lost
    clock.advance(30 * MINUTE)
    old = keys_json(app)["keys"][1]
    assert (old["sessions"], old["moving"], old["removable"]) == (0, 1, False)

    assert user_of(alice) == "alice"  # back with the old cookie: led to her session
    alice.get("/dump")  # this answer arrives: she has the new cookie
    alice.get("/dump")  # and comes back with it
    assert keys_json(app)["keys"][1]["removable"] is False  # tabs on the old cookie have a minute
    clock.advance(MINUTE + 1)
    assert keys_json(app)["keys"][1]["removable"] is True
    rotate(app)  # removed, as the command said it could be
    assert user_of(alice) == "alice"


def test_keys_counts_records_under_a_removed_key(store: Store, clock: Clock) -> None:
    """A record under a key that is gone is counted apart (it opens as an
    empty session); the text says so."""
    app = make_app(store, clock, secret=OLD)
    login(app, "alice")
    rotate(app)  # OLD removed outright
    login(app, "bob")
    found = keys_json(app)
    assert [k["sessions"] for k in found["keys"]] == [1]
    assert found["unknown_key"] == 1
    assert "1 live record(s) are under a key that is no longer configured" in run(app, "keys").output


def test_keys_counts_0_1_records_still_sealed_under_the_app_key_alone(store: Store, clock: Clock) -> None:
    """Those a dump and the key can still read, until their next request."""
    saved, record = fixture_record()
    assert store.create(record)
    clock.now = record.created + 30
    app = make_app(store, clock, secret=saved["secret_key"])
    (key,) = keys_json(app)["keys"]
    assert (key["sessions"], key["app_key_only"]) == (1, 1)
    clock.advance(20 * MINUTE)
    assert Browser(app, saved["cookie"]).get("/dump").get_json() == saved["data"]  # rewritten
    (key,) = keys_json(app)["keys"]
    assert (key["sessions"], key["app_key_only"]) == (1, 0)


def test_keys_shows_fingerprints_never_key_material(store: Store, clock: Clock) -> None:
    app = make_app(store, clock, secret=OLD)
    login(app, "alice")
    rotate(app, OLD)
    output = run(app, "keys").output + run(app, "keys", "--json").output
    for secret in (OLD, NEW):
        keyset = KeySet.from_secret(secret)
        purposes = ("cookie", "lookup", "seal", "identity", "log")
        material = [secret, *(getattr(keyset, p).hex() for p in purposes)]
        assert not [m for m in material if m in output]
        assert keyset.kid.hex() in output


def test_keys_without_a_secret_key_is_one_line(store: Store) -> None:
    app = make_app(store)
    app.secret_key = None
    result = run(app, "keys")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["Error: SECRET_KEY is not set; there are no keys to show"]


def test_generate_key_prints_a_strong_random_key(store: Store) -> None:
    app = make_app(store)
    first, second = run(app, "generate-key"), run(app, "generate-key", "--json")
    assert first.exit_code == second.exit_code == 0
    key, other = first.output.strip(), json.loads(second.output)["key"]
    assert len(key) == len(other) == 43 and key != other
    assert weakness(key) is None and weakness(other) is None


def _iso(seconds: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, timezone.utc).replace(microsecond=0).isoformat()[:16]
