"""A store URL whose extra is not installed fails at start-up with the one
ConfigurationError naming the extra, for every URL form.

The packages are made unimportable in the test (``None`` in ``sys.modules``,
and the modules already imported from them forgotten): a missing package is a
fault this environment, which has them all, cannot show otherwise.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import pytest
import valkey
from flask import Flask

from flask_strongbox import ConfigurationError, Strongbox
from flask_strongbox.stores.redis import RedisStore

from . import services
from .test_store_contract import NOW, make_record

REDIS_URLS = [
    "redis://:hunter2@127.0.0.1:6379/0", "rediss://cache.internal:6380/0", "unix:///run/redis.sock",
    "redis+sentinel://:hunter2@s1:26379,s2:26379/mymaster/0", "redis+cluster://n1:6379,n2:6379",
    "rediss+cluster://n1:6379",
]
POSTGRES_URLS = ["postgresql://app:hunter2@db.internal/web", "postgres://app@db/web"]


def without(monkeypatch: pytest.MonkeyPatch, *packages: str) -> None:
    """Make ``packages`` unimportable, and forget Strongbox modules that
    imported them, so the next import runs again and fails."""
    for name in list(sys.modules):
        if name.partition(".")[0] in packages:
            monkeypatch.setitem(sys.modules, name, None)
    for package in packages:
        monkeypatch.setitem(sys.modules, package, None)
    for name in list(sys.modules):
        if name.startswith("flask_strongbox.stores.postgres"):
            monkeypatch.delitem(sys.modules, name)


def app_with(tmp_path: Path, url: str) -> Flask:
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SECRET_KEY="q" * 8 + "Wm3Xn7Bv2Cz6Lk1Jh5Gf9Ds4Ap8", TESTING=True,
                      STRONGBOX_STORE=url, STRONGBOX_STORE_TIMEOUT=0.2)
    return app


@pytest.mark.parametrize("url", REDIS_URLS)
def test_a_redis_url_without_the_redis_extra_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str,
) -> None:
    without(monkeypatch, "redis")
    with pytest.raises(ConfigurationError) as caught:
        Strongbox(app_with(tmp_path, url))
    message = str(caught.value)
    assert "STRONGBOX_STORE" in message and "pip install 'flask-strongbox[redis]'" in message
    assert f"uses {url.partition('://')[0]}://" in message
    assert "hunter2" not in message


@pytest.mark.parametrize("url", POSTGRES_URLS)
def test_a_postgres_url_without_the_postgres_extra_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str,
) -> None:
    without(monkeypatch, "psycopg", "psycopg_pool")
    with pytest.raises(ConfigurationError, match=r"pip install 'flask-strongbox\[postgres\]'") as caught:
        Strongbox(app_with(tmp_path, url))
    assert "hunter2" not in str(caught.value)


def test_redis_store_from_url_without_redis_py_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Used directly, ``RedisStore.from_url`` raises an ImportError that says
    which extra to install; a client given to the constructor (valkey-py's,
    say) needs no redis-py at all."""
    url = services.redis_url()  # found with redis-py, before it goes
    without(monkeypatch, "redis")
    with pytest.raises(ModuleNotFoundError, match=r"flask-strongbox\[redis\]"):
        RedisStore.from_url(url)
    client = valkey.Valkey.from_url(url)
    store = RedisStore(client, prefix=f"strongbox-test:{secrets.token_hex(6)}:")
    record = make_record()
    try:
        assert store.create(record) and store.get(record.key, NOW) == record
    finally:
        store.delete(record.key)
        client.close()  # type: ignore[no-untyped-call]  # valkey-py leaves close() unannotated
