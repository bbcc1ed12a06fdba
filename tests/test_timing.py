"""Timing: a cookie naming a session that never existed and one naming a
session that was deleted are turned away in the same time, so the response
time does not tell whether an id was ever in use.

Measured where the difference would be, in the session interface's open and
load (Flask's ``open_session`` contract plus the first read), not behind a
whole request's noise. The samples are interleaved in random order, so load
on the machine hits both sides alike, and compared by their medians with a
generous tolerance; a round that happens to be disturbed is measured again.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Request
from werkzeug.test import EnvironBuilder

from flask_strongbox import ids
from flask_strongbox.keys import Keyring

from .hostile import SECRET, Target, make_target
from .services import STORES, make_store

PAIRS = 3_000
WARM_UP = 300
TOLERANCE = 0.20  # 20% of the median: a few microseconds on the embedded stores
ROUNDS = 3


@pytest.fixture(params=STORES)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    for store in make_store(request.param, tmp_path):
        yield make_target(store)


def _request(target: Target, cookie: str) -> Request:
    environ = EnvironBuilder(environ_overrides={"HTTP_COOKIE": f"session={cookie}"}).get_environ()
    return target.app.request_class(environ)


def _median_ratio(target: Target, unknown: list[Request], deleted: list[Request]) -> float:
    app, interface = target.app, target.app.session_interface
    samples: dict[str, list[int]] = {"unknown": [], "deleted": []}

    def reject(kind: str, request: Request) -> None:
        start = time.perf_counter_ns()
        session = interface.open_session(app, request)
        found = session is not None and "user" in session
        samples[kind].append(time.perf_counter_ns() - start)
        assert not found

    gc.disable()
    try:
        for i in range(PAIRS + WARM_UP):
            pair = [("unknown", unknown[i % len(unknown)]), ("deleted", deleted[i % len(deleted)])]
            random.shuffle(pair)
            for kind, request in pair:
                reject(kind, request)
    finally:
        gc.enable()
    return statistics.median(samples["unknown"][WARM_UP:]) / statistics.median(samples["deleted"][WARM_UP:])


@pytest.mark.slow
def test_unknown_and_deleted_ids_are_rejected_in_indistinguishable_time(target: Target) -> None:
    # Both kinds carry a valid signature, so both reach the store: the
    # question is whether the store's answer differs in time.
    deleted = []
    for i in range(100):
        cookie = target.login(f"user-{i}")
        target.send("/logout", f"session={cookie}")
        assert target.record(cookie) is None
        deleted.append(_request(target, cookie))
    keyring = Keyring(SECRET)
    unknown = [_request(target, ids.sign(keyring, ids.new_id())) for _ in range(100)]

    ratios = []
    for _ in range(ROUNDS):
        ratios.append(_median_ratio(target, unknown, deleted))
        if abs(ratios[-1] - 1) <= TOLERANCE:
            return
    pytest.fail(f"unknown/deleted median time ratios {ratios} are all beyond 1 +/- {TOLERANCE}")
