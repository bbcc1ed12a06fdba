"""What the real-process run starts and breaks: gunicorn, its own
``redis-server``, its own PostgreSQL table, the clock file; every fault it
injects, by name."""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("STRONGBOX_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
Fault = Callable[[random.Random], str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class RedisServer:
    """A throwaway ``redis-server`` of the run's own, persisting every write
    (append-only, fsync always), so that a kill and restart loses nothing
    acknowledged."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.stopped = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH")
        self.process = subprocess.Popen(  # noqa: S603 - a fixed command line
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--logfile", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _answers(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)

    def kill_and_restart(self, rng: random.Random) -> str:
        assert self.process is not None
        self.resume()
        self.process.kill()
        self.process.wait()
        time.sleep(rng.uniform(0.1, 1.0))
        self.start()
        return "redis-server killed (-9) and restarted"

    def stall(self, rng: random.Random) -> str:
        assert self.process is not None
        seconds = rng.uniform(0.8, 2.0)  # past STRONGBOX_STORE_TIMEOUT (0.5 s)
        self.process.send_signal(signal.SIGSTOP)
        self.stopped = True
        time.sleep(seconds)
        self.resume()
        return "redis-server stalled (SIGSTOP) past the timeout"

    def resume(self) -> None:
        if self.process is not None and self.stopped:
            self.process.send_signal(signal.SIGCONT)
            self.stopped = False

    def stop(self) -> None:
        if self.process is not None:
            self.resume()
            self.process.kill()
            self.process.wait()
            self.process = None


class PostgresTable:
    """The run's own table on the shared PostgreSQL server; its connections
    are the ones whose last query named it."""

    def __init__(self) -> None:
        self.table = f"strongbox_live_{secrets.token_hex(4)}"

    def _run(self, statement: str, *args: str) -> None:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(statement.encode(), args)

    def terminate(self, rng: random.Random) -> str:
        self._run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                  " AND query LIKE %s", f"%{self.table}%")
        return "PostgreSQL connections terminated"

    def drop(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            names = [row[0] for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE %s", (f"{self.table}%",))]
            for name in names:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))


class Clock:
    """The app's clock offset, in a file every worker reads."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "clock-offset"
        self.offset = 0.0
        self.path.write_text("0")

    def move(self, seconds: float) -> None:
        # Written aside and renamed: a worker reading a half-written file
        # would see the clock jump back.
        self.offset += seconds
        aside = self.path.with_suffix(".new")
        aside.write_text(repr(self.offset))
        os.replace(aside, self.path)


@contextmanager
def gunicorn(folder: Path, env: dict[str, str]) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """gunicorn serving :mod:`reliability.live_app`: 2 workers x 4 threads."""
    port = free_port()
    environ = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    with (folder / "gunicorn.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - a fixed command line
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "4", "--worker-class",
             "gthread", "--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT), "--timeout", "20",
             "--graceful-timeout", "2", "reliability.live_app:create_app()"],
            env=environ, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while not _answers(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start: see {folder / 'gunicorn.log'}")
                time.sleep(0.05)
            yield port, process
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def kill_a_worker(master: subprocess.Popen[bytes], rng: random.Random) -> str:
    command = ["ps", "-o", "pid=", "--ppid", str(master.pid)]
    listed = subprocess.run(command, capture_output=True, text=True, check=False).stdout.split()  # noqa: S603
    if not listed:
        return "no worker to kill"
    os.kill(int(rng.choice(listed)), signal.SIGKILL)
    return "a gunicorn worker killed (-9) mid-request"
