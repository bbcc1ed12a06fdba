"""``./dev simulate``: seeded runs of the real engine on each store model.

    ./dev simulate [--seeds N] [--store NAME] [--seed S] [--first F]

Prints each store model's runs, the faults injected by kind and the stale
cookies seen, the shrunk story of every failing seed, and last
``N runs, M faults, K violations``; exits 1 on any violation. ``--seed S``
replays one run as its story.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from .run import Run, run_seed, shrink, story
from .store import MODELS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev simulate", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000, help="runs per store model (default 1000)")
    parser.add_argument("--first", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--store", choices=(*MODELS, "all"), default="all", help="store model (default all)")
    parser.add_argument("--seed", type=int, help="replay this one seed as its story")
    parser.add_argument("--requests", type=int, default=10, help="most requests per run (default 10)")
    args = parser.parse_args(argv)
    models = MODELS if args.store == "all" else (args.store,)
    if args.seed is not None:
        return _replay(args.seed, models, args.requests)
    totals = Counter[str]()
    for model in models:
        totals.update(_model(model, range(args.first, args.first + args.seeds), args.requests))
    print(f"{totals['runs']} runs, {totals['faults']} faults, {totals['violations']} violations")
    return 1 if totals["violations"] else 0


def _model(model: str, seeds: range, requests: int) -> Counter[str]:
    kinds = Counter[str]()
    totals = Counter[str]()
    started = time.perf_counter()
    for seed in seeds:
        run = run_seed(seed, model, requests)
        kinds.update(run.faults)
        totals.update(runs=1, faults=len(run.faults), violations=len(run.violations),
                      requests=len(run.history.events), writes=run.report.acknowledged_writes,
                      stale=run.report.stale_cookies)
        if not run.ok:
            _failed(run)
    took = time.perf_counter() - started
    mix = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())) or "none"
    print(f"{model}: {totals['runs']} runs ({totals['runs'] / took:.0f}/s), {totals['requests']} requests, "
          f"{totals['writes']} acknowledged writes checked, {totals['stale']} stale cookies, "
          f"faults: {mix}; {totals['violations']} violations")
    return Counter(runs=totals["runs"], faults=totals["faults"], violations=totals["violations"])


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
