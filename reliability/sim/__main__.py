"""``./dev simulate``: seeded runs of the real engine on each store model.

    ./dev simulate [--seeds N] [--store NAME] [--seed S] [--first F]

Prints each store model's runs, the faults injected by kind and the stale
cookies seen, the shrunk story of every failing seed, and last
``N runs, M faults, K violations``; exits 1 on any violation. ``--seed S``
replays one run as its story.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

from .run import Run, run_seed, shrink, story
from .store import MODELS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev simulate", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000, help="runs per store model (default 1000)")
    parser.add_argument("--first", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--store", choices=(*MODELS, "all"), default="all", help="store model (default all)")
    parser.add_argument("--seed", type=int, help="replay this one seed as its story")
    parser.add_argument("--requests", type=int, default=10, help="most requests per run (default 10)")
    parser.add_argument("--json", metavar="PATH", help="also write each model's statistics to PATH")
    args = parser.parse_args(argv)
    models = MODELS if args.store == "all" else (args.store,)
    if args.seed is not None:
        return _replay(args.seed, models, args.requests)
    totals = Counter[str]()
    written = []
    for model in models:
        stats = simulate(model, range(args.first, args.first + args.seeds), args.requests)
        _summary(stats)
        written.append({**asdict(stats), "kinds": dict(stats.kinds), "faults": stats.faults,
                        "rate": stats.rate})
        totals.update(runs=stats.runs, faults=stats.faults, violations=stats.violations)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(written, out, indent=1)
    print(f"{totals['runs']} runs, {totals['faults']} faults, {totals['violations']} violations")
    return 1 if totals["violations"] else 0


def _summary(stats: Stats) -> None:
    mix = ", ".join(f"{kind} {count}" for kind, count in sorted(stats.kinds.items())) or "none"
    print(f"{stats.model}: {stats.runs} runs ({stats.rate:.0f}/s), {stats.requests} requests, "
          f"{stats.writes} acknowledged writes checked, {stats.stale} stale cookies, "
          f"faults: {mix}; {stats.violations} violations", flush=True)


@dataclass
class Stats:
    """What the runs of one store model did."""

    model: str
    runs: int = 0
    requests: int = 0
    writes: int = 0
    stale: int = 0
    violations: int = 0
    seconds: float = 0.0
    kinds: Counter[str] = field(default_factory=Counter)
    failing: list[int] = field(default_factory=list)

    @property
    def faults(self) -> int:
        return sum(self.kinds.values())

    @property
    def rate(self) -> float:
        return self.runs / self.seconds if self.seconds else 0.0


def simulate(model: str, seeds: range, requests: int = 10) -> Stats:
    """Run ``seeds`` on ``model``; print each failing seed's shrunk story."""
    stats = Stats(model)
    started = time.perf_counter()
    try:
        _runs(stats, seeds, requests)
    except KeyboardInterrupt:  # stopped early (Ctrl-C, SIGINT): report the runs done
        print(f"  {model}: interrupted after {stats.runs} runs", file=sys.stderr, flush=True)
    stats.seconds = time.perf_counter() - started
    return stats


def _runs(stats: Stats, seeds: range, requests: int) -> None:
    model = stats.model
    for done, seed in enumerate(seeds, 1):
        run = run_seed(seed, model, requests)
        stats.kinds.update(run.faults)
        stats.runs += 1
        stats.requests += len(run.history.events)
        stats.writes += run.report.acknowledged_writes
        stats.stale += run.report.stale_cookies
        stats.violations += len(run.violations)
        if not run.ok:
            stats.failing.append(seed)
            _failed(run)
        if done % 5_000 == 0:
            print(f"  {model}: {done} runs, {stats.violations} violations so far",
                  file=sys.stderr, flush=True)


def _failed(run: Run) -> None:
    print(f"seed {run.plan.seed} ({run.plan.model}) FAILED: {run.violations[0]}", file=sys.stderr)
    print(story(shrink(run)), file=sys.stderr)
    print(file=sys.stderr)


def _replay(seed: int, models: tuple[str, ...], requests: int) -> int:
    failed = faults = 0
    for model in models:
        run = run_seed(seed, model, requests)
        print(story(run))
        faults += len(run.faults)
        if not run.ok:
            failed += len(run.violations)
            print("\nshrunk to:\n" + story(shrink(run)))
        print()
    print(f"{len(models)} runs, {faults} faults, {failed} violations")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
