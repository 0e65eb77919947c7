"""Memory of a long-running rules scheduler: resident KB gained per tick, on DuckDB.

A daemon ticks for months, so a few KB kept per tick adds up (5.7 KB a tick is 8 MB a day at
one tick a minute). Each store shape ticks in a process of its own (resident memory is per
process): after ``--warmup`` ticks, the growth over ``--ticks`` more, with every tick's
window one second later (as a daemon's clock moves), over a seeded fleet store:
  * fleet       — DuckDBStore as shipped (fleet queries match models by ``list_contains``);
  * fleet-semi  — the same with the semi-join on the unnested model list it used before
                  (the peer: DuckDB 2.0 kept about 1 KB of native memory per such query).

    .venv/bin/python benchmarks/scheduler_memory.py [--models 4] [--features 10]
        [--warmup 300] [--ticks 3000]

Prints KB per tick and per query for each shape and saves a bar chart under
artifacts/benchmarks/.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from datetime import timedelta

from plotting import bar_chart
from rules import T0, SemiJoinStore, make_rules, seed

from modelhealth.rules.evaluator import Evaluator
from modelhealth.store.duckdb import DuckDBStore

SHAPES = ("fleet", "fleet-semi")


def resident_kb() -> int:
    """This process's resident set (Linux ``VmRSS``), in KB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def measure(shape: str, models: int, features: int, warmup: int, ticks: int) -> dict:
    """Tick one store shape in this process; KB gained over ``ticks`` after ``warmup``."""
    store = DuckDBStore()
    seed(store, models, features, 60)
    if shape == "fleet-semi":
        store = SemiJoinStore.sharing(store)
    rules, refs = make_rules(models, features)
    ev = Evaluator(rules, store, references=refs)
    start = T0 - timedelta(minutes=30)
    queries = 0
    for i in range(warmup + ticks):
        if i == warmup:
            gc.collect()
            before, t = resident_kb(), time.perf_counter()
        report = ev.tick(start + timedelta(seconds=i))
        queries += report.queries if i >= warmup else 0
    gc.collect()
    gained = resident_kb() - before
    return {
        "shape": shape,
        "kb_per_tick": gained / ticks,
        "kb_per_query": gained / max(queries, 1),
        "queries_per_tick": queries / ticks,
        "seconds": time.perf_counter() - t,
        "rules": len(rules),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--models", type=int, default=4, help="models seeded (default 4)")
    p.add_argument("--features", type=int, default=10, help="features per model (default 10)")
    p.add_argument("--warmup", type=int, default=300, help="ticks before measuring (default 300)")
    p.add_argument("--ticks", type=int, default=3000, help="ticks measured (default 3000)")
    p.add_argument("--shape", choices=SHAPES, help=argparse.SUPPRESS)  # one child's shape
    a = p.parse_args(argv)
    if a.shape:
        print(json.dumps(measure(a.shape, a.models, a.features, a.warmup, a.ticks)))
        return 0
    results = []
    for shape in SHAPES:
        print(f"ticking {shape}: {a.warmup} + {a.ticks} ticks ...", flush=True)
        child = [sys.executable, __file__, "--shape", shape, "--models", str(a.models),
                 "--features", str(a.features), "--warmup", str(a.warmup),
                 "--ticks", str(a.ticks)]  # fmt: skip
        done = subprocess.run(child, capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{results[0]['rules']} rules over {a.models} models, {a.ticks} ticks after {a.warmup}")
    for r in results:
        print(
            f"  {r['shape']:11} {r['kb_per_tick']:6.2f} KB/tick  {r['kb_per_query']:6.3f} KB/query"
            f"  ({r['queries_per_tick']:.0f} queries/tick, {r['seconds']:.0f} s)"
        )
    ours, peer = results[0]["kb_per_tick"], results[1]["kb_per_tick"]
    print(f"  kept per tick: fleet {ours:.2f} KB against fleet-semi (before) {peer:.2f} KB")
    chart = bar_chart(
        "scheduler_memory",
        f"Resident memory gained per tick over {a.ticks} ticks (lower is better)",
        [r["shape"] + (" (before)" if r["shape"] == "fleet-semi" else "") for r in results],
        {"KB per tick": [r["kb_per_tick"] for r in results]},
        ylabel="KB per tick",
    )
    print(f"chart: {chart}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
