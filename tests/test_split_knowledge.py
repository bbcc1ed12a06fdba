"""Split knowledge: a record opens only with its browser's cookie.

Each record's data key is derived from the app's sealing key *and* the
session id, which only the cookie carries; the store holds a keyed hash of
it. So a store dump together with every secret the app is configured with
(``SECRET_KEY`` and each fallback) opens no record with the library's own
code, while the cookie opens its own. The creation time (and with it the
absolute deadline) and the identity hash are bound to the seal: a record
copied to another key, given another creation time, or re-pointed to
another user's index opens as a new empty session. Records sealed by 0.1
(envelope 1, under the app's key alone) still open, and are rewritten in the
new envelope by their next write.

Every test runs on real SQLite, Redis and PostgreSQL: a dump and an edit are
made straight in the backend (:mod:`tests.dumps`), not through the store.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flask_strongbox import ids, sealing
from flask_strongbox.engine import tombstones
from flask_strongbox.keys import Keyring
from flask_strongbox.stores.base import Record, Store

from .dumps import dump, edit
from .hostile import OLD_SECRET, SECRET, Target, make_target, set_cookie
from .services import make_store

FIXTURE = Path(__file__).parent / "fixtures" / "record-0.1.json"
HOUR = 3600.0


@pytest.fixture(scope="module", params=["sqlite", "redis", "postgres"])
def real_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    yield from make_store(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture
def target(real_store: Store) -> Target:
    return make_target(real_store)


def every_secret(target: Target) -> list[str]:
    """What an attacker who also has the app's configuration holds."""
    config = target.app.config
    return [config["SECRET_KEY"], *(config.get("SECRET_KEY_FALLBACKS") or ())]


def attempts(keyring: Keyring, record: Record) -> Iterator[bytes]:
    """Every way the library opens a blob, with everything a dump and the
    keys give: the store key, the user hash and the key ids stand in for the
    id the attacker does not have. Yields what opens (nothing, we expect)."""
    blobs = [record.blob, record.blob[1:]]  # a tombstone holds its pointer after one byte
    guesses = [b"", record.key.encode(), bytes.fromhex(record.key), (record.user_hash or "").encode(),
               *(ks.kid for ks in keyring.sets), *(ks.lookup for ks in keyring.sets)]
    purposes = [b"", b"|successor", b"|info"]
    for blob in blobs:
        for purpose in purposes:
            tries = [functools.partial(sealing.unseal, keyring, blob, record.key, purpose)]
            tries += [functools.partial(
                sealing.open_record, keyring, blob,
                sealing.Binding(guess, record.key, record.created, record.user_hash), purpose)
                for guess in guesses]
            for attempt in tries:
                try:
                    yield attempt()
                except sealing.InvalidSeal:
                    continue
    found = tombstones.successor(keyring, record, bytes.fromhex(record.key))
    if found is not None:
        yield found


def open_with_cookie(keyring: Keyring, record: Record, cookie: str) -> bytes:
    verified = ids.unsign(keyring, cookie)
    assert verified is not None
    binding = sealing.Binding(verified[0], record.key, record.created, record.user_hash)
    return sealing.open_record(keyring, record.blob, binding)


def test_a_dump_and_every_secret_open_no_record_and_the_cookie_opens_its_own(real_store: Store) -> None:
    """Sessions made before a key rotation and after it, logged in or not,
    and the tombstone a key move leaves: with the dump and SECRET_KEY plus
    its fallback nothing opens; each cookie opens its own record."""
    target = make_target(real_store, SECRET_KEY=OLD_SECRET)
    before = {"alice": target.login("alice", role="admin"), "carol": target.login("carol")}
    target.app.config.update(SECRET_KEY=SECRET, SECRET_KEY_FALLBACKS=[OLD_SECRET])
    bob = target.login("bob", note="private")
    anon = set_cookie(target.send("/write", None))
    assert anon
    moved = set_cookie(target.send("/write", f"session={before['carol']}"))  # a key move
    assert moved and moved != before["carol"]
    cookies: dict[str, str] = {**before, "bob": bob, "anon": anon, "carol": moved}
    keys = {target.store_key(cookie) for cookie in cookies.values()}

    records = [r for r in dump(real_store) if r.key in keys | {target.store_key(before["carol"])}]
    assert len(records) == len(cookies) + 1  # and carol's tombstone
    assert any(tombstones.is_tombstone(r) and tombstones.pointer_kid(r) for r in records)
    keyring = Keyring(every_secret(target)[0], every_secret(target)[1:])
    for record in records:
        assert list(attempts(keyring, record)) == []
    for name, cookie in cookies.items():
        record = next(r for r in records if r.key == target.store_key(cookie))
        opened = json.loads(open_with_cookie(keyring, record, cookie))
        assert opened.get("user", "anon") == name
        # Carol's moved record names its tombstone until she is back with
        # the new cookie; the engine keeps that mark to itself.
        assert (tombstones.MOVED_FROM in opened) == (name == "carol")
        opened.pop(tombstones.MOVED_FROM, None)
        assert target.read(cookie) == opened


def test_a_dump_of_a_new_record_holds_only_the_header_in_the_clear(target: Target) -> None:
    """Version 2 envelope: 0x02, the key id, a nonce, ciphertext and tag."""
    cookie = target.login("alice")
    record = target.record(cookie)
    assert record is not None
    assert record.blob[0] == sealing.VERSION == 2
    assert sealing.kid_of(record.blob) == target.keyring.primary.kid
    with pytest.raises(sealing.InvalidSeal, match="unknown envelope version"):
        sealing.unseal(target.keyring, record.blob, record.key)  # not under the app key alone


def test_a_record_copied_to_another_key_opens_nothing(target: Target) -> None:
    """A store writer copies the admin's whole record (blob, creation time,
    user hash) over Mallory's: Mallory's cookie opens an empty session."""
    admin = target.login("admin", role="admin")
    mallory = target.login("mallory")
    source = target.record(admin)
    assert source is not None
    edit(target.store, target.store_key(mallory), blob=source.blob, created=source.created,
         user_hash=source.user_hash)
    assert target.read(mallory) == {}
    assert target.read(admin) == {"user": "admin", "role": "admin"}


def test_a_record_whose_creation_time_was_edited_opens_nothing(target: Target) -> None:
    """Moving ``created`` later would move the absolute deadline later: the
    seal fails instead, and putting the true time back opens it again."""
    cookie = target.login("alice")
    record = target.record(cookie)
    assert record is not None
    for created in (record.created + 30 * 24 * HOUR, record.created - 1, record.created + 1e-6):
        edit(target.store, record.key, created=created)
        assert target.read(cookie) == {}
    edit(target.store, record.key, created=record.created)
    assert target.read(cookie) == {"user": "alice"}


def test_an_edited_absolute_deadline_never_extends_the_session(real_store: Store) -> None:
    """``absolute_expires`` is not bound (a shortened lifetime rewrites it),
    but it never counts beyond creation plus ``STRONGBOX_ABSOLUTE_LIFETIME``,
    and the creation time is bound: a writer who moves it (and the expiry)
    far ahead still sees the session end on time."""
    lifetime = 3 * HOUR
    target = make_target(real_store, STRONGBOX_ABSOLUTE_LIFETIME=lifetime)
    cookie = target.login("alice")
    record = target.record(cookie)
    assert record is not None
    edit(target.store, record.key, absolute_expires=record.created + 100 * lifetime,
         expires=record.created + 100 * lifetime)
    # Keep it active until just before its true deadline, then past it.
    while target.clock() < record.created + lifetime - HOUR:
        target.clock.advance(HOUR / 2)
        assert target.read(cookie) == {"user": "alice"}
    target.clock.advance(HOUR)
    assert target.read(cookie) == {}


def test_a_record_whose_user_hash_was_edited_or_removed_opens_nothing(target: Target) -> None:
    cookie = target.login("alice")
    record = target.record(cookie)
    assert record is not None and record.user_hash is not None
    for user_hash in ("0" * 64, record.user_hash.upper(), None):
        edit(target.store, record.key, user_hash=user_hash)
        assert target.read(cookie) == {}
    edit(target.store, record.key, user_hash=record.user_hash)
    assert target.read(cookie) == {"user": "alice"}


def test_an_anonymous_record_given_a_user_hash_opens_nothing(target: Target) -> None:
    """A session with no identity has the empty marker bound: adding one to
    someone's index spoils it."""
    cookie = set_cookie(target.send("/write", None))
    assert cookie
    bob = ids.identity_key(target.keyring.primary, "bob")
    edit(target.store, target.store_key(cookie), user_hash=bob)
    assert target.read(cookie) == {}


def test_a_record_re_pointed_to_another_users_index_opens_nothing(target: Target) -> None:
    """Mallory's record filed under Bob's identity hash (so that it would be
    listed, capped and revoked as Bob's) opens as an empty session; Bob's
    own session is untouched."""
    bob = target.login("bob")
    mallory = target.login("mallory")
    bob_hash = target.record(bob).user_hash  # type: ignore[union-attr]
    edit(target.store, target.store_key(mallory), user_hash=bob_hash)
    assert target.read(mallory) == {}
    assert target.read(bob) == {"user": "bob"}


# -- a record sealed by 0.1 ------------------------------------------------------


def fixture_record() -> tuple[dict[str, Any], Record]:
    saved = json.loads(FIXTURE.read_text())
    fields = dict(saved["record"])
    fields["blob"] = base64.b64decode(fields["blob"])
    return saved, Record(**fields)


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def legacy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Target, dict[str, Any], Record]]:
    """An app on the key 0.1 used, with the record 0.1 sealed in a store of
    its own (the record expired long ago by the real clock: the background
    purge of another test's app on a shared store would remove it)."""
    saved, record = fixture_record()
    for store in make_store(request.param, tmp_path):
        assert store.create(record)
        target = make_target(store, SECRET_KEY=saved["secret_key"])
        target.clock.now = record.created + 30  # a touch is not due yet
        yield target, saved, record


def test_the_fixture_is_an_envelope_1_record_under_the_app_key_alone() -> None:
    saved, record = fixture_record()
    assert record.blob[0] == 1
    keyring = Keyring(saved["secret_key"])
    assert json.loads(sealing.unseal(keyring, record.blob, record.key)) == saved["data"]
    # What 0.1 left in a store, the app's key alone opens: the attack above
    # is a real one, and it finds this record.
    assert [json.loads(found) for found in attempts(keyring, record)][:1] == [saved["data"]]
    assert ids.store_key(keyring.primary, ids.unsign(keyring, saved["cookie"])[0]) == record.key  # type: ignore[index]


def test_a_0_1_record_opens_and_a_read_not_due_a_touch_leaves_it(
    legacy: tuple[Target, dict[str, Any], Record],
) -> None:
    target, saved, record = legacy
    assert target.read(saved["cookie"]) == saved["data"]
    assert target.record(saved["cookie"]) == record


def test_a_0_1_record_is_rewritten_in_envelope_2_by_its_next_write(
    legacy: tuple[Target, dict[str, Any], Record],
) -> None:
    target, saved, record = legacy
    response = target.send("/write", f"session={saved['cookie']}")
    assert response.get_json() == {**saved["data"], "n": saved["data"]["n"] + 1}
    assert set_cookie(response) == saved["cookie"]  # same id: only the envelope changed
    rewritten = target.record(saved["cookie"])
    assert rewritten is not None and rewritten.blob[0] == 2
    assert (rewritten.created, rewritten.user_hash) == (record.created, record.user_hash)
    # Now the app's key alone opens nothing, and the cookie still does.
    keyring = Keyring(saved["secret_key"])
    assert list(attempts(keyring, rewritten)) == []
    assert target.read(saved["cookie"]) == {**saved["data"], "n": saved["data"]["n"] + 1}


def test_a_0_1_record_is_rewritten_by_a_read_due_a_touch(
    legacy: tuple[Target, dict[str, Any], Record],
) -> None:
    """Migration finishes for sessions that are only read: the read that
    slides the expiry rewrites the envelope too, once."""
    target, saved, record = legacy
    target.clock.advance(20 * 60)  # a touch is due
    assert target.read(saved["cookie"]) == saved["data"]
    rewritten = target.record(saved["cookie"])
    assert rewritten is not None and rewritten.blob[0] == 2 and rewritten.version == record.version + 1
    target.spy.calls.clear()
    assert target.read(saved["cookie"]) == saved["data"]
    assert target.spy.writes == 0
