"""What the three-way merge of a lost compare-and-swap costs, per call.

    .venv/bin/python benchmarks/merge_cost.py

A typical session (a login, a CSRF token, a two-item cart, three flash
messages) and the overlaps a browser makes: a page that shows the flashes
while another request flashes and adds to the cart, a double-clicked form,
and the cheapest case, a request that changed nothing the other touched.
Prints the best of five runs, in microseconds of CPU time per merge.
"""

from __future__ import annotations

import functools
import os
import time
import timeit
from typing import Any

from flask_strongbox import serialization
from flask_strongbox.engine.merge import merge

BASE = serialization.loads(serialization.dumps({
    "_permanent": True,
    "user": "alice",
    "csrf_token": "5f0c" * 10,
    "cart": {"sku-1": 1, "sku-2": 2},
    "_flashes": [("message", "Welcome back, alice"), ("info", "Your order shipped"),
                 ("warning", "Your card expires soon")],
}))


def changed(**keys: Any) -> dict[str, Any]:
    data = serialization.loads(serialization.dumps(BASE))
    for name, value in keys.items():
        if value is None:
            del data[name]
        else:
            data[name] = value
    return data


FLASHED = [*BASE["_flashes"], ("message", "Profile saved")]
CASES = {
    "page shows the flashes / request flashes and adds to the cart": (
        changed(_flashes=None),
        changed(_flashes=FLASHED, cart={**BASE["cart"], "sku-3": 1}),
        frozenset({"user", "_flashes"}),
    ),
    "double-clicked form that flashes": (
        changed(_flashes=FLASHED, display_name="Alice A."),
        changed(_flashes=FLASHED, display_name="Alice A."),
        frozenset({"user", "_flashes"}),
    ),
    "disjoint keys (theme / cart)": (
        changed(theme="dark"),
        changed(cart={**BASE["cart"], "sku-3": 1}),
        frozenset({"theme"}),
    ),
}


def main() -> None:
    print(f"load average before: {', '.join(f'{load:.2f}' for load in os.getloadavg())}")
    number = 5000
    for name, (ours, theirs, reads) in CASES.items():
        # CPU time, not wall time: other work on a shared machine would inflate the latter.
        timer = timeit.Timer(functools.partial(merge, BASE, ours, theirs, reads), timer=time.process_time)
        best = min(timer.repeat(number=number, repeat=5))
        print(f"{best / number * 1e6:7.1f} us  {name}")


if __name__ == "__main__":
    main()
