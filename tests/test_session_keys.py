"""Session keys beside Flask's: ``STRONGBOX_SECRET_KEY``, its fallbacks, and
``STRONGBOX_SECRET_KEY_FILE``.

When set, they sign and seal sessions instead of ``SECRET_KEY``, so rotating
one does not rotate the other; a key can come from a file (a mounted
secret). They are judged by the same weak-key rules as ``SECRET_KEY``, and a
file that cannot be read is one clear line at start-up.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, session

from flask_strongbox import ConfigurationError, Strongbox, ids
from flask_strongbox.keys import Keyring, KeySet
from flask_strongbox.stores.base import Store

from .hostile import OLD_SECRET, SECRET, set_cookie

SESSION_KEY = "Sx5Kp9Lm2Qv7Zb4Wn1Tc8Hd3Rj6Fg0Ya5Ue2Io9Pe"
OLD_SESSION_KEY = "Ow3Jn7Bq1Xk5Vm9Rt2Lz6Hc0Pd4Sf8Ga1Ue5Iy7Rc"
FLASK_ONLY = "Fl4Sk8Qw2Er6Ty0Ui3Op7As1Df5Gh9Jk2Lz6Xc0Vb"


def make_app(store: Store, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update({"TESTING": True, **config})
    Strongbox(app, store=store)

    @app.route("/login/<name>")
    def login(name: str) -> str:
        session["user"] = name
        return "ok"

    @app.route("/whoami")
    def whoami() -> str:
        return str(session.get("user"))

    return app


def log_in(app: Flask, name: str = "alice") -> str:
    cookie = set_cookie(app.test_client().get(f"/login/{name}"))
    assert cookie
    return cookie


def whoami(app: Flask, cookie: str) -> str:
    client = app.test_client()
    client.set_cookie("session", cookie)
    return client.get("/whoami").get_data(as_text=True)


def production_app(store: Store, **config: Any) -> Flask:
    app = make_app(store, **config)
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=True)
    return app


# -- used instead of SECRET_KEY ---------------------------------------------------


def test_strongbox_secret_key_signs_and_seals_instead_of_secret_key(store: Store) -> None:
    app = make_app(store, SECRET_KEY=FLASK_ONLY, STRONGBOX_SECRET_KEY=SESSION_KEY)
    cookie = log_in(app)
    assert ids.unsign(Keyring(SESSION_KEY), cookie) is not None
    assert ids.unsign(Keyring(FLASK_ONLY), cookie) is None
    sid, keyset = ids.unsign(Keyring(SESSION_KEY), cookie)  # type: ignore[misc]
    record = store.get(ids.store_key(keyset, sid), time.time())
    assert record is not None and record.blob[1:5] == KeySet.from_secret(SESSION_KEY).kid
    assert whoami(app, cookie) == "alice"


def test_rotating_flasks_secret_key_keeps_every_session(store: Store) -> None:
    """SECRET_KEY replaced outright (no fallback): Flask's own signed values
    change, the sessions do not."""
    app = make_app(store, SECRET_KEY=FLASK_ONLY, STRONGBOX_SECRET_KEY=SESSION_KEY)
    cookie = log_in(app)
    app.config["SECRET_KEY"] = SECRET
    assert whoami(app, cookie) == "alice"


def test_no_flask_secret_key_is_needed(store: Store) -> None:
    app = make_app(store, STRONGBOX_SECRET_KEY=SESSION_KEY)
    assert app.secret_key is None
    assert whoami(app, log_in(app)) == "alice"


def test_strongbox_fallbacks_open_what_the_old_session_key_made(store: Store) -> None:
    """A restart with a new STRONGBOX_SECRET_KEY and the old one as a
    fallback keeps the session; a restart without the fallback ends it."""
    before = make_app(store, STRONGBOX_SECRET_KEY=OLD_SESSION_KEY)
    cookie = log_in(before)
    rotated = make_app(store, STRONGBOX_SECRET_KEY=SESSION_KEY,
                       STRONGBOX_SECRET_KEY_FALLBACKS=[OLD_SESSION_KEY])
    assert whoami(rotated, cookie) == "alice"
    assert ids.unsign(Keyring(SESSION_KEY), log_in(rotated, "bob")) is not None  # new ones: new key
    assert whoami(make_app(store, STRONGBOX_SECRET_KEY=SESSION_KEY), cookie) == "None"


def test_flasks_fallbacks_do_not_count_beside_a_strongbox_key(store: Store) -> None:
    """With STRONGBOX_SECRET_KEY set, SECRET_KEY_FALLBACKS is Flask's alone."""
    before = make_app(store, SECRET_KEY=OLD_SECRET)
    cookie = log_in(before)
    after = make_app(store, SECRET_KEY=SECRET, SECRET_KEY_FALLBACKS=[OLD_SECRET],
                     STRONGBOX_SECRET_KEY=SESSION_KEY)
    assert whoami(after, cookie) == "None"
    moving = make_app(store, STRONGBOX_SECRET_KEY=SESSION_KEY, STRONGBOX_SECRET_KEY_FALLBACKS=[OLD_SECRET])
    assert whoami(moving, cookie) == "alice"  # moving to a key of its own: the old one as fallback


def test_keys_command_names_the_strongbox_settings(store: Store) -> None:
    before = make_app(store, STRONGBOX_SECRET_KEY=OLD_SESSION_KEY)
    log_in(before)
    app = make_app(store, STRONGBOX_SECRET_KEY=SESSION_KEY, STRONGBOX_SECRET_KEY_FALLBACKS=OLD_SESSION_KEY)
    result = app.test_cli_runner().invoke(args=["sessions", "keys", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["keys"]
    assert [r["setting"] for r in rows] == ["STRONGBOX_SECRET_KEY", "STRONGBOX_SECRET_KEY_FALLBACKS[0]"]
    assert rows[1]["sessions"] >= 1


# -- from a file -------------------------------------------------------------------


def test_the_key_can_come_from_a_file_stripped(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "session-key"
    path.write_text(f"  {SESSION_KEY}\n")
    app = make_app(store, SECRET_KEY=FLASK_ONLY, STRONGBOX_SECRET_KEY_FILE=str(path))
    cookie = log_in(app)
    assert ids.unsign(Keyring(SESSION_KEY), cookie) is not None
    assert whoami(app, cookie) == "alice"
    same = make_app(store, STRONGBOX_SECRET_KEY=SESSION_KEY)  # the file's key is the key
    assert whoami(same, cookie) == "alice"


@pytest.mark.parametrize("case", ["missing", "a directory", "not text", "empty", "only whitespace"])
def test_an_unusable_key_file_is_one_line_naming_the_setting(store: Store, tmp_path: Path, case: str) -> None:
    path = tmp_path / "session-key"
    if case == "a directory":
        path.mkdir()
    elif case == "not text":
        path.write_bytes(b"\xff\xfe\x00garbage")
    elif case == "empty":
        path.write_text("")
    elif case == "only whitespace":
        path.write_text(" \n\t\n")
    with pytest.raises(ConfigurationError) as refused:
        make_app(store, STRONGBOX_SECRET_KEY_FILE=str(path))
    message = str(refused.value)
    assert message.startswith("STRONGBOX_SECRET_KEY_FILE ")
    assert str(path) in message and "\n" not in message


def test_a_key_and_a_key_file_together_are_refused(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "session-key"
    path.write_text(SESSION_KEY)
    with pytest.raises(ConfigurationError, match="STRONGBOX_SECRET_KEY and STRONGBOX_SECRET_KEY_FILE"):
        make_app(store, STRONGBOX_SECRET_KEY=SESSION_KEY, STRONGBOX_SECRET_KEY_FILE=str(path))


def test_fallbacks_without_a_key_are_refused(store: Store) -> None:
    with pytest.raises(ConfigurationError, match=r"^STRONGBOX_SECRET_KEY_FALLBACKS is set without"):
        make_app(store, SECRET_KEY=SECRET, STRONGBOX_SECRET_KEY_FALLBACKS=[OLD_SESSION_KEY])


@pytest.mark.parametrize(("setting", "value"), [
    ("STRONGBOX_SECRET_KEY", 12345), ("STRONGBOX_SECRET_KEY", ""),
    ("STRONGBOX_SECRET_KEY_FALLBACKS", {"a": 1}), ("STRONGBOX_SECRET_KEY_FILE", 7),
])
def test_keys_of_the_wrong_kind_are_refused_naming_it(store: Store, setting: str, value: Any) -> None:
    config = {"STRONGBOX_SECRET_KEY": SESSION_KEY} if setting.endswith("FALLBACKS") else {}
    with pytest.raises(ConfigurationError, match=f"^{setting} "):
        make_app(store, **{**config, setting: value})


# -- the weak-key rules ------------------------------------------------------------


def test_a_weak_strongbox_key_is_refused_in_production_naming_it(store: Store) -> None:
    app = production_app(store, SECRET_KEY=SECRET, STRONGBOX_SECRET_KEY="changeme")
    with pytest.raises(ConfigurationError, match=r"^STRONGBOX_SECRET_KEY is a well-known") as refused:
        app.test_client().get("/login/alice")
    assert "flask sessions generate-key" in str(refused.value)


def test_a_weak_strongbox_fallback_is_refused_in_production_naming_it(store: Store) -> None:
    app = production_app(store, STRONGBOX_SECRET_KEY=SESSION_KEY,
                         STRONGBOX_SECRET_KEY_FALLBACKS=[OLD_SESSION_KEY, "f3Kq9zLm2Wx7"])
    with pytest.raises(ConfigurationError, match=r"^STRONGBOX_SECRET_KEY_FALLBACKS\[1\] is 12 bytes"):
        app.test_client().get("/login/alice")


def test_a_weak_key_in_a_file_is_refused_naming_the_file_setting(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "session-key"
    path.write_text("a" * 40 + "\n")
    app = production_app(store, STRONGBOX_SECRET_KEY_FILE=str(path))
    with pytest.raises(ConfigurationError, match=r"^STRONGBOX_SECRET_KEY_FILE repeats too few"):
        Strongbox().check_config(app)


def test_a_weak_strongbox_key_is_allowed_in_testing(store: Store) -> None:
    app = make_app(store, STRONGBOX_SECRET_KEY="dev")
    assert whoami(app, log_in(app)) == "alice"


def test_a_generated_key_is_accepted_in_production(store: Store) -> None:
    generated = make_app(store).test_cli_runner().invoke(args=["sessions", "generate-key"]).output.strip()
    app = production_app(store, STRONGBOX_SECRET_KEY=generated)
    Strongbox().check_config(app)
    assert whoami(app, log_in(app)) == "alice"


def test_session_keys_never_appear_in_the_settings_repr(store: Store, tmp_path: Path) -> None:
    app = make_app(store, STRONGBOX_SECRET_KEY=SESSION_KEY, STRONGBOX_SECRET_KEY_FALLBACKS=[OLD_SESSION_KEY])
    shown = repr(app.extensions["strongbox"].settings)
    assert SESSION_KEY not in shown and OLD_SESSION_KEY not in shown
    assert "secret_key='<hidden>'" in shown
