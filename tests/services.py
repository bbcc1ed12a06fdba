"""Real servers for the tests: the machine's own, or throwaway ones.

Redis and PostgreSQL are reached on 127.0.0.1 (6379 and 5432). Where one is
missing, a throwaway server is started from the binary on PATH; where neither
works the test is skipped with the reason, except under ``CI=true``, where a
missing service is a failure.
"""

from __future__ import annotations

import atexit
import http.client
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from flask_strongbox.stores.base import Store
from flask_strongbox.stores.memory import MemoryStore
from flask_strongbox.stores.redis import RedisStore
from flask_strongbox.stores.sqlite import SQLiteStore

from .cookies import set_cookie


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(reason)


class RedisServer:
    """A throwaway ``redis-server`` on a free loopback port, with no persistence
    unless ``args`` ask for it (later arguments win). :meth:`kill` and
    :meth:`start` again keep the port, to test outages and recovery.
    """

    def __init__(self, *args: str, port: int | None = None) -> None:
        self.args = args
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or ""
        if not binary:
            unavailable("redis-server is not on PATH")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--logfile", "", *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _pings("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                unavailable(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def redis_cluster(directory: Path, size: int = 3) -> Iterator[list[RedisServer]]:
    """A throwaway Redis Cluster of ``size`` primaries, no replicas, in ``directory``."""
    cli = shutil.which("redis-cli") or ""
    if not cli:
        unavailable("redis-cli is not on PATH")
    nodes = [
        RedisServer("--cluster-enabled", "yes", "--cluster-node-timeout", "1000",
                    "--cluster-config-file", f"nodes-{port}.conf", "--dir", str(directory),
                    port=port)
        for port in free_ports(size, bus_offset=10000)
    ]
    try:
        for node in nodes:
            node.start()
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in nodes),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30,
        )
        _wait_for_cluster(nodes)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def _wait_for_cluster(nodes: list[RedisServer]) -> None:
    deadline = time.monotonic() + 15
    for node in nodes:
        client = node.client()
        while client.cluster("INFO").get("cluster_state") != "ok":
            if time.monotonic() > deadline:
                raise RuntimeError(f"the test cluster on port {node.port} never became ok")
            time.sleep(0.05)
        client.close()


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int, bus_offset: int = 0) -> list[int]:
    """Ports free on 127.0.0.1 now (and, with ``bus_offset``, ``port + bus_offset`` too)."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in ports and (not bus_offset or _bindable(port + bus_offset)):
            ports.append(port)
    return ports


def _bindable(port: int) -> bool:
    if port > 65535:
        return False
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pings(host: str, port: int) -> bool:
    client = redis.Redis(host=host, port=port, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


_redis_url: str | None = None


def redis_url() -> str:
    """The machine's Redis on 127.0.0.1:6379, or else one throwaway server for
    the whole run, stopped at exit."""
    global _redis_url
    if _redis_url is None:
        if _pings("127.0.0.1", 6379):
            _redis_url = "redis://127.0.0.1:6379/0"
        else:
            server = RedisServer().start()
            atexit.register(server.stop)
            _redis_url = server.url
    return _redis_url


def redis_store(client: Any = None, cache: int = 0) -> Iterator[Store]:
    """A :class:`RedisStore` with a prefix of its own (on ``client``, a redis-py
    or valkey-py client, or else one made from :func:`redis_url`); its keys are
    deleted after. With ``cache``, it keeps that many records in memory,
    invalidated by the server (``STRONGBOX_REDIS_CACHE``)."""
    prefix = f"strongbox-test:{secrets.token_hex(6)}:"
    store = (RedisStore(client, prefix=prefix, cache=cache) if client
             else RedisStore.from_url(redis_url(), prefix=prefix, cache=cache))
    yield store
    client = redis.Redis.from_url(redis_url())
    for key in client.scan_iter(match=f"{store.prefix}*", count=500):
        client.delete(key)
    client.close()
    store.close()


def postgres_store() -> Iterator[Store]:
    from flask_strongbox.stores.postgres import PostgresStore

    for schema in postgres_schema():  # yields once, drops the schema after
        store = PostgresStore(postgres_url(), schema=schema)
        try:
            yield store
        finally:
            store.close()


def postgres_url() -> str:
    """The PostgreSQL server for tests: ``STRONGBOX_TEST_POSTGRES_URL``, or
    database ``test`` on 127.0.0.1:5432 as user ``postgres``."""
    default = "postgresql://postgres@127.0.0.1:5432/test"
    return os.environ.get("STRONGBOX_TEST_POSTGRES_URL", default)


def postgres_schema() -> Iterator[str]:
    """Create a schema of the test's own, yield its name, then drop it and all
    in it, so runs never see each other's tables."""
    import secrets

    try:
        import psycopg
        from psycopg import sql
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        unavailable("psycopg is not installed: pip install -e '.[postgres]'")
    name = sql.Identifier(schema := f"strongbox_test_{secrets.token_hex(6)}")
    try:
        with psycopg.connect(postgres_url(), autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(name))
    except psycopg.OperationalError:
        params = conninfo_to_dict(postgres_url())
        where = " ".join(f"{k}={params[k]}" for k in ("host", "port", "dbname") if k in params)
        unavailable(f"PostgreSQL is not reachable at {where} (set STRONGBOX_TEST_POSTGRES_URL)")
    try:
        yield schema
    finally:
        with psycopg.connect(postgres_url(), autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(name))


class PostgresServer:
    """A throwaway PostgreSQL (``initdb`` in a temp folder, a free loopback
    port, trust auth), to stop and resume: :meth:`pause` stops every process of
    the server (SIGSTOP), as a frozen VM or a debugger would, while its kernel
    still accepts and acknowledges packets; :meth:`resume` lets it go on. Run
    as the ``postgres`` user when the tests run as root, since PostgreSQL
    refuses to run as root."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="strongbox-pg-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not binaries:
            unavailable("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
        bin_dir = binaries[-1].parent
        as_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
            as_user = {"user": "postgres", "group": "postgres"}
        data = self.folder / "data"
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
             "--no-sync", "--no-instructions", "-E", "UTF8"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
            cwd=self.folder, **as_user,
        )
        self.process = subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(data), "-p", str(self.port), "-k", str(self.folder),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.folder, **as_user,
        )
        deadline = time.monotonic() + 30
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                unavailable(f"the throwaway PostgreSQL did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        import psycopg

        try:
            psycopg.connect(self.url, connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, number: int) -> None:
        """Signal the postmaster, then each of its children (every backend
        calls setsid(), so a process-group signal would miss them)."""
        assert self.process is not None
        postmaster = self.process.pid
        os.kill(postmaster, number)
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with suppress(OSError, IndexError, ValueError):
                # "pid (comm) state ppid ...": the name may hold spaces, so split after ")".
                if int(stat.read_text().rpartition(")")[2].split()[1]) == postmaster:
                    os.kill(int(stat.parent.name), number)

    def stop(self) -> None:
        if self.process is not None:
            with suppress(ProcessLookupError):
                self.resume()
            self.process.terminate()  # SIGTERM: smart shutdown
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Reply:
    """One HTTP response, as the session tests need it."""

    status: int
    body: str
    cookie: str | None  # the session cookie set: its value; "" cleared; None left alone
    retry_after: str | None


def http_get(port: int, path: str, cookie: str | None = None, timeout: float = 15) -> Reply:
    """GET ``path`` from a server on 127.0.0.1, sending ``session=<cookie>``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Cookie": f"session={cookie}"} if cookie else {})
        response = conn.getresponse()
        body = response.read().decode()
        found = set_cookie(response.headers.get_all("Set-Cookie") or ())
        return Reply(response.status, body, found, response.headers.get("Retry-After"))
    finally:
        conn.close()


ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def gunicorn(app: str, folder: Path, env: dict[str, str], *, workers: int = 1,
             ready: str = "/health", threads: int = 1) -> Iterator[int]:
    """Serve ``app`` (``module:factory()``) with gunicorn workers on a free
    loopback port until the block ends (sync workers, or gthread with
    ``threads``); yields the port once ``ready`` answers 200. Missing
    gunicorn skips, or fails under ``CI=true``."""
    if importlib.util.find_spec("gunicorn") is None:
        unavailable("gunicorn is not installed: pip install -e '.[dev]'")
    port = free_port()
    argv = ["-m", "gunicorn", "--workers", str(workers), "--threads", str(threads),
            "--worker-class", "gthread" if threads > 1 else "sync",
            "--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT), "--timeout", "30",
            "--graceful-timeout", "5", app]
    with serve("gunicorn", argv, port, folder, env, ready):
        yield port


@contextmanager
def serve(name: str, argv: list[str], port: int, folder: Path, env: dict[str, str],
          ready: str) -> Iterator[None]:
    """Run ``python <argv>`` (a server ``name`` listening on ``port``) with
    the repository on its path until the block ends; the block starts once
    ``ready`` answers 200. Its output goes to a log in ``folder``."""
    environ = {
        **os.environ, **env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    log_path = folder / f"{name}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, *argv], env=environ, stdout=log,
                                   stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            deadline = time.monotonic() + 20
            while not _answers(port, ready):
                if process.poll() is not None:
                    raise AssertionError(f"{name} exited:\n{log_path.read_text()}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"{name} never answered:\n{log_path.read_text()}")
                time.sleep(0.05)
            yield
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _answers(port: int, path: str) -> bool:
    try:
        return http_get(port, path, timeout=2).status == 200
    except OSError:
        return False


#: "redis-cached": Redis with its client-side cache on, so every suite that
#: runs per store checks that the cache changes nothing a user can see.
STORES = ["memory", "sqlite", "redis", "redis-cached", "postgres"]


def make_store(name: str, tmp_path: Path) -> Iterator[Store]:
    if name == "memory":
        yield MemoryStore()
    elif name == "sqlite":
        store = SQLiteStore(tmp_path / "sessions.sqlite3")
        yield store
        store.close()
    elif name == "redis":
        yield from redis_store()
    elif name == "redis-cached":
        yield from redis_store(cache=1000)
    else:
        yield from postgres_store()
