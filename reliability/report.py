"""``./dev reliability``: run the simulator and the real-process run, and
write their numbers into ``RELIABILITY.md``.

    ./dev reliability [--seeds N] [--minutes M]    run both, then write the page
    ./dev reliability --from build/reliability     write it from the last runs' numbers
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "build" / "reliability"
PAGE = ROOT / "RELIABILITY.md"
MODELS = ("memory", "sqlite", "postgres", "redis")
STORES = ("sqlite", "redis", "postgres")
_TEMPLATE = Path(__file__).with_name("RELIABILITY.template.md")


def _run(args: list[str]) -> None:
    subprocess.run([sys.executable, "-m", *args], cwd=ROOT, check=False)  # noqa: S603 - our own modules


def collect(seeds: int, minutes: float) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    for model in MODELS:
        _run(["reliability.sim", "--seeds", str(seeds), "--store", model,
              "--json", str(RESULTS / f"sim-{model}.json")])
    _run(["reliability.live", "--minutes", str(minutes), "--json", str(RESULTS)])


def _load(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def simulator_table(folder: Path) -> str:
    rows = ["| store model | seeded runs | runs/s (one core) | requests | acknowledged writes checked "
            "| stale cookies | faults injected | violations |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    mixes = []
    for model in MODELS:
        found = _load(folder / f"sim-{model}.json")
        if not found:
            rows.append(_partial(folder, model))
            continue
        stats = found[0]
        rows.append(f"| {model} | {stats['runs']:,} | {stats['rate']:.0f} | {stats['requests']:,} | "
                    f"{stats['writes']:,} | {stats['stale']:,} | {stats['faults']:,} | "
                    f"**{stats['violations']}** |")
        mix = ", ".join(f"{kind} {count:,}" for kind, count in sorted(stats["kinds"].items()))
        mixes.append(f"- {model}: {mix}")
    return "\n".join(rows) + "\n\nFault mix (store calls and world events, by kind):\n\n" + "\n".join(mixes)


def _partial(folder: Path, model: str) -> str:
    """A model's row from the progress lines of a run stopped before its end."""
    log = folder / f"sim-{model}.txt"
    lines = [line.split() for line in (log.read_text().splitlines() if log.exists() else ())
             if line.strip().startswith(f"{model}:") and "so far" in line]
    if not lines:
        return f"| {model} | not run | | | | | | |"
    runs, violations = int(lines[-1][1]), int(lines[-1][3])
    return f"| {model} | {runs:,} (stopped early) | | | | | | **{violations}** |"


def live_table(folder: Path) -> str:
    rows = ["| store | minutes | requests | 2xx | 503 | no answer | acknowledged writes checked "
            "| stale cookies | faults injected | anomalies |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for store in STORES:
        found = _load(folder / f"live-{store}.json")
        if not found:
            rows.append(f"| {store} | not run | | | | | | | | |")
            continue
        faults = ", ".join(f"{kind} {count}" for kind, count in sorted(found["faults"].items()))
        rows.append(f"| {store} | {found['minutes']:g} | {found['requests']:,} | {found['answered_2xx']:,} | "
                    f"{found['answered_503']:,} | {found['no_answer']:,} | "
                    f"{found['acknowledged_writes']:,} | {found['stale_cookies']:,} | {faults} | "
                    f"**{found['violations']}** |")
    return "\n".join(rows)


def write(folder: Path) -> None:
    page = _TEMPLATE.read_text().replace("{simulator}", simulator_table(folder))
    PAGE.write_text(page.replace("{live}", live_table(folder)))
    print(f"wrote {PAGE}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev reliability", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100_000, help="simulated runs per store model")
    parser.add_argument("--minutes", type=float, default=10.0, help="real-process minutes per store")
    parser.add_argument("--from", dest="source", metavar="FOLDER", help="only write the page from FOLDER")
    args = parser.parse_args(argv)
    if args.source is None:
        collect(args.seeds, args.minutes)
    write(Path(args.source) if args.source else RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
