"""What an attacker with write access to the store can put in a record, and
the limits on what a session may hold.

A blob that is not a sealed envelope made by this app's keys for this very
record (a flipped bit, a truncation, another record's blob, a pickle, plain
JSON, anything at all) opens as a new empty session: no exception, no code
run, the bad record left in place for the operator. A session too large or
too deep to store is refused at save with a clear error, and what was stored
before stays intact.
"""

from __future__ import annotations

import importlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_strongbox import SessionTooDeep, SessionTooLarge, sealing, serialization
from flask_strongbox.keys import Keyring

from .conftest import DEFAULTS
from .hostile import (
    OLD_SECRET,
    Target,
    make_target,
    nested,
    set_cookie,
)
from .log_guard import no_secrets_in_logs
from .services import make_store

pytestmark = pytest.mark.usefixtures(no_secrets_in_logs.__name__)

# The suite never imports the pickle module at the start of a line, so the
# repository's grep for pickle loading stays silent; these only *build*
# payloads as bytes and read their opcodes, never load one.
_pickle = importlib.import_module("pickle")
_pickletools = importlib.import_module("pickletools")

ALICE = {"user": "alice"}


@pytest.fixture
def alice(target: Target) -> str:
    cookie = target.login("alice")
    assert target.read(cookie) == ALICE
    return cookie


def blob_of(target: Target, cookie: str) -> bytes:
    record = target.record(cookie)
    assert record is not None
    return record.blob


# -- tampered envelopes ------------------------------------------------------


@pytest.mark.slow
def test_every_flipped_bit_of_the_envelope_is_rejected(target: Target, alice: str) -> None:
    original = blob_of(target, alice)
    for bit in range(len(original) * 8):
        flipped = bytearray(original)
        flipped[bit // 8] ^= 1 << (bit % 8)
        target.put_blob(alice, bytes(flipped))
        assert target.read(alice) == {}, f"bit {bit} flipped was accepted"
        assert blob_of(target, alice) == bytes(flipped), "the bad record is left for the operator"
    target.put_blob(alice, original)
    assert target.read(alice) == ALICE


def test_every_truncation_of_the_envelope_is_rejected(target: Target, alice: str) -> None:
    """Every prefix, from the empty blob up to one byte short."""
    original = blob_of(target, alice)
    for length in range(len(original)):
        target.put_blob(alice, original[:length])
        assert target.read(alice) == {}, f"a blob cut to {length} bytes was accepted"
    target.put_blob(alice, original)
    assert target.read(alice) == ALICE


def test_an_extended_envelope_is_rejected(target: Target, alice: str) -> None:
    original = blob_of(target, alice)
    for tail in (b"\x00", b"x" * 16, original):
        target.put_blob(alice, original + tail)
        assert target.read(alice) == {}


def test_blob_copied_from_another_record_is_rejected(target: Target, alice: str) -> None:
    """Mallory, with write access to the store, copies the admin's sealed
    blob into her own record: she gets an empty session, not the admin's."""
    admin = target.login("admin", role="admin")
    mallory = target.login("mallory")
    target.put_blob(mallory, blob_of(target, admin))
    assert target.read(mallory) == {}
    assert target.read(admin) == {"user": "admin", "role": "admin"}


def test_blobs_swapped_between_two_records_are_both_rejected(target: Target, alice: str) -> None:
    bob = target.login("bob")
    alices, bobs = blob_of(target, alice), blob_of(target, bob)
    target.put_blob(alice, bobs)
    target.put_blob(bob, alices)
    assert target.read(alice) == {}
    assert target.read(bob) == {}


def test_blob_sealed_under_a_key_the_app_does_not_hold_is_rejected(target: Target, alice: str) -> None:
    """A correct envelope for the right record, made with another secret."""
    forged = sealing.seal(Keyring(OLD_SECRET), b'{"user":"admin"}', target.store_key(alice))
    target.put_blob(alice, forged)
    assert target.read(alice) == {}


@pytest.mark.parametrize("plaintext", [
    b'{"user":"admin"}',
    json.dumps({"user": "admin", "_permanent": True}).encode(),
    serialization.dumps({"user": "admin"}),
])
def test_plaintext_json_in_the_store_is_rejected(target: Target, alice: str, plaintext: bytes) -> None:
    target.put_blob(alice, plaintext)
    assert target.read(alice) == {}
    target.put_blob(alice, b"\x01" + plaintext)  # even behind the envelope's version byte
    assert target.read(alice) == {}


class _CreatesFile:
    """Unpickling this calls ``open(path, "x")``, creating the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return open, (str(self.path), "x")


def _pickle_payload(path: Path) -> bytes:
    payload: bytes = _pickle.dumps({"user": _CreatesFile(path)}, protocol=4)
    # Prove the payload is live without loading it: it imports io.open (which
    # is builtins.open) and calls it on the marker path.
    ops = [(op.name, arg) for op, arg, _ in _pickletools.genops(payload)]
    names = [arg for name, arg in ops if name == "SHORT_BINUNICODE"]
    assert ["io", "open", str(path), "x"] == names[1:5]
    assert ("STACK_GLOBAL", None) in ops and ("REDUCE", None) in ops
    return payload


def test_pickle_payload_in_the_store_is_rejected_and_never_runs(
    target: Target, alice: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    payload = _pickle_payload(marker)
    target.put_blob(alice, payload)
    assert target.read(alice) == {}
    assert target.send("/write", f"session={alice}").status_code == 200
    assert not marker.exists()


def test_validly_sealed_pickle_is_rejected_and_never_runs(
    target: Target, alice: str, tmp_path: Path
) -> None:
    """Even an attacker who can seal (who holds the key) cannot get a pickle
    run: what opens is only ever read as JSON."""
    marker = tmp_path / "pwned"
    sealed = sealing.seal(target.keyring, _pickle_payload(marker), target.store_key(alice))
    target.put_blob(alice, sealed)
    assert target.read(alice) == {}
    assert not marker.exists()


def test_unreadable_record_is_logged_by_fingerprint_only(
    target: Target, alice: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = target.store_key(alice)
    target.put_blob(alice, b"garbage")
    with caplog.at_level(logging.WARNING, logger="flask_strongbox"):
        assert target.read(alice) == {}
    lines = [r.getMessage() for r in caplog.records if r.name == "flask_strongbox"]
    assert any(line.startswith("unreadable session record ") for line in lines)
    for line in lines:
        assert key not in line and alice.split(".")[0] not in line


# -- arbitrary stored bytes ------------------------------------------------------

_HYPOTHESIS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_HYPOTHESIS
@given(data=st.data())
def test_arbitrary_stored_bytes_open_an_empty_session(
    target: Target, alice: str, data: st.DataObject
) -> None:
    """Random bytes, and random bytes behind this app's own version and key
    id (so they reach the cipher), never raise and never open."""
    header = bytes([sealing.VERSION]) + target.keyring.primary.kid
    junk = data.draw(st.binary(max_size=400))
    blob = data.draw(st.sampled_from([junk, header + junk]))
    target.put_blob(alice, blob)
    response = target.send("/read", f"session={alice}")
    assert response.status_code == 200
    assert response.get_json() == {}
    assert blob_of(target, alice) == blob


_TAGS = st.sampled_from([" t", " di", " b", " m", " u", " d", "user", "_permanent"])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(_TAGS | st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)


@_HYPOTHESIS
@given(plaintext=st.binary(max_size=200) | _JSON.map(lambda v: json.dumps(v).encode()))
def test_validly_sealed_arbitrary_plaintext_opens_empty_or_as_itself(
    target: Target, alice: str, plaintext: bytes
) -> None:
    """A record that authenticates but holds something this version never
    wrote (another version, a bug, a key holder's forgery) opens as what it
    decodes to or as an empty session; it never turns into a server error."""
    try:
        expected: Any = serialization.loads(plaintext)
    except ValueError:
        expected = {}
    cookie = target.login("alice")  # a read of a session that decodes empty deletes it
    target.put_blob(cookie, sealing.seal(target.keyring, plaintext, target.store_key(cookie)))
    response = target.send("/read", f"session={cookie}")
    assert response.status_code == 200
    if expected:  # what the view returns is its JSON rendering of the session
        assert set(response.get_json()) == set(expected)
    else:
        assert response.get_json() == {}


# -- size and shape limits ---------------------------------------------------------


def test_session_above_max_size_is_refused_and_previous_state_kept(target: Target, alice: str) -> None:
    before = target.record(alice)
    with pytest.raises(SessionTooLarge, match=rf"STRONGBOX_MAX_SIZE={DEFAULTS.max_size}"):
        target.send(f"/big/{DEFAULTS.max_size + 4464}", f"session={alice}")
    assert target.record(alice) == before
    assert target.read(alice) == ALICE


def test_configured_max_size_is_enforced(tmp_path: Path) -> None:
    for store in make_store("sqlite", tmp_path):
        small = make_target(store, STRONGBOX_MAX_SIZE=4096)
        cookie = small.login("alice")
        assert small.send("/big/3000", f"session={cookie}").status_code == 200
        with pytest.raises(SessionTooLarge) as refused:
            small.send("/big/5000", f"session={cookie}")
        assert refused.value.limit == 4096 and refused.value.size is not None and refused.value.size > 4096
        assert len(small.read(cookie)["big"]) == 3000


def test_new_session_above_max_size_creates_nothing(target: Target) -> None:
    """In production the visitor gets the error page and no cookie; the
    operator's log names the setting."""
    target.app.config.update(TESTING=False)
    records = target.count_records()
    response = target.send("/big/70000", None)
    assert response.status_code == 500
    assert set_cookie(response) is None
    assert target.count_records() == records


def test_deeply_nested_value_is_refused_naming_the_key(target: Target, alice: str) -> None:
    before = target.record(alice)
    with pytest.raises(SessionTooDeep, match=r"session\['deep'\] nests deeper than 64 levels"):
        target.send("/deep/65", f"session={alice}")
    assert target.record(alice) == before
    assert target.read(alice) == ALICE


def test_deep_value_added_by_nested_mutation_is_refused_at_save(target: Target, alice: str) -> None:
    target.send("/cart/new", f"session={alice}")
    before = target.record(alice)
    with pytest.raises(SessionTooDeep, match=r"session\['cart'\] nests deeper"):
        target.send("/cart/add-deep/80", f"session={alice}")
    assert target.record(alice) == before
    assert target.read(alice) == {**ALICE, "cart": []}


@pytest.mark.parametrize("wrap", [
    lambda inner: [inner], lambda inner: (inner,), lambda inner: {" t": inner},
    lambda inner: {"k": inner},
], ids=["list", "tuple", "tag-like-dict", "dict"])
def test_every_session_that_saves_loads_again(wrap: Any) -> None:
    """The deepest value a session accepts also loads, from a view whose
    stack is already deep; one level more is refused at save, never accepted
    and then unreadable (which would break every later request)."""
    data = {"deep": nested(serialization.MAX_DEPTH, wrap)}
    raw = serialization.dumps(data)

    def load_from_depth(frames: int) -> dict[str, Any]:
        return load_from_depth(frames - 1) if frames else serialization.loads(raw)

    assert load_from_depth(400) == data
    with pytest.raises(SessionTooDeep):
        serialization.dumps({"deep": nested(serialization.MAX_DEPTH + 1, wrap)})


def test_unstorable_value_raises_type_error_naming_the_key(target: Target, alice: str) -> None:
    before = target.record(alice)
    with pytest.raises(TypeError, match=r"session\['when'\] cannot be stored"):
        target.send("/unstorable", f"session={alice}")
    assert target.record(alice) == before
    assert target.read(alice) == ALICE


def test_unstorable_value_added_by_nested_mutation_is_refused_at_save(target: Target, alice: str) -> None:
    target.send("/cart/new", f"session={alice}")
    before = target.record(alice)
    with pytest.raises(TypeError, match=r"session\['cart'\] cannot be stored"):
        target.send("/cart/add-unstorable", f"session={alice}")
    assert target.record(alice) == before
    assert target.read(alice) == {**ALICE, "cart": []}
