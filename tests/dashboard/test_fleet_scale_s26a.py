"""The fleet-wide pages at many models: store queries that do not grow with the fleet, charts
that draw the worst few and count the rest, hints that name a few and count the rest.

At 1,000 models the Fleet page asked 3,002 store queries (latency, its trend and a histogram
scan per model: 74 s cold on the 2-core box) and drew 1,000 lines per chart; the Canary page's
hint asked one ``versions`` query per model and listed every name
(``benchmarks/dashboard_fleet.py``). These tests count the queries a page makes through a
thin wrapper around a real DuckDBStore, at two fleet sizes.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.dashboard.context import PageContext, Settings, TimeWindow
from modelhealth.dashboard.data import Queries, StoreHandle, clear_caches
from modelhealth.dashboard.views import canary, fleet
from modelhealth.drift.compare import Baseline, drift_table
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.ingestion.reference import ModelReference
from modelhealth.rules.state import AlertStateStore
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from modelhealth.types import Alert, AlertState
from tests.conftest import T0
from tests.dashboard.conftest import ROOT, unescaped

APP = str(ROOT / "modelhealth" / "dashboard" / "app.py")
DAY = TimeWindow.ending(T0, timedelta(hours=24))


def _name(i: int) -> str:
    return f"m{i:02d}"


def build_fleet(root: Path, n_models: int) -> dict[str, ModelReference]:
    """``n_models`` models through the SDK over the last 6 hours: model i answers in
    10 + i ms (so the slowest are the highest numbers), every model but m00 serves v1 and
    v2 (m00 never had a canary), every fourth drifts on feature ``a``; one reference and
    rules file each, and a firing critical alert on m03."""
    rng = np.random.default_rng(7)
    training = pd.DataFrame({"a": rng.normal(0, 1, 2000), "b": rng.normal(5, 2, 2000)})
    (root / "rules").mkdir(parents=True)
    refs = {}
    for i in range(n_models):
        m = _name(i)
        refs[m] = build_reference(m, training, score=rng.random(2000))
        refs[m].save(root / f"{m}.json")
        (root / "rules" / f"{m}.yaml").write_text(
            f"model: {m}\nreference: ../{m}.json\nrules:\n  - name: p99\n"
            "    metric: latency.p99\n    window: 30m\n"
            "    detector: {type: threshold, above: 100}\n"
        )
    store = DuckDBStore(root / "fleet.duckdb")
    monitor = Monitor(DuckDBSink(store), refs, clock=FakeClock(T0))
    end = to_epoch_ms(T0)
    for i in range(n_models):
        for version, n in (("v1", 300), ("v2", 0 if i == 0 else 100)):
            if not n:
                continue
            ts = np.sort(end - rng.integers(1, 6 * 3_600_000, n))
            ts[-1] = end - 60_000  # every model is fresh: status from alerts alone
            shift = 2.0 if i % 4 == 0 else 0.0
            monitor.log_batch(
                model=_name(i), version=version, host="h1",
                features={"a": rng.normal(shift, 1, n), "b": rng.normal(5, 2, n)},
                score=rng.random(n), latency_ms=np.full(n, 10.0 + i), ts_ms=ts,
            )  # fmt: skip
    monitor.close()
    store.close()
    state = AlertStateStore(root / "state" / "alerts.json")
    since = T0 - timedelta(hours=1)
    alert = Alert(
        labels={"alertname": "p99", "model": "m03", "severity": "critical"},
        state=AlertState.FIRING,
        value=1.0,
        active_at=since,
        fired_at=since,
    )
    state.alerts[("m03/p99", alert.fingerprint)] = alert
    state.save()
    return refs


class CountingStore:
    """A real DuckDBStore whose query methods count their calls (by name)."""

    def __init__(self, store: DuckDBStore, hide_fleet: bool = False) -> None:
        self.store = store
        self.hide_fleet = hide_fleet
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        if self.hide_fleet and name.startswith("fleet_"):  # a store like Pinot's
            raise AttributeError(name)
        attr = getattr(self.store, name)
        if not callable(attr) or name == "close":
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return counted


def _context(root: Path, store: CountingStore, refs: dict[str, ModelReference]) -> PageContext:
    clear_caches()  # every count starts from an empty cache
    handle = StoreHandle.of(store)
    return PageContext(
        settings=Settings(db=root / "fleet.duckdb", state_dir=root / "state"),
        handle=handle,
        queries=Queries(handle),
        clock=FakeClock(T0),
        window=DAY,
        model=None,
        references=refs,
    )


@pytest.fixture(scope="module")
def fleets(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, dict]]:
    out = {}
    for n in (3, 12):
        root = tmp_path_factory.mktemp(f"fleet{n}")
        out[n] = (root, build_fleet(root, n))
    return out


def _counted(
    fleets: dict[int, tuple[Path, dict]], n: int, page: Callable[[PageContext], object]
) -> tuple[Counter[str], object]:
    root, refs = fleets[n]
    store = CountingStore(DuckDBStore(root / "fleet.duckdb", read_only=True))
    try:
        result = page(_context(root, store, refs))
    finally:
        store.store.close()
    return store.calls, result


def test_the_fleet_table_asks_as_many_store_queries_for_12_models_as_for_3(fleets) -> None:
    """The table asked latency, its trend and a histogram scan per model: 3,002 queries at
    1,000 models. One fleet query each now, whatever the fleet's size."""
    few, small = _counted(fleets, 3, fleet.fleet_table)
    many, table = _counted(fleets, 12, fleet.fleet_table)
    assert len(small) == 3 and len(table) == 12  # type: ignore[arg-type]
    assert many == few, (few, many)
    assert sum(many.values()) <= 5, many  # models, last_seen and the three fleet queries


def test_the_fleet_table_shows_what_the_per_model_queries_say(fleets) -> None:
    """The fleet queries must give each model its own numbers, worst drift included."""
    root, refs = fleets[12]
    _, table = _counted(fleets, 12, fleet.fleet_table)
    shown = table.set_index("model")  # type: ignore[attr-defined]
    store = DuckDBStore(root / "fleet.duckdb", read_only=True)
    try:
        for m in refs:
            lat = store.latency(DAY.scope(m))
            assert shown.loc[m, "p99 ms"] == pytest.approx(lat["p99"].iloc[0])
            assert shown.loc[m, "qps"] == pytest.approx(lat["count"].iloc[0] / DAY.elapsed_s)
            drift = drift_table(store, DAY.scope(m), Baseline.profile(refs[m]), ["psi"])
            top = drift[drift["rank"] == 1].iloc[0]
            assert shown.loc[m, "worst drift"] == top["feature"]
            assert shown.loc[m, "psi"] == pytest.approx(top["value"])
    finally:
        store.close()
    drifting = {m for i, m in enumerate(refs) if i % 4 == 0}
    assert set(shown.index[shown["psi"] > 0.2]) == drifting  # the shifted feature `a`
    assert set(shown.loc[sorted(drifting), "worst drift"]) == {"a"}


def test_a_store_without_fleet_queries_gets_the_same_table(fleets) -> None:
    """Pinot has no fleet queries: the page asks model by model there, with equal numbers."""
    root, refs = fleets[12]
    _, fast = _counted(fleets, 12, fleet.fleet_table)
    store = CountingStore(DuckDBStore(root / "fleet.duckdb", read_only=True), hide_fleet=True)
    try:
        slow = fleet.fleet_table(_context(root, store, refs))
    finally:
        store.store.close()
    assert store.calls["latency"] == 24  # the whole window and the trend of each model
    assert store.calls["feature_histograms"] == 12
    pd.testing.assert_frame_equal(fast, slow)  # type: ignore[arg-type]


def test_the_canary_hint_asks_one_query_and_names_ten_models(fleets) -> None:
    """The hint asked ``versions`` of each model (up to 200) and named every model with two:
    a paragraph of names at 1,000 models."""
    few, _ = _counted(fleets, 3, lambda ctx: canary._elsewhere(ctx, "m00"))
    many, hint = _counted(fleets, 12, lambda ctx: canary._elsewhere(ctx, "m00"))
    assert many == few and sum(many.values()) <= 2, many
    names = ", ".join(_name(i) for i in range(1, 11))
    assert f"two or more versions in this range: {names} and 1 more" in unescaped(str(hint))


def _app(root: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    argv = ["--db", str(root / "fleet.duckdb"), "--rules", str(root / "rules"),
            "--state-dir", str(root / "state"), "--now", T0.isoformat()]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["app.py", *argv])
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def test_the_fleet_charts_draw_the_ten_slowest_and_count_the_rest(
    fleets, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 lines in one chart are no chart: the ten worst are drawn (a Grafana topk),
    the caption counts the others, and the table lists every model, red first."""
    from tests.dashboard.test_app import figure

    at = _app(fleets[12][0], monkeypatch)
    table = at.dataframe[0].value
    assert len(table) == 12
    assert list(table["model"])[:1] == ["m03"]  # the one critical alert: red, on top
    assert list(table["status"].str.split(" ").str[1]) == ["red"] + ["green"] * 11
    p99 = figure(at, "fleet_p99")
    assert [t["name"] for t in p99["data"]] == [_name(i) for i in range(11, 1, -1)]
    assert "top 10" in p99["layout"]["title"]["text"]
    captions = [c.value for c in at.caption]
    assert any("The 10 slowest by p99 of 12 models; 2 more models not drawn" in c
               for c in captions), captions  # fmt: skip
    assert len(figure(at, "fleet_qps")["data"]) == 10


def test_a_small_fleet_draws_every_model_without_a_note(
    fleets, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.dashboard.test_app import figure

    at = _app(fleets[3][0], monkeypatch)
    assert sorted(t["name"] for t in figure(at, "fleet_p99")["data"]) == ["m00", "m01", "m02"]
    assert not any("not drawn" in c.value for c in at.caption)


def test_a_folder_of_many_configs_is_a_table_and_one_file(
    fleets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fleet's rules folder drew one expander per file: 1,000 to scroll for one model's
    config. Past 20 files the broken ones keep theirs, every file is a table row (broken
    first), and the sidebar model's file is shown."""
    root = fleets[3][0]
    rules = tmp_path / "rules"
    rules.mkdir()
    for f in (root / "rules").iterdir():
        (rules / f.name).write_text(f.read_text().replace("../", f"{root}/"))
    for i in range(3, 24):
        (rules / f"x{i:02d}.yaml").write_text(
            f"model: x{i:02d}\nrules:\n  - name: p99\n    metric: latency.p99\n"
            "    window: 30m\n    detector: {type: threshold, above: 100}\n"
        )
    (rules / "x10.yaml").write_text("model: x10\nrules:\n  - name: p99\n    metric: nope\n")
    argv = ["--db", str(root / "fleet.duckdb"), "--rules", str(rules), "--now", T0.isoformat()]
    monkeypatch.setattr(sys, "argv", ["app.py", *argv])
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.selectbox(key="model").set_value("m01").run()
    at.switch_page("views/configs.py").run()
    assert not at.exception, at.exception
    labels = [e.label for e in at.expander]
    assert len(labels) == 2, labels  # the broken file, and the one shown
    assert labels[0].startswith("x10.yaml — ❌")
    assert labels[1].startswith("m01.yaml — ✅ valid")
    table = at.dataframe[0].value
    assert len(table) == 24 and table["file"].iloc[0] == "x10.yaml"
    assert at.selectbox(key="config_file").value == "m01.yaml"


def test_the_profiles_of_a_40_model_fleet_stay_loaded_between_runs(tmp_path: Path) -> None:
    """Every page run asks for the profile of every model with a rules file; a cache of 32
    profiles evicted each before it was asked again, so a 1,000-model fleet re-read 1,000
    files at every run of every page (2.7 s). A file whose stamp did not change (same size,
    time and inode) is served from memory: rewritten in place with its time put back, the
    profile read before is still the one shown."""
    import os

    from modelhealth.dashboard.sources import load_configs

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(0, 1, 500)})
    (tmp_path / "rules").mkdir()
    for i in range(40):
        m = f"x{i:02d}"
        build_reference(m, frame).save(tmp_path / f"{m}.json")
        (tmp_path / "rules" / f"{m}.yaml").write_text(
            f"model: {m}\nreference: ../{m}.json\nrules:\n  - name: p99\n"
            "    metric: latency.p99\n    window: 30m\n"
            "    detector: {type: threshold, above: 100}\n"
        )
    assert len(load_configs(tmp_path / "rules").references) == 40
    path = tmp_path / "x00.json"
    before = path.stat()
    path.write_text(path.read_text().replace('"x00"', '"y00"'))  # same size, same inode
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_ino == before.st_ino and path.stat().st_size == before.st_size
    assert load_configs(tmp_path / "rules").references["x00"].model == "x00"  # not re-read


def test_the_alerts_page_of_45_alerting_models_stays_readable(
    fleets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every alerting model was pre-selected in the Models filter (45 chips above the
    page) and every alert was a 26 px timeline row; now none picked means all, and the
    timeline draws the 40 alerts that began last and counts the rest."""
    from tests.dashboard.test_app import figure

    state = AlertStateStore(tmp_path / "state" / "alerts.json")
    for i in range(45):
        since = T0 - timedelta(minutes=5 * (45 - i))  # a44 began last
        alert = Alert(
            labels={"alertname": "p99", "model": f"a{i:02d}", "severity": "warning"},
            state=AlertState.FIRING,
            value=1.0,
            active_at=since,
            fired_at=since,
        )
        state.alerts[(f"a{i:02d}/p99", alert.fingerprint)] = alert
        state.record(f"a{i:02d}/p99", alert, since)
    state.save()
    root = fleets[3][0]
    argv = ["--db", str(root / "fleet.duckdb"), "--state-dir", str(tmp_path / "state"),
            "--now", T0.isoformat()]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["app.py", *argv])
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("views/alerts.py").run()
    assert not at.exception, at.exception
    assert at.multiselect(key="alerts_models").value == []
    assert len(at.dataframe[0].value) == 45  # open alerts: every model's
    rows = {y for t in figure(at, "incident_timeline")["data"] for y in t["y"]}
    assert rows == {f"a{i:02d} / p99" for i in range(5, 45)}
    assert any("5 more alerts not drawn" in c.value for c in at.caption)
    assert len(at.dataframe[1].value) == 45  # the incidents table: all of them
