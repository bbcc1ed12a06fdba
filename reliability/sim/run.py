"""Run a seed, check its history, shrink a failing plan, tell its story."""

from __future__ import annotations

import random
from dataclasses import dataclass

from flask_strongbox.audit import logger
from flask_strongbox.engine import swap

from ..checker import Report, Violation, check
from ..history import History
from .plan import Plan, draw
from .world import World


@dataclass(slots=True)
class Run:
    """One run: its plan, what happened, and what the checker found."""

    plan: Plan
    history: History
    report: Report
    faults: list[str]
    log: list[str]
    errors: list[str]

    @property
    def violations(self) -> list[str]:
        return [str(v) for v in self.report.violations] + self.errors

    @property
    def ok(self) -> bool:
        return not self.violations


def run_plan(plan: Plan) -> Run:
    """Run ``plan`` on the real engine; the same plan always runs alike."""
    rng = random.Random(f"run-{plan.model}-{plan.seed}")
    world = World(plan, rng)
    # The engine's compare-and-swap back-off is its only randomness that
    # moves the schedule: draw it from the run's seed.
    jitter = swap.__dict__["random"]
    swap.__dict__["random"] = rng
    quiet, logger.disabled = logger.disabled, True  # faults are expected here, by the thousand
    try:
        world.schedule()
        world.run()
        world.final_reads()
    finally:
        swap.__dict__["random"] = jitter
        logger.disabled = quiet
    report = check(world.history)
    return Run(plan, world.history, report, world.faults, world.log, world.errors)


def run_seed(seed: int, model: str, requests: int = 10) -> Run:
    return run_plan(draw(seed, model, requests))


def shrink(run: Run, budget: int = 200) -> Run:
    """A smaller plan that still fails: without the store faults if they are
    not needed, then without each request in turn while it still fails."""
    best = run
    calm = run_plan(run.plan.calm())
    if not calm.ok:
        best = calm
    tries = 0
    changed = True
    while changed and tries < budget:
        changed = False
        for spec in best.plan.specs:
            tries += 1
            smaller = run_plan(best.plan.without(spec.index))
            if not smaller.ok:
                best, changed = smaller, True
                break
    return best


def story(run: Run) -> str:
    """The run as a readable story: the plan, every step, the verdict."""
    plan = run.plan
    lines = [
        f"seed {plan.seed} on the {plan.model} model: {plan.browsers} browser(s), "
        f"{len(plan.specs)} request(s), store fault rate {plan.fault_rate:.0%}, "
        f"permanent sessions in browsers {sorted(plan.permanent) or 'none'}",
        "",
        "what happened (simulated time, request id, step):",
        *(f"  {line}" for line in run.log),
        "",
        "final sessions: " + ", ".join(f"browser {b}: {d!r}" for b, d in sorted(run.history.final.items())),
        f"faults injected: {len(run.faults)}",
    ]
    lines += [f"VIOLATION {v}" for v in run.violations] or ["no violations"]
    return "\n".join(lines)


__all__ = ["Run", "Violation", "run_plan", "run_seed", "shrink", "story"]
