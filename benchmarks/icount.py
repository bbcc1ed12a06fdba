"""Instructions per request, counted by callgrind: a measure that a busy
machine does not move.

One child process (``python icount.py CONFIG``) runs under
``valgrind --tool=callgrind --collect-atstart=no
--toggle-collect=_PyEval_CallTracing --dump-after=_PyEval_CallTracing``. It
builds every contender, logs in, warms up, then runs each measured loop of N
requests through ``sys.call_tracing``, which nothing else calls: callgrind
counts only inside those loops and writes one profile per loop. Two children
run side by side (instruction counts do not depend on the load), and their
difference is the counts' spread.

The same child also counts where a session's instructions go (the
*breakdown*): for a few more loops, functions of interest (cookie parsing,
HMAC check, store read, unseal, ...) are wrapped so that each is entered
through a C function of its own (``operator.call``, ``itertools.starmap``,
...), and callgrind's inclusive count of that C function is the phase's cost.
Each wrapper counts its calls; a phase whose C entry point callgrind saw
called a different number of times (something else used it) is flagged, not
reported. The wrappers' own cost is measured on a no-op and subtracted.
"""

from __future__ import annotations

import collections
import functools
import gc
import importlib
import itertools
import json
import operator
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import apps

HERE = Path(__file__).resolve().parent
ROUTES = ("/read", "/write")
MARKER = "_PyEval_CallTracing"

# -- the C entry points a phase is counted through ----------------------------------


def _second(_: Any, thunk: Callable[[], Any]) -> Any:
    return thunk()


def _via_filterfalse(thunk: Callable[[], Any]) -> Any:
    box: list[Any] = []
    next(itertools.filterfalse(lambda f: box.append(f()), (thunk,)))
    return box[0]


def _via_takewhile(thunk: Callable[[], Any]) -> Any:
    box: list[Any] = []
    next(itertools.takewhile(lambda f: not box.append(f()), (thunk,)))
    return box[0]


def _via_dropwhile(thunk: Callable[[], Any]) -> Any:
    box: list[Any] = []
    next(itertools.dropwhile(lambda f: box.append(f()), (thunk,)))
    return box[0]


_CALL_F = compile("f()", "<phase>", "eval")
_EXEC_F = compile("r = f()", "<phase>", "exec")
_METHOD_CALL = operator.methodcaller("__call__")
_NEVER = object()  # the sentinel that stops iter(callable, sentinel): never returned


def _via_exec(thunk: Callable[[], Any]) -> Any:
    scope = {"f": thunk}
    exec(_EXEC_F, scope)
    return scope["r"]


#: C function callgrind sees -> how a thunk is called through it.
TRAMPOLINES: dict[str, Callable[[Callable[[], Any]], Any]] = {
    "_operator_call": lambda thunk: operator.call(thunk),
    "starmap_next": lambda thunk: next(itertools.starmap(thunk, ((),))),
    "methodcaller_call": lambda thunk: _METHOD_CALL(thunk),
    "calliter_iternext": lambda thunk: next(iter(thunk, _NEVER)),
    "functools_reduce": lambda thunk: functools.reduce(_second, (None, thunk)),
    "accumulate_next": lambda thunk: list(itertools.accumulate((None, thunk), _second))[-1],
    "groupby_next": lambda thunk: next(itertools.groupby((thunk,), key=lambda f: f()))[0],
    "filterfalse_next": _via_filterfalse,
    "takewhile_next": _via_takewhile,
    "dropwhile_next": _via_dropwhile,
    "builtin_eval": lambda thunk: eval(_CALL_F, {"f": thunk}),
    "builtin_exec": _via_exec,
}
if not hasattr(operator, "call"):  # Python 3.10
    del TRAMPOLINES["_operator_call"]

# -- what a session's cost is made of -------------------------------------------------

#: ("attr", module, "Class.attr" or "function"): that attribute; ("attr*", ...):
#: also every module of the same package that imported the function by name;
#: ("store", "", method): the app's Strongbox store's method.
Target = tuple[str, str, str]
#: Where ``Request.cookies`` finds it: the server's parse, not the test client's.
_PARSE_COOKIE: Target = ("attr", "werkzeug.sansio.request", "parse_cookie")
_SET_COOKIE: Target = ("attr", "werkzeug.sansio.response", "Response.set_cookie")
_SB = "flask_strongbox"
_SBI = "StrongboxSessionInterface"
STRONGBOX_PHASES: list[tuple[str, list[Target]]] = [
    ("open_session (all)", [("attr", f"{_SB}.interface", f"{_SBI}.open_session")]),
    ("cookie parse", [_PARSE_COOKIE]),
    ("signature check", [("attr*", f"{_SB}.ids", "unsign")]),
    ("load (all)", [("attr", f"{_SB}.interface", f"{_SBI}._load")]),
    ("store-key hash", [("attr*", f"{_SB}.ids", "store_key")]),
    ("store read", [("store", "", "get")]),
    ("unseal", [("attr*", f"{_SB}.sealing", "open_record")]),
    ("decode", [("attr*", f"{_SB}.serialization", "loads")]),
    ("save_session (all)", [("attr", f"{_SB}.interface", f"{_SBI}.save_session")]),
    ("encode", [("attr*", f"{_SB}.serialization", "dumps")]),
    ("seal / sign", [("attr*", f"{_SB}.sealing", "seal_record")]),
    ("store write", [("store", "", "touch"), ("store", "", "replace"), ("store", "", "create")]),
    ("cookie id signing", [("attr*", f"{_SB}.ids", "sign")]),
    ("Set-Cookie header", [_SET_COOKIE]),
    ("Vary", [("attr*", f"{_SB}.cookies", "vary_on_cookie")]),
]
_FSI = "SecureCookieSessionInterface"
COOKIE_PHASES: list[tuple[str, list[Target]]] = [
    ("open_session (all)", [("attr", "flask.sessions", f"{_FSI}.open_session")]),
    ("cookie parse", [_PARSE_COOKIE]),
    ("serializer set-up", [("attr", "flask.sessions", f"{_FSI}.get_signing_serializer")]),
    ("signature check", [("attr", "itsdangerous.timed", "TimestampSigner.unsign")]),
    ("decode", [("attr", "itsdangerous.url_safe", "URLSafeSerializerMixin.load_payload")]),
    ("save_session (all)", [("attr", "flask.sessions", f"{_FSI}.save_session")]),
    ("encode", [("attr", "itsdangerous.url_safe", "URLSafeSerializerMixin.dump_payload")]),
    ("seal / sign", [("attr", "itsdangerous.timed", "TimestampSigner.sign")]),
    ("Set-Cookie header", [_SET_COOKIE]),
]
CONTAINERS = ("open_session (all)", "load (all)", "save_session (all)")
ROWS = ["open_session (all)", "cookie parse", "serializer set-up", "signature check", "load (all)",
        "store-key hash", "store read", "unseal", "decode", "save_session (all)", "encode",
        "seal / sign", "store write", "cookie id signing", "Set-Cookie header", "Vary"]


def phases_of(variant: str) -> list[tuple[str, list[Target]]]:
    name, _ = apps.split(variant)
    return COOKIE_PHASES if name == "cookie" else STRONGBOX_PHASES


def breakdown_variants() -> list[str]:
    return [v for v in apps.variants() if apps.split(v)[0] == "cookie" or v.startswith("sb-")]


class Patch:
    """Phases wrapped for one loop; ``undo`` puts every original back."""

    def __init__(self, app: Any, phases: list[tuple[str, list[Target]]], entry: list[str]) -> None:
        self.calls: dict[str, list[int]] = {}
        self.entry: dict[str, str] = {}
        self.missing: list[str] = []
        self._undo: list[Callable[[], None]] = []
        for (phase, targets), trampoline in zip(phases, entry, strict=False):
            counter = [0]
            places = [p for t in targets for p in _places(app, t)]
            if not places:
                self.missing.append(phase)
                continue
            for owner, attr, original in places:
                self._wrap(owner, attr, original, counter, TRAMPOLINES[trampoline])
            self.calls[phase], self.entry[phase] = counter, trampoline

    def _wrap(self, owner: Any, attr: str, original: Any, counter: list[int],
              via: Callable[[Callable[[], Any]], Any]) -> None:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counter[0] += 1
            return via(lambda: original(*args, **kwargs))

        own = attr in vars(owner)
        saved = vars(owner).get(attr)
        setattr(owner, attr, wrapper)

        def undo() -> None:
            if own:
                setattr(owner, attr, saved)
            else:
                delattr(owner, attr)
        self._undo.append(undo)

    def reset(self) -> None:
        for counter in self.calls.values():
            counter[0] = 0

    def undo(self) -> None:
        for step in reversed(self._undo):
            step()


def _places(app: Any, target: Target) -> list[tuple[Any, str, Any]]:
    """Every (owner, attribute, original) that ``target`` names: a store
    method, a class attribute, or a module function together with every module
    of the same package that imported it by name."""
    kind, module_name, path = target
    if kind == "store":
        store = getattr(app.session_interface, "store", None)
        method = getattr(store, path, None)
        return [] if method is None else [(store, path, method)]
    try:
        owner: Any = importlib.import_module(module_name)
        for part in path.split(".")[:-1]:
            owner = getattr(owner, part)
    except (ImportError, AttributeError):
        return []
    attr = path.split(".")[-1]
    original = vars(owner).get(attr) if isinstance(owner, type) else getattr(owner, attr, None)
    if original is None and isinstance(owner, type):
        original = getattr(owner, attr, None)
    if original is None:
        return []
    if isinstance(owner, type) or kind == "attr":
        return [(owner, attr, original)]
    package = module_name.split(".")[0]
    return [(module, attr, original) for name, module in list(sys.modules.items())
            if (name == package or name.startswith(package + ".")) and module is not None
            and vars(module).get(attr) is original]


# -- the child: runs under callgrind ------------------------------------------------


def _loop(get: Callable[[str], Any], route: str, n: int) -> int:
    bad = 0
    for _ in range(n):
        if get(route).status_code != 200:
            bad += 1
    return bad


def _measured(get: Callable[[str], Any], route: str, n: int) -> None:
    gc.collect()
    gc.freeze()  # the set-up's objects are not rescanned inside the measured loop
    bad = sys.call_tracing(_loop, (get, route, n))
    if bad:
        raise RuntimeError(f"{bad} of {n} requests to {route} failed")


def _fresh(app: Any, route: str) -> Callable[[str], Any]:
    """A new session per loop (so no sliding-expiry touch falls inside it),
    then enough requests to warm every cache and let Python specialise the
    code on the path (it does so after eight runs)."""
    get = apps.visitor(app)
    for _ in range(10):
        get(route)
    return get


def chunks(phases: list[tuple[str, list[Target]]], size: int) -> list[list[tuple[str, list[Target]]]]:
    """The containers (open, load, save) in a loop of their own, the phases
    inside them in others: a wrapper inside a wrapped container would add its
    own cost to the container's count."""
    outer = [p for p in phases if p[0] in CONTAINERS]
    inner = [p for p in phases if p[0] not in CONTAINERS]
    return [outer] + [inner[i:i + size] for i in range(0, len(inner), size)]


def requests_for(variant: str, n: int) -> int:
    """Flask-Session on SQLAlchemy costs ten times the others per request: a
    quarter of the requests count it as precisely, in as much time."""
    return max(5, n // 4) if apps.split(variant)[0] in ("fs-sqlite", "fs-postgres") else n


def child(config: dict[str, Any]) -> None:
    work, suffix = Path(config["work"]), config["suffix"]
    n, nb = config["requests"], config["breakdown_requests"]
    built = {v: apps.make_app(v, str(work), table=apps.default_table(v) + suffix)
             for v in config["variants"]}
    cells: list[dict[str, Any]] = []
    for variant, app in built.items():
        for route in ROUTES:
            get = _fresh(app, route)
            cells.append({"kind": "cell", "variant": variant, "route": route,
                          "n": requests_for(variant, n)})
            _measured(get, route, cells[-1]["n"])
        print(f"{time.strftime('%H:%M:%S')} counted {variant}", flush=True)
    cells.append(_calibrate(config["calibration_calls"]))
    entry = list(TRAMPOLINES)
    for variant in config["breakdown"]:
        for chunk in chunks(phases_of(variant), len(entry)):
            for route in ROUTES:
                patch = Patch(built[variant], chunk, entry)
                try:
                    get = _fresh(built[variant], route)
                    patch.reset()
                    cells.append({"kind": "breakdown", "variant": variant, "route": route, "n": nb,
                                  "entry": patch.entry, "missing": patch.missing})
                    _measured(get, route, nb)
                    cells[-1]["calls"] = {p: c[0] for p, c in patch.calls.items()}
                finally:
                    patch.undo()
        print(f"{time.strftime('%H:%M:%S')} broke down {variant}", flush=True)
    Path(config["manifest"]).write_text(json.dumps(cells))


def _calibrate(calls: int) -> dict[str, Any]:
    """The wrappers' own cost: each C entry point calling a no-op."""
    def noop(*args: Any, **kwargs: Any) -> None:
        return None

    wrapped = list(TRAMPOLINES.values())
    args: tuple[Any, ...] = (None, None)

    def loop(_client: Any, _route: str, n: int) -> int:
        for _ in range(n):
            for via in wrapped:
                via(lambda: noop(*args))  # the shape of Patch's thunks
        return 0

    gc.collect()
    sys.call_tracing(loop, (None, "", calls))
    return {"kind": "calibration", "n": calls, "entry": {name: name for name in TRAMPOLINES}}


# -- the parent: runs the children and reads callgrind's profiles ----------------------


def parse(path: Path) -> tuple[int, dict[str, list[int]]]:
    """Total instructions of one profile, and for each function the calls into
    it and their inclusive instructions (callgrind's format, compressed names)."""
    names: dict[str, str] = {}
    edges: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    total, callee, calls = 0, "", None
    name_re = re.compile(r"\((\d+)\)(?: (.*))?")
    with path.open() as lines:
        for line in lines:
            if calls is not None:
                edges[callee][0] += calls
                edges[callee][1] += int(line.split()[-1])
                calls = None
            elif line.startswith(("fn=", "cfn=")):
                match = name_re.match(line.split("=", 1)[1].strip())
                if match:
                    if match.group(2):
                        names[match.group(1)] = match.group(2)
                    name = names.get(match.group(1), "?")
                else:
                    name = line.split("=", 1)[1].strip()
                if line.startswith("cfn="):
                    callee = name
            elif line.startswith("calls="):
                calls = int(line[6:].split()[0])
            elif line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
    return total, dict(edges)


def _profiles(folder: Path) -> list[Path]:
    found = [p for p in folder.glob("cg.out.*") if p.name.rsplit(".", 1)[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.rsplit(".", 1)[-1]))


def _run_child(config: dict[str, Any], timeout: float) -> list[tuple[dict[str, Any], Path]]:
    folder = Path(config["work"])
    command = ["valgrind", "--tool=callgrind", "--collect-atstart=no", f"--toggle-collect={MARKER}",
               f"--dump-after={MARKER}", f"--callgrind-out-file={folder / 'cg.out'}",
               sys.executable, str(Path(__file__)), json.dumps(config)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    with open(folder / "child.log", "w") as out:
        subprocess.run(command, check=True, timeout=timeout, env=env, stdout=out, stderr=out,
                       cwd=str(folder))
    cells = json.loads(Path(config["manifest"]).read_text())
    profiles = _profiles(folder)
    if len(profiles) != len(cells):
        raise RuntimeError(f"callgrind wrote {len(profiles)} profiles for {len(cells)} loops")
    return list(zip(cells, profiles, strict=True))


def measure(requests: int, breakdown_requests: int, work: Path, timeout: float,
            runs: int = 2) -> dict[str, Any]:
    """``runs`` callgrind children side by side; per-request counts, their
    spread, and the breakdown."""
    started = time.perf_counter()
    configs = []
    shares = breakdown_variants()
    for run in range(runs):
        folder = work / f"callgrind-{run + 1}"
        folder.mkdir()
        configs.append({"work": str(folder), "suffix": f"_cg{run + 1}", "requests": requests,
                        "breakdown_requests": breakdown_requests, "variants": apps.variants(),
                        # Each child breaks down its share, so the two take as long.
                        "breakdown": shares[run::runs], "calibration_calls": 1000,
                        "manifest": str(folder / "manifest.json")})
    with ThreadPoolExecutor(runs) as pool:
        results = list(pool.map(lambda c: _run_child(c, timeout), configs))
    out = {"requests": requests, "breakdown_requests": breakdown_requests, "runs": runs,
           "valgrind": subprocess.run(["valgrind", "--version"], capture_output=True,
                                      text=True).stdout.strip()}
    out.update(_counts([[(c, parse(p)) for c, p in r] for r in results]))
    out["seconds"] = time.perf_counter() - started
    out["log"] = [(Path(c["work"]) / "child.log").read_text().splitlines()[-40:] for c in configs]
    for config in configs:
        shutil.rmtree(config["work"], ignore_errors=True)
    return out


def _counts(runs: list[list[tuple[dict[str, Any], tuple[int, dict[str, list[int]]]]]]) -> dict[str, Any]:
    per_run: list[dict[str, float]] = []
    for run in runs:
        per_run.append({f"{c['variant']} {c['route']}": total / c["n"]
                        for c, (total, _) in run if c["kind"] == "cell"})
    cells: dict[str, Any] = {}
    for key in per_run[0]:
        values = [r[key] for r in per_run]
        mean = sum(values) / len(values)
        cells[key] = {"ir": mean, "runs": values,
                      "spread": (max(values) - min(values)) / mean if mean else 0.0}
    for key, cell in cells.items():
        variant, route = key.split(" ")
        floor = cells[f"floor {route}"]
        cell["cost"] = cell["ir"] - floor["ir"]
        cost_runs = [a - b for a, b in zip(cell["runs"], floor["runs"], strict=True)]
        cell["cost_spread"] = ((max(cost_runs) - min(cost_runs)) / cell["cost"]
                               if variant != "floor" and cell["cost"] else 0.0)
    breakdown: dict[str, Any] = {}
    for run in runs:
        breakdown.update(_breakdown(run, cells))
    return {"cells": cells, "breakdown": breakdown}


def _breakdown(run: list[tuple[dict[str, Any], tuple[int, dict[str, list[int]]]]],
               cells: dict[str, Any]) -> dict[str, Any]:
    overhead: dict[str, float] = {}
    for cell, (_, edges) in run:
        if cell["kind"] == "calibration":
            overhead = {name: edges.get(name, [0, 0])[1] / cell["n"] for name in cell["entry"]}
    out: dict[str, Any] = {}
    # A C entry point the app itself entered in an unwrapped loop would mix
    # its cost into a phase's: those phases are flagged, not reported.
    used: dict[str, set[str]] = collections.defaultdict(set)
    for cell, (_, edges) in run:
        if cell["kind"] == "cell":
            used[cell["variant"]] |= {t for t in TRAMPOLINES if edges.get(t, [0, 0])[1]}
    for cell, (_, edges) in run:
        if cell["kind"] != "breakdown":
            continue
        key = f"{cell['variant']} {cell['route']}"
        entry = out.setdefault(key, {"phases": {}, "calls": {}, "flagged": [], "missing": []})
        entry["missing"] += cell["missing"]
        for phase, trampoline in cell["entry"].items():
            # Callgrind's own call counts are not exact across Python's
            # evaluation loop; its inclusive counts are (checked against the
            # same function timed on its own), so the wrapper counts the calls.
            calls = cell["calls"][phase]
            nested = any(k.startswith(trampoline + "'") for k in edges)
            if trampoline in used[cell["variant"]] or nested:
                entry["flagged"].append(phase)
                continue
            inclusive = edges.get(trampoline, [0, 0])[1]
            entry["phases"][phase] = (inclusive - calls * overhead.get(trampoline, 0.0)) / cell["n"]
            entry["calls"][phase] = calls / cell["n"]
    for key, entry in out.items():
        containers = [p for p, _ in phases_of(key.split(" ")[0]) if p in CONTAINERS]
        if all(c in entry["phases"] for c in containers):
            entry["outside"] = cells[key]["cost"] - sum(entry["phases"][c] for c in containers)
    return out


if __name__ == "__main__":
    child(json.loads(sys.argv[1]))
