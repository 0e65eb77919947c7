"""Time to page: from the start of an incident in live traffic to the page at the receiver.

    .venv/bin/python benchmarks/time_to_alert.py [--interval 15] [--models 6] [--rate 100]

The product's promise is to know "within minutes". This measures it on the real path, in
real time. ``--models`` models' live traffic (``--rate`` events/s each, through the SDK) is
teed into Kafka, which Pinot consumes, and into an in-process DuckDB store. After ``--lead``
seconds of healthy traffic each model gets a slow tail (5% of requests 250-400 ms slower, as
the demo's fraud v3 incident), which a critical ``latency.p99 > 150`` rule over ``--window``
must page. The models' incidents start ``--interval / --models`` seconds apart, so they
sample every phase of the schedulers' ticks; the figures are the median, min and max over
the models.

Two schedulers judge the same events, each ticking every ``--interval`` seconds:

* **at scale**: ``modelhealth rules run --backend pinot`` as a process of its own, reading
  Pinot (SDK -> Kafka -> Pinot -> rules -> routing -> PagerDuty Events v2);
* **embedded** (the peer): the same rule and routing in this process on the DuckDB store,
  as ``modelhealth demo`` runs them.

Each pages a local Events v2 receiver; a model's figure is its page's arrival minus its
incident's start, alongside Pinot's freshness (the first slow row queryable). The expected time is
about the time the window needs to hold enough slow requests, plus up to one interval, plus
freshness. Needs the local services (``modelhealth services up``); works in a private
namespace dropped at the end. Prints figures and saves a bar chart under
artifacts/benchmarks/; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from modelhealth.alerting.config import parse_routing
from modelhealth.alerting.notifiers import build_notifiers
from modelhealth.alerting.pipeline import Dispatcher
from modelhealth.clock import SystemClock, to_epoch_ms
from modelhealth.demo.pager_inbox import PagerInbox
from modelhealth.ingestion import Monitor
from modelhealth.ingestion.batch import EventBatch
from modelhealth.ingestion.kafka_sink import KafkaSink
from modelhealth.pinot_schemas.init import drop_pinot, init_pinot
from modelhealth.rules.config import load_rules
from modelhealth.rules.evaluator import Evaluator
from modelhealth.rules.state import AlertStateStore
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from modelhealth.store.pinot import PinotStore

try:
    from benchmarks.plotting import bar_chart
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from plotting import bar_chart  # type: ignore[no-redef]

THRESHOLD_MS = 150
CLI = "import sys; from modelhealth.cli import main; sys.exit(main())"
"""``modelhealth`` as ``python -c`` runs it (the package has no ``__main__``)."""
RULES = """\
model: {model}
rules:
  - name: p99-latency
    metric: latency.p99
    window: {window}
    detector: {{type: threshold, above: {threshold}}}
    severity: critical
"""
ROUTING = """\
route:
  receiver: pager
  group_by: [model, alertname]
  group_wait: 0s
  group_interval: 1m
receivers:
  - name: pager
    pagerduty: {{url: "{url}", routing_key_env: TTA_ROUTING_KEY}}
"""


class Tee:
    """Writes each batch to every sink."""

    def __init__(self, *sinks: KafkaSink | DuckDBSink) -> None:
        self.sinks = sinks

    def write(self, batch: EventBatch) -> None:
        for sink in self.sinks:
            sink.write(batch)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


@dataclass
class Timeline:
    """Seconds from each model's incident to its page, per scheduler (absent: no page before
    the timeout), and Pinot's freshness for the first incident."""

    pinot_fresh: float | None = None
    paged: dict[str, dict[str, float]] = field(default_factory=dict)


def traffic(rng: np.random.Generator, n: int, slow: bool) -> np.ndarray:
    """``n`` latencies (ms): gamma around 12 ms; with ``slow``, 5% get 250-400 ms more."""
    lat = rng.gamma(4.0, 3.0, n)
    if slow:
        hit = rng.random(n) < 0.05
        lat[hit] += rng.uniform(250.0, 400.0, int(hit.sum()))
    return lat


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--interval", type=int, default=15, help="rules tick, seconds")
    ap.add_argument("--models", type=int, default=6, help="models, incidents staggered")
    ap.add_argument("--rate", type=int, default=100, help="events/s per model")
    ap.add_argument("--window", default="1m", help="the rule's window")
    ap.add_argument("--lead", type=float, default=75.0, help="healthy seconds first")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the pages")
    args = ap.parse_args()

    namespace = f"tta{uuid.uuid4().hex[:8]}_"
    init_pinot(namespace)
    pinot = PinotStore(namespace=namespace)
    work = Path(tempfile.mkdtemp(prefix="mh-tta-"))
    models = [f"checkout{i}" for i in range(args.models)]
    inboxes = {name: PagerInbox(work / f"{name}.jsonl").start() for name in SCHEDULERS}
    env = {**os.environ, "TTA_ROUTING_KEY": "tta"}
    rules_dir = work / "rules"
    rules_dir.mkdir()
    for model in models:
        rule = RULES.format(model=model, window=args.window, threshold=THRESHOLD_MS)
        (rules_dir / f"{model}.yaml").write_text(rule)
    for name, inbox in inboxes.items():
        (work / f"{name}-routing.yaml").write_text(ROUTING.format(url=inbox.url))

    duck = DuckDBStore()
    monitor = Monitor(Tee(KafkaSink(namespace=namespace), DuckDBSink(duck)), {})
    routing = parse_routing((work / "embedded-routing.yaml").read_text(), "embedded-routing")
    dispatcher = Dispatcher(routing, build_notifiers(routing, env))
    evaluator = Evaluator(
        load_rules([rules_dir]).rules,
        duck,
        state=AlertStateStore(work / "embedded-state" / "alerts.json"),
        clock=SystemClock(),
    )
    evaluator.notify = dispatcher
    log = (work / "rules-run.log").open("w")
    scheduler = subprocess.Popen(
        [sys.executable, "-c", CLI, "rules", "run", "--interval",
         f"{args.interval}s", "--backend", "pinot", "--broker", pinot.broker_url,
         "--namespace", namespace, "--routing", str(work / "pinot-routing.yaml"),
         "--state", str(work / "pinot-state" / "alerts.json"), str(rules_dir)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    timeline = Timeline()
    try:
        live = Live(args, models, monitor, evaluator, dispatcher, pinot, namespace, inboxes)
        timeline = live.run()
    finally:
        scheduler.terminate()
        scheduler.wait(30)
        log.close()
        monitor.close()
        for inbox in inboxes.values():
            inbox.stop()
        pinot.close()
        drop_pinot(namespace)
        duck.close()
    _report(args, timeline, work)
    if all(len(paged) == args.models for paged in timeline.paged.values()):
        shutil.rmtree(work, ignore_errors=True)  # else kept: the report names its log


SCHEDULERS = ("pinot", "embedded")


@dataclass
class Live:
    """Live traffic, the embedded scheduler's ticks and both inboxes watched, in real time."""

    args: argparse.Namespace
    models: list[str]
    monitor: Monitor
    evaluator: Evaluator
    dispatcher: Dispatcher
    pinot: PinotStore
    namespace: str
    inboxes: dict[str, PagerInbox]

    def run(self) -> Timeline:
        args = self.args
        rng = np.random.default_rng(1)
        start = time.monotonic()
        step = args.interval / len(self.models)
        incident = {m: start + args.lead + i * step for i, m in enumerate(self.models)}
        timeline = Timeline(paged={name: {} for name in self.inboxes})
        next_tick, last_flush = start + args.interval, start
        first = min(incident.values())
        _say(f"{len(self.models)} models, healthy for {args.lead:.0f}s, then slow tails "
             f"{step:.1f}s apart; both schedulers tick every {args.interval}s")  # fmt: skip
        while time.monotonic() < max(incident.values()) + args.timeout:
            time.sleep(0.1)
            now = time.monotonic()
            for model in self.models:
                self._log(model, rng, slow=now >= incident[model])
            if now - last_flush >= 1.0:
                self.monitor.flush()
                last_flush = now
            if now >= next_tick:
                moment = datetime.now(UTC)
                self.evaluator.tick(moment)
                self.dispatcher.flush(moment)
                next_tick += args.interval
            if now >= first and timeline.pinot_fresh is None and self._slow_visible():
                timeline.pinot_fresh = time.monotonic() - first
            self._watch(incident, timeline)
            if all(len(p) == len(self.models) for p in timeline.paged.values()):
                break
        return timeline

    def _log(self, model: str, rng: np.random.Generator, slow: bool) -> None:
        n = max(1, int(self.args.rate * 0.1))
        ts = to_epoch_ms(datetime.now(UTC)) - np.sort(rng.integers(0, 100, n))
        self.monitor.log_batch(
            model=model,
            version="v1",
            features={},
            score=rng.random(n),
            latency_ms=traffic(rng, n, slow),
            ts_ms=ts.astype(np.int64),
        )

    def _watch(self, incident: dict[str, float], timeline: Timeline) -> None:
        for name, inbox in self.inboxes.items():
            paged = timeline.paged[name]
            for event in inbox.events():
                model = str(event.get("payload", {}).get("source", ""))  # type: ignore[union-attr]
                trigger = event.get("event_action") == "trigger"
                if trigger and model in incident and model not in paged:
                    paged[model] = time.monotonic() - incident[model]
                    _say(f"{name}: {model} paged {paged[model]:.1f}s after its incident")

    def _slow_visible(self) -> bool:
        """Whether Pinot already answers with a row of a slow tail (freshness probe)."""
        table = f"{self.namespace}inferences"  # the namespace was checked by init_pinot
        slow = THRESHOLD_MS + 100
        frame = self.pinot._query(f"SELECT count(*) AS n FROM {table} WHERE latency_ms > {slow}")
        return bool(len(frame) and frame["n"].iloc[0])


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _summary(values: list[float], of: int) -> str:
    if not values:
        return f"no page within the timeout (0 of {of})"
    missed = f", {of - len(values)} of {of} not paged" if len(values) < of else ""
    return (
        f"median {np.median(values):.1f} s (min {min(values):.1f}, max {max(values):.1f}, "
        f"{len(values)} incidents{missed})"
    )


def _report(args: argparse.Namespace, t: Timeline, work: Path) -> None:
    n = args.models
    pinot, embedded = list(t.paged["pinot"].values()), list(t.paged["embedded"].values())
    fresh = "not seen" if t.pinot_fresh is None else f"{t.pinot_fresh:.1f} s"
    print(f"rule: latency.p99 > {THRESHOLD_MS} ms over {args.window}; both schedulers tick "
          f"every {args.interval}s; {n} models x {args.rate} events/s")  # fmt: skip
    print(f"Pinot freshness (first slow row queryable)  : {fresh}")
    print(f"time to page, at scale (Kafka + Pinot)      : {_summary(pinot, n)}")
    print(f"time to page, embedded (DuckDB, the peer)   : {_summary(embedded, n)}")
    if pinot and embedded:
        ratio = float(np.median(pinot) / np.median(embedded))
        print(f"at scale / embedded (medians): {ratio:.2f}x")
    if len(pinot) < n:
        print(f"the Pinot scheduler's log: {work / 'rules-run.log'}")
    chart = bar_chart(
        "time_to_alert",
        "Incident start to page (median of the models; bars: min-max)",
        ["time to page"],
        {"at scale (Kafka + Pinot)": [_median(pinot)], "embedded (DuckDB)": [_median(embedded)]},
        ylabel="seconds",
        spread={
            "at scale (Kafka + Pinot)": [_span(pinot)],
            "embedded (DuckDB)": [_span(embedded)],
        },
    )
    print(f"chart: {chart}")


def _median(v: list[float]) -> float:
    return float(np.median(v)) if v else float("nan")


def _span(v: list[float]) -> tuple[float, float]:
    return (min(v), max(v)) if v else (float("nan"), float("nan"))


if __name__ == "__main__":
    main()
