"""What the Quart adapter adds beyond the tutorial: the per-user API awaited,
weak keys refused outside debug and testing, the instance-folder default,
and a 503 (never an empty session) when the store cannot answer."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from quart import Quart, session

from flask_strongbox.quart import Strongbox

from ..services import free_port

KEY = "x7Jq2mV9sL4pR8tY1wE6uI3oP5aS0dFgHjKlZ"
COOKIE = re.compile(r"session=([^;]+);")


def make_app(instance: Path, **config: Any) -> tuple[Quart, Strongbox]:
    app = Quart(__name__, instance_path=str(instance))
    app.config.update(SECRET_KEY=KEY, **config)
    box = Strongbox(app)

    @app.get("/login/<name>")
    async def login(name: str) -> str:
        session["user"] = name
        return "ok"

    @app.get("/whoami")
    async def whoami() -> str:
        return str(session.get("user"))

    @app.get("/mine")
    async def mine() -> str:
        found = await box.sessions_of(session["user"])
        return ",".join(str(info.current) for info in found)

    @app.get("/elsewhere")
    async def elsewhere() -> str:
        return str(await box.revoke_user(session["user"], keep_current=True))

    @app.get("/plain")
    async def plain() -> str:
        return "no session used"

    return app, box


def run(app: Quart, *paths: tuple[str, str | None]) -> list[tuple[int, str, str | None]]:
    """GET each ``(path, cookie)`` in turn; status, body and the cookie set."""

    async def go() -> list[tuple[int, str, str | None]]:
        async with app.test_app() as serving:
            client = serving.test_client()
            client.cookie_jar = None
            answers = []
            for path, cookie in paths:
                headers = {"Cookie": f"session={cookie}"} if cookie else {}
                response = await client.get(path, headers=headers)
                found = COOKIE.search(response.headers.get("Set-Cookie", ""))
                answers.append((response.status_code, await response.get_data(as_text=True),
                                found[1] if found else None))
            return answers

    return asyncio.run(go())


def test_the_default_store_is_a_sqlite_file_in_the_instance_folder(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path / "instance")
    (_, _, cookie), = run(app, ("/login/alice", None))
    assert run(app, ("/whoami", cookie))[0][1] == "alice"
    assert (tmp_path / "instance" / "strongbox-sessions.sqlite3").exists()


def test_a_user_lists_their_sessions_and_signs_out_everywhere_else(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path, STRONGBOX_STORE="memory://")
    (_, _, laptop), (_, _, phone) = run(app, ("/login/alice", None), ("/login/alice", None))
    assert sorted(run(app, ("/mine", laptop))[0][1].split(",")) == ["False", "True"]
    assert run(app, ("/elsewhere", laptop))[0][1] == "1"
    assert [body for _, body, _ in run(app, ("/whoami", phone), ("/whoami", laptop))] == ["None", "alice"]


def test_a_weak_key_is_refused_outside_debug_and_testing(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path, STRONGBOX_STORE="memory://")
    app.config["SECRET_KEY"] = "hello"
    (plain, login), = [run(app, ("/plain", None), ("/login/alice", None))]
    assert plain[0] == 200, "pages that never touch the session are served"
    assert login[0] == 500
    app.config["TESTING"] = True
    assert run(app, ("/login/alice", None))[0][0] == 200


def test_a_store_that_cannot_answer_is_a_503_never_an_empty_session(tmp_path: Path) -> None:
    up, _ = make_app(tmp_path, STRONGBOX_STORE="memory://")
    (_, _, cookie), = run(up, ("/login/alice", None))
    down, _ = make_app(tmp_path, STRONGBOX_STORE=f"redis://127.0.0.1:{free_port()}/0",
                       STRONGBOX_STORE_TIMEOUT=0.5)
    (read, write) = run(down, ("/whoami", cookie), ("/login/bob", None))
    assert read[0] == 503 and read[2] is None
    assert write[0] == 503 and write[2] is None


def test_the_redis_read_cache_is_refused_by_name_on_an_async_adapter(tmp_path: Path) -> None:
    """The read cache belongs to the Flask extension's Redis store: asked of
    an async adapter, it fails at start-up rather than being ignored."""
    import pytest

    from flask_strongbox import ConfigurationError

    with pytest.raises(ConfigurationError, match="STRONGBOX_REDIS_CACHE"):
        make_app(tmp_path, STRONGBOX_STORE="redis://127.0.0.1:6379/0", STRONGBOX_REDIS_CACHE=100)
