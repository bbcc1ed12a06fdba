"""Key material: one key per purpose, rotation with fallbacks, no leaks, and
no weak keys in production.

``SECRET_KEY`` signs new cookies and seals new data; a key in
``SECRET_KEY_FALLBACKS`` only verifies and opens what it made before, until
that session's next write moves it to the new key; a removed key opens
nothing. Keys never show in ``repr``, messages or error pages.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from flask import Flask, session

from flask_strongbox import ConfigurationError, MemoryStore, Strongbox, ids, sealing
from flask_strongbox.engine import tombstones
from flask_strongbox.keys import Keyring, KeySet, derive
from flask_strongbox.stores.base import Store

from .hostile import (
    OLD_SECRET,
    SECRET,
    Target,
    make_target,
    set_cookie,
)
from .log_guard import no_secrets_in_logs

pytestmark = pytest.mark.usefixtures(no_secrets_in_logs.__name__)

PURPOSES = ("cookie", "lookup", "seal", "identity", "log")


@pytest.fixture
def rotated(shared_store: Store) -> tuple[Target, str]:
    """An app whose ``alice`` logged in under ``OLD_SECRET``, which has just
    been rotated out: ``SECRET`` is primary, ``OLD_SECRET`` a fallback."""
    target = make_target(shared_store, SECRET_KEY=OLD_SECRET)
    cookie = target.login("alice")
    target.app.config.update(SECRET_KEY=SECRET, SECRET_KEY_FALLBACKS=[OLD_SECRET])
    return target, cookie


def spellings(key: bytes) -> list[str]:
    """How a key could show up in text."""
    return [key.hex(), base64.b64encode(key).decode().rstrip("="),
            base64.urlsafe_b64encode(key).decode().rstrip("="), repr(key)[2:-1]]


def key_material(*secrets: str) -> list[str]:
    found = list(secrets)
    for secret in secrets:
        keyset = KeySet.from_secret(secret)
        for purpose in PURPOSES:
            found += spellings(getattr(keyset, purpose))
    return found


# -- derivation ------------------------------------------------------------------


def test_each_purpose_gets_its_own_key() -> None:
    keyset = KeySet.from_secret(SECRET)
    keys = [getattr(keyset, purpose) for purpose in PURPOSES]
    assert len(set(keys)) == len(PURPOSES)
    assert all(len(key) == 32 for key in keys)
    assert SECRET.encode() not in keys
    # Deterministic per secret and purpose, and unrelated across secrets.
    assert KeySet.from_secret(SECRET).seal == keyset.seal
    other = KeySet.from_secret(OLD_SECRET)
    assert not {getattr(other, p) for p in PURPOSES} & set(keys)
    assert derive(SECRET, "seal") == keyset.seal != derive(SECRET, "seal ")


def test_key_id_names_a_secret_without_revealing_its_keys() -> None:
    keyset = KeySet.from_secret(SECRET)
    assert len(keyset.kid) == 4
    assert keyset.kid != KeySet.from_secret(OLD_SECRET).kid
    for purpose in PURPOSES:
        assert keyset.kid not in getattr(keyset, purpose)


def test_cookie_signature_is_not_the_store_key_or_flasks_signature() -> None:
    """The cookie MAC, the store key and an HMAC under SECRET_KEY itself are
    three unrelated values for one id, so none can stand in for another."""
    keyset = KeySet.from_secret(SECRET)
    sid = ids.new_id()
    mac = ids.sign(Keyring(SECRET), sid).split(".")[1]
    store_key = ids.store_key(keyset, sid)
    plain = hashlib.sha256(SECRET.encode() + sid).hexdigest()
    assert len({base64.urlsafe_b64decode(mac + "=").hex(), store_key, plain}) == 3


# -- rotation ----------------------------------------------------------------------


def test_session_made_under_a_fallback_still_loads(rotated: tuple[Target, str]) -> None:
    target, cookie = rotated
    assert target.read(cookie) == {"user": "alice"}


def test_a_read_leaves_a_fallback_session_where_it_is(rotated: tuple[Target, str]) -> None:
    """Reading a session sealed under a fallback key writes nothing and sets
    no cookie while no touch is due: a write moves it to the new key, and so
    does a read that slides its expiry (``test_rotation.py``)."""
    target, old_cookie = rotated
    target.spy.calls.clear()
    response = target.send("/read", f"session={old_cookie}")
    assert response.get_json() == {"user": "alice"}
    assert set_cookie(response) is None
    assert target.spy.writes == 0


def test_next_write_moves_a_fallback_session_to_the_new_key(rotated: tuple[Target, str]) -> None:
    """A write re-seals and re-signs under the new key."""
    path, data = "/write", {"user": "alice", "n": 1}
    target, old_cookie = rotated
    response = target.send(path, f"session={old_cookie}")
    assert response.get_json() == data
    new_cookie = set_cookie(response)
    assert new_cookie and new_cookie != old_cookie
    # Signed only by the new key ...
    assert ids.unsign(Keyring(SECRET), new_cookie) is not None
    assert ids.unsign(Keyring(OLD_SECRET), new_cookie) is None
    # ... sealed only by the new key ...
    record = target.record(new_cookie)
    assert record is not None and record.blob[1:5] == Keyring(SECRET).primary.kid
    with pytest.raises(sealing.InvalidSeal):
        sealing.unseal(Keyring(OLD_SECRET), record.blob, record.key)
    # ... the data kept. The old cookie's other requests (other tabs) follow
    # it for as long as the old id's tombstone lasts, and are handed the new
    # cookie; a minute after the browser is back with the new cookie, the
    # old cookie opens nothing.
    assert target.read(new_cookie) == data
    followed = target.send("/read", f"session={old_cookie}")
    assert followed.get_json() == data and set_cookie(followed) == new_cookie
    target.clock.advance(tombstones.TOMBSTONE_SECONDS + 1)
    assert target.read(old_cookie) == {}
    assert target.read(new_cookie) == data


MINUTE = 60.0


def test_a_move_whose_answer_was_lost_still_leads_the_old_cookie_to_the_session(
    rotated: tuple[Target, str],
) -> None:
    """The store took the move but its answer never reached the browser (a
    timeout, a dropped connection): the browser still holds the old cookie.
    Whenever it comes back within the session's lifetime, that cookie leads
    to the moved session and is handed the new cookie; nothing is lost."""
    target, old_cookie = rotated
    lost = target.send("/write", f"session={old_cookie}")  # moved; the answer is lost
    assert lost.status_code == 200
    moved_to = set_cookie(lost)
    target.clock.advance(50 * MINUTE)  # far past a minute, within the idle hour
    back = target.send("/read", f"session={old_cookie}")
    assert back.get_json() == {"user": "alice", "n": 1}
    assert set_cookie(back) == moved_to


def test_requests_that_follow_a_lost_move_keep_its_tombstone_alive(rotated: tuple[Target, str]) -> None:
    """Each request with the old cookie slides the moved session's expiry,
    and the old id's tombstone with it: while the browser keeps missing the
    answers, the two end together, not the tombstone first."""
    target, old_cookie = rotated
    target.send("/write", f"session={old_cookie}")  # moved; the answer is lost
    for _ in range(3):  # three idle hours and a half in all, each answer lost
        target.clock.advance(50 * MINUTE)
        assert target.read(old_cookie) == {"user": "alice", "n": 1}
    target.clock.advance(61 * MINUTE)  # gone idle past its hour: both ended
    assert target.read(old_cookie) == {}


def test_a_process_still_on_the_old_key_follows_a_move_made_under_the_new_one(
    rotated: tuple[Target, str],
) -> None:
    """Mid-rollout, step two: one process has made the new key current and
    moved Alice's session; another still has the old key current and the
    new one as a fallback. There, her old cookie still leads to her session,
    and her new cookie opens it too."""
    target, old_cookie = rotated
    new_cookie = set_cookie(target.send("/write", f"session={old_cookie}"))  # moved, under SECRET
    assert new_cookie
    target.app.config.update(SECRET_KEY=OLD_SECRET, SECRET_KEY_FALLBACKS=[SECRET])  # the other process
    assert target.read(old_cookie) == {"user": "alice", "n": 1}
    assert target.read(new_cookie) == {"user": "alice", "n": 1}


def test_a_revoked_session_ends_for_a_browser_that_missed_its_move(rotated: tuple[Target, str]) -> None:
    """Alice's move answer was lost, then her sessions were revoked. Her old
    cookie's tombstone still leads somewhere for as long as it lives, but
    to nothing: the cookie is cleared and her next change starts a fresh
    session, never a 503 telling her to retry with a cookie she lacks."""
    target, old_cookie = rotated
    target.send("/write", f"session={old_cookie}")  # moved; the answer is lost
    with target.app.app_context():
        assert target.box.revoke_user("alice") >= 1  # hers (the shared store may hold others)
    read = target.send("/read", f"session={old_cookie}")
    assert read.get_json() == {} and set_cookie(read) == ""
    wrote = target.send("/write", f"session={old_cookie}")
    assert wrote.status_code == 200 and wrote.get_json() == {"n": 1}
    assert set_cookie(wrote) not in ("", None, old_cookie)


def test_a_logout_with_the_old_cookie_cuts_its_tombstone_to_a_minute(rotated: tuple[Target, str]) -> None:
    """Logging out through the tombstone of a lost move ends the session it
    leads to; the tombstone, which then leads nowhere, goes a minute later
    instead of living on as long as the session would have."""
    target, old_cookie = rotated
    target.clock.advance(MINUTE + 1)
    target.send("/read", f"session={old_cookie}")  # due a touch: moved; the answer is lost
    logout = target.send("/logout", f"session={old_cookie}")
    assert logout.status_code == 200 and set_cookie(logout) == ""
    assert target.record(old_cookie) is not None
    target.clock.advance(tombstones.TOMBSTONE_SECONDS + 1)
    assert target.record(old_cookie) is None


def test_the_old_id_lasts_a_minute_once_the_browser_is_back_with_the_new_cookie(
    rotated: tuple[Target, str],
) -> None:
    """The first request with the new cookie proves the browser has it: the
    old id's tombstone is cut to a minute (requests already sent with the
    old cookie still find the session), and that request's save drops the
    mark it carried, once; the next reads write nothing."""
    target, old_cookie = rotated
    new_cookie = set_cookie(target.send("/write", f"session={old_cookie}"))
    assert new_cookie
    target.clock.advance(10 * MINUTE)
    assert target.read(old_cookie) == {"user": "alice", "n": 1}  # a tab still on the old cookie
    target.spy.calls.clear()
    assert target.read(new_cookie) == {"user": "alice", "n": 1}
    assert target.spy.writes == 2  # the mark dropped, the tombstone cut short
    target.spy.calls.clear()
    assert target.read(new_cookie) == {"user": "alice", "n": 1}
    assert target.spy.writes == 0
    target.clock.advance(tombstones.TOMBSTONE_SECONDS - 1)
    assert target.read(old_cookie) == {"user": "alice", "n": 1}
    target.clock.advance(2)
    assert target.read(old_cookie) == {}
    assert target.read(new_cookie) == {"user": "alice", "n": 1}


def test_new_sessions_use_the_primary_key_even_with_fallbacks(rotated: tuple[Target, str]) -> None:
    target, _ = rotated
    cookie = target.login("bob")
    assert ids.unsign(Keyring(OLD_SECRET), cookie) is None
    record = target.record(cookie)
    assert record is not None and record.blob[1:5] == Keyring(SECRET).primary.kid


def test_revoke_user_reaches_sessions_made_before_a_key_rotation(rotated: tuple[Target, str]) -> None:
    """Rotating SECRET_KEY and signing a user out everywhere is what one does
    after a compromise: the sessions made under the old key must end too."""
    target, cookie = rotated
    with target.app.test_request_context():
        listed = len(target.box.sessions_of("alice"))  # the store is shared with other tests
        assert listed >= 1
        assert target.box.revoke_user("alice") == listed
    assert target.read(cookie) == {}


def test_removed_key_gives_an_empty_session_without_store_query(rotated: tuple[Target, str]) -> None:
    target, cookie = rotated
    target.app.config.update(SECRET_KEY_FALLBACKS=[])
    target.spy.calls.clear()
    assert target.read(cookie) == {}
    assert target.spy.calls == {}


def test_fallback_only_opens_it_never_signs_or_seals() -> None:
    ring = Keyring(SECRET, [OLD_SECRET])
    sid = ids.new_id()
    assert ids.unsign(Keyring(SECRET), ids.sign(ring, sid)) is not None
    assert ids.unsign(Keyring(OLD_SECRET), ids.sign(ring, sid)) is None
    blob = sealing.seal(ring, b"x", "k")
    assert blob[1:5] == ring.primary.kid
    old_blob = sealing.seal(Keyring(OLD_SECRET), b"x", "k")
    assert sealing.unseal(ring, old_blob, "k") == b"x"
    with pytest.raises(sealing.InvalidSeal, match="unknown key id"):
        sealing.unseal(Keyring(SECRET), old_blob, "k")


# -- no leaks ----------------------------------------------------------------------


def test_keys_never_appear_in_repr_or_str() -> None:
    ring = Keyring(SECRET, [OLD_SECRET])
    shown = " ".join([repr(ring), str(ring), *(repr(s) for s in ring.sets), *(str(s) for s in ring.sets)])
    for secret in key_material(SECRET, OLD_SECRET):
        assert secret not in shown


def test_keys_never_appear_in_the_interface_or_settings_repr() -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, SECRET_KEY_FALLBACKS=[OLD_SECRET], TESTING=True)
    Strongbox(app, store=MemoryStore())
    interface = app.extensions["strongbox"]
    shown = repr(interface) + repr(interface.settings) + repr(interface.keyring(app))
    for secret in key_material(SECRET, OLD_SECRET):
        assert secret not in shown


def test_keys_never_appear_in_error_pages(shared_store: Store) -> None:
    """Production error pages (too large, unstorable, a crashing view) and
    the exception messages behind them hold no key material."""
    target = make_target(shared_store, SECRET_KEY_FALLBACKS=[OLD_SECRET])
    target.app.config.update(TESTING=False)

    @target.app.route("/crash")
    def crash() -> str:
        session["user"] = "alice"
        raise RuntimeError("boom")

    cookie = target.login("alice")
    material = key_material(SECRET, OLD_SECRET)
    for path in ("/big/70000", "/unstorable", "/crash", "/deep/100"):
        response = target.send(path, f"session={cookie}")
        assert response.status_code == 500
        page = response.get_data(as_text=True) + str(response.headers)
        assert not [secret for secret in material if secret in page]


# -- weak keys ---------------------------------------------------------------------

WEAK = {
    "well-known hello": "hello",
    "well-known dev": "dev",
    "well-known changeme": "changeme",
    "short random": "f3Kq9zLm2Wx7",
    "32 bytes of one character": "a" * 40,
    "bytes too short": b"\x8a\x11\x93\x04\xfe",
}


def production_app(secret: object, fallbacks: list[object] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secret, PROPAGATE_EXCEPTIONS=True)
    if fallbacks is not None:
        app.config["SECRET_KEY_FALLBACKS"] = fallbacks
    Strongbox(app, store=MemoryStore())

    @app.route("/login")
    def login() -> str:
        session["user"] = "alice"
        return "ok"

    return app


@pytest.mark.parametrize("secret", WEAK.values(), ids=WEAK.keys())
def test_weak_secret_key_is_refused_in_production(secret: str | bytes) -> None:
    app = production_app(secret)
    assert not app.debug and not app.testing
    with pytest.raises(ConfigurationError) as refused:
        app.test_client().get("/login")
    message = str(refused.value)
    assert message.startswith("SECRET_KEY ")
    assert "python -c 'import secrets; print(secrets.token_hex(32))'" in message
    assert (secret if isinstance(secret, str) else secret.decode("latin-1")) not in message.split(" ", 2)[2]


def test_weak_fallback_is_refused_in_production_naming_it() -> None:
    """A fallback still verifies cookies, so a weak one forges them just as well."""
    app = production_app(SECRET, fallbacks=[OLD_SECRET, "changeme"])
    with pytest.raises(ConfigurationError, match=r"^SECRET_KEY_FALLBACKS\[1\] is a well-known"):
        app.test_client().get("/login")


def test_weak_secret_key_is_refused_before_anything_is_stored() -> None:
    app = production_app("dev")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/login")
    assert response.status_code == 500
    assert set_cookie(response) is None
    store = app.extensions["strongbox"].store
    assert store.stats(0).live == 0


@pytest.mark.parametrize("mode", ["debug", "testing"])
def test_weak_secret_key_is_allowed_in_debug_and_testing(mode: str) -> None:
    app = production_app("dev")
    app.config.update({mode.upper(): True})
    client = app.test_client()
    assert client.get("/login").status_code == 200
    assert client.get_cookie("session") is not None


def test_strong_secret_key_is_accepted_in_production() -> None:
    app = production_app(SECRET, fallbacks=[OLD_SECRET])
    client = app.test_client()
    assert client.get("/login").status_code == 200
    assert client.get_cookie("session") is not None
