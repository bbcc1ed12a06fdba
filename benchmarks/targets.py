"""The targets of issues 16, 13 and 7, each judged met or missed from the
numbers of the same run, and what a missed one's cost is made of."""

# The report is prose for people: typographic dashes and signs are intended.
# ruff: noqa: RUF001

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apps

MODES = ("perm", "nonperm")
ML = {"perm": "permanent", "nonperm": "non-permanent"}


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def _us(r: dict[str, Any], variant: str, route: str = "/read") -> float | None:
    cell = r.get("inproc", {}).get(f"{variant} {route}")
    return None if cell is None else float(cell["cost"])


def _ir(r: dict[str, Any], variant: str, route: str = "/read") -> float | None:
    cell = r.get("icount", {}).get("cells", {}).get(f"{variant} {route}")
    return None if cell is None else float(cell["cost"])


def _ratio_row(what: str, mode: str, ours: float | None, theirs: float | None, limit: float,
               unit: str, fmt: Callable[[float], str]) -> tuple[str, str, str, str]:
    if ours is None or theirs is None or theirs <= 0:
        return what, ML[mode], "not measured", "n/a"
    ratio = ours / theirs
    return what, ML[mode], f"{fmt(ours)} vs {fmt(theirs)} {unit} ({ratio:.2f}×)", verdict(ratio <= limit)


def _k(x: float) -> str:
    return f"{x / 1000:,.0f}k"


def issue16(r: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str]] = []
    pairs = [
        ("Strongbox SQLite `/read` cost ≤ 0.5× signed cookie's", "sb-sqlite", "cookie", 0.5, "/read"),
        ("Strongbox memory `/read` cost ≤ 0.5× signed cookie's", "sb-memory", "cookie", 0.5, "/read"),
        ("Strongbox Redis `/read` cost ≤ ⅓ Flask-Session Redis's", "sb-redis", "fs-redis", 1 / 3, "/read"),
        ("Strongbox PostgreSQL `/read` cost ≤ ⅓ Flask-Session SQLAlchemy/PostgreSQL's", "sb-postgres",
         "fs-postgres", 1 / 3, "/read"),
        ("Strongbox SQLite `/write` cost ≤ signed cookie's", "sb-sqlite", "cookie", 1.0, "/write"),
        ("Strongbox memory `/write` cost ≤ signed cookie's", "sb-memory", "cookie", 1.0, "/write"),
    ]
    for what, ours, theirs, limit, route in pairs:
        for mode in MODES:
            a, b = f"{ours}/{mode}", f"{theirs}/{mode}"
            rows.append(_ratio_row(f"{what} (µs, in-process)", mode, _us(r, a, route), _us(r, b, route),
                                   limit, "µs", lambda x: f"{x:.0f}"))
            rows.append(_ratio_row(f"{what} (instructions)", mode, _ir(r, a, route), _ir(r, b, route),
                                   limit, "instructions", _k))
    h = r.get("http", {})
    for mode in MODES:
        sb, floor = h.get(f"sb-sqlite/{mode} /read"), h.get("floor /read")
        if sb and floor:
            share = sb["rps"] / floor["rps"]
            rows.append(("HTTP (2 sync workers, wrk) Strongbox SQLite `/read` ≥ 90% of the floor's req/s",
                         ML[mode], f"{sb['rps']:.0f} vs {floor['rps']:.0f} req/s ({share:.0%})",
                         verdict(share >= 0.9)))
        sb, fs = h.get(f"sb-redis/{mode} /read"), h.get(f"fs-redis/{mode} /read")
        if sb and fs:
            ratio = sb["rps"] / fs["rps"]
            rows.append(("HTTP (2 sync workers, wrk) Strongbox Redis `/read` ≥ 1.5× Flask-Session Redis",
                         ML[mode], f"{sb['rps']:.0f} vs {fs['rps']:.0f} req/s ({ratio:.2f}×)",
                         verdict(ratio >= 1.5)))
    inv = r.get("invalidation", {}).get("revoke cache")
    if inv is None:
        rows.append(("Revocation reaches another process's read within 10 ms p99 (cache on)", "both",
                     "not measured", "n/a"))
    else:
        st, se = inv["stale"], inv["seen"]
        rows.append(("Revocation reaches another process's read within 10 ms p99 (cache on)", "both",
                     f"last stale read p99 {st['p99_us'] / 1000:.2f} ms, max {st['max_us'] / 1000:.2f} ms; "
                     f"first fresh read p50 {se['p50_us'] / 1000:.2f} ms, p99 {se['p99_us'] / 1000:.2f} ms "
                     "(CPU waits included; section Redis below)", verdict(st["p99_us"] <= 10_000)))
    lines = ["## Targets of issue 16", "",
             "Each ratio compares contenders in the same mode. Session cost = the contender's per-request "
             "figure minus the floor's; µs from the interleaved timings (section 1), instructions from "
             "callgrind (section 1 and 5), which the machine's load does not move.", "",
             "| target | mode | result | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines += ["", _cookies_resent(r), "", _made_of(r, rows)]
    return "\n".join(lines) + "\n"


def _cookies_resent(r: dict[str, Any]) -> str:
    w = r.get("writes")
    if not w:
        return ""
    lines = ["**Cookies re-sent per read-only request** (`Set-Cookie` headers on `/read`, counted over 200):",
             "", "| contender | permanent | non-permanent |", "|---|---:|---:|"]
    for name in r["contenders"]:
        if name == "floor":
            continue
        cells = [w.get(f"{name}/{m}", {}).get("set_cookie_per_read") for m in MODES]
        lines.append(f"| {r['contenders'][name][0]} | "
                     + " | ".join("—" if c is None else f"{c:g}" for c in cells) + " |")
    return "\n".join(lines)


def _made_of(r: dict[str, Any], rows: list[tuple[str, str, str, str]]) -> str:
    """For every missed in-process target: the measured breakdown of both sides."""
    b = r.get("icount", {}).get("breakdown", {})
    if not b:
        return ""
    missed = [(a, m) for a, m, _, v in rows if v == "**missed**" and "instructions" in a]
    if not missed:
        return ""
    out = ["**What the missed targets' costs are made of** (callgrind, thousands of instructions per "
           "request over the floor; section 5 has every phase):", ""]
    seen: set[str] = set()
    for what, mode_label in missed:
        mode = "perm" if mode_label == "permanent" else "nonperm"
        route = "/write" if "`/write`" in what else "/read"
        for name in _names_in(what):
            key = f"{name}/{mode} {route}"
            if key in seen or key not in b:
                continue
            seen.add(key)
            out.append(f"- {apps.label(name + '/' + mode)} `{route}`: {describe(r, key)}")
    return "\n".join(out)


def _names_in(what: str) -> list[str]:
    names = []
    for needle, name in (("SQLite", "sb-sqlite"), ("memory", "sb-memory"), ("signed cookie", "cookie"),
                         ("Strongbox Redis", "sb-redis"), ("Flask-Session Redis", "fs-redis")):
        if needle in what:
            names.append(name)
    return names


def describe(r: dict[str, Any], key: str) -> str:
    entry = r["icount"]["breakdown"][key]
    cost = r["icount"]["cells"][key]["cost"]
    p = entry["phases"]

    def part(label: str) -> str:
        return f"{label} {p[label] / 1000:.0f}" if label in p and p[label] >= 500 else ""

    groups = []
    for container, leaves in (
        ("open_session (all)", ("cookie parse", "serializer set-up", "signature check", "decode")),
        ("load (all)", ("store-key hash", "store read", "unseal", "decode")),
        ("save_session (all)", ("encode", "seal / sign", "store write", "cookie id signing",
                                "Set-Cookie header", "Vary")),
    ):
        if container not in p:
            continue
        if key.startswith("cookie") and container == "load (all)":
            continue
        inner = [part(x) for x in leaves if not (x == "decode" and container == "open_session (all)"
                                                  and not key.startswith("cookie"))]
        inner = [x for x in inner if x]
        groups.append(f"{container.split(' ')[0]} {p[container] / 1000:.0f}"
                      + (f" ({', '.join(inner)})" if inner else ""))
    if "outside" in entry:
        groups.append("outside these (Flask's session proxy, the session object) "
                      f"{entry['outside'] / 1000:.0f}")
    return f"{cost / 1000:.0f}k = " + "; ".join(groups)


def issue13(r: dict[str, Any]) -> str:
    o = r.get("overlap")
    if not o:
        return ""
    rows = []
    for store in ("sb-sqlite", "sb-redis", "sb-postgres"):
        label = apps.CONTENDERS[store][0]
        for exclusive in (False, True):
            cell = o.get(f"{store}/perm{' exclusive' if exclusive else ''}")
            tag = "with `exclusive`" if exclusive else "without `exclusive`"
            if cell is None:
                rows.append((f"{label}: {r['plan']['increments']} concurrent increments, {tag}",
                             "`strongbox.exclusive` not in this version", "n/a"))
                continue
            raw, retry = cell["raw"], cell.get("retry", cell["raw"])
            kept = (raw["counter"] == raw["ok"] and retry["counter"] == retry["sent"]
                    and raw.get("session_survived", True) and retry.get("session_survived", True))
            want_zero = raw["non200"] == 0 if exclusive else True
            goal = ("every increment kept, 0 non-200" if exclusive else
                    "every increment answered 200 kept; all kept by a client retrying 503")
            rows.append((f"{label}: {raw['sent']} concurrent increments, {tag}: {goal}",
                         f"no retry: {raw['ok']} answered 200, {raw['non200']} non-200, counter "
                         f"{raw['counter']}; retrying 503: counter {retry['counter']}/{retry['sent']}, "
                         f"{retry['non200']} non-200 after retries"
                         + ("" if raw.get("session_survived", True) else "; **the session vanished**"),
                         verdict(kept and want_zero)))
            if exclusive:
                w = cell["wrk"]
                rows.append((f"{label}: `wrk` on one session's `/write` with `exclusive`: 0 non-2xx",
                             f"{w['non2xx']} non-2xx of {w['requests']}", verdict(w["non2xx"] == 0)))
    lines = ["## Targets of issue 13 (without and with `exclusive`)",
             "", "| target | result | |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines) + "\n"


def issue7(r: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str]] = []
    if "writes" in r:
        w = r["writes"]
        sb = {n: v["writes_per_read"] for n, v in w.items() if n.startswith("sb-") and " " not in n}
        rows.append(("0 store writes per read-only request",
                     "Strongbox " + ", ".join(f"{n[3:]} {v:g}" for n, v in sb.items()),
                     verdict(all(v == 0 for v in sb.values()))))
    for name, s in r.get("scale", {}).items():
        ratio = s["big_p50"] / s["small_p50"]
        label = apps.CONTENDERS[name][0]
        rows.append((f"{label}: read at {s['rows_big']:,} within 1.2× of {s['rows_small']:,}",
                     f"p50 {s['big_p50']:.0f} vs {s['small_p50']:.0f} µs ({ratio:.2f}×); "
                     f"p99 {s['big_p99']:.0f} vs {s['small_p99']:.0f} µs", verdict(ratio <= 1.2)))
        rows.append((f"{label}: no request waits > 50 ms during a purge",
                     f"longest {s['max_wait_ms']:.1f} ms over {s['requests_during']} requests "
                     f"(without purge: {s['max_baseline_ms']:.1f} ms)", verdict(s["max_wait_ms"] <= 50)))
    if not rows:
        return ""
    lines = ["## Earlier targets (issue 7)", "", "| target | result | |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines) + "\n"
