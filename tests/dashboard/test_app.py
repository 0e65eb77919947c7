"""Every dashboard page under streamlit's AppTest, on a seeded DuckDB file with real alerts.

Assertions compare what the page shows (metrics, table cells, plotted series) with the same
numbers queried straight from the store, so a page that renders the wrong data fails.
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from modelhealth.clock import to_epoch_ms
from modelhealth.dashboard.context import TimeWindow
from modelhealth.ingestion.reference import FeatureReference, ModelReference
from modelhealth.rules.state import AlertStateStore
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBStore
from modelhealth.types import AlertState
from tests.conftest import T0
from tests.dashboard.conftest import ROOT, Deployment, unescaped, write_learned_rules

APP = str(ROOT / "modelhealth" / "dashboard" / "app.py")
DAY = TimeWindow.ending(T0, timedelta(hours=24))


@pytest.fixture(scope="module")
def store(deployment: Deployment) -> Iterator[DuckDBStore]:
    s = DuckDBStore(deployment.db, read_only=True)
    yield s
    s.close()


def _decode(node: object) -> object:
    """Plotly >= 6 serialises numeric arrays as base64 typed arrays; turn them into lists."""
    if isinstance(node, dict):
        if "bdata" in node and "dtype" in node:
            arr = np.frombuffer(base64.b64decode(node["bdata"]), dtype=np.dtype(node["dtype"]))
            if "shape" in node:
                shape = node["shape"]
                dims = [int(d) for d in str(shape).split(",")] if isinstance(shape, str) else shape
                arr = arr.reshape(dims)
            return arr.tolist()
        return {k: _decode(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_decode(v) for v in node]
    return node


def figure(at: AppTest, key: str) -> dict:
    """The plotly figure JSON of the chart with widget ``key`` (typed arrays decoded)."""
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        if el.proto.id and key in el.proto.id:
            return _decode(spec)  # type: ignore[return-value]
    raise AssertionError(f"no plotly chart with key {key!r}")


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def go(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def test_fleet_shows_status_qps_p99_and_worst_drift(app: AppTest, store: DuckDBStore) -> None:
    assert not app.error
    table = app.dataframe[0].value.set_index("model")
    assert list(table.index) == ["fraud", "ranker", "churn", "search"]  # red, amber, green
    # open alerts written by the rules engine decide the colour
    assert table.loc["fraud", "status"].endswith("red")  # p99 regression: critical
    assert table.loc["ranker", "status"].endswith("red")  # constant feature: critical
    assert table.loc["churn", "status"].endswith("amber")  # drift warning
    assert table.loc["search", "status"].endswith("green")
    assert metrics(app) == {"Models": "4", "🔴 red": "2", "🟠 amber": "1", "🟢 green": "1"}
    lat = store.latency(DAY.scope("fraud"))
    assert table.loc["fraud", "qps"] == pytest.approx(lat["count"].iloc[0] / 86_400)
    assert table.loc["fraud", "p99 ms"] == pytest.approx(lat["p99"].iloc[0])
    assert table.loc["ranker", "worst drift"] == "ctr_7d"
    assert table.loc["churn", "worst drift"] == "ui_session_minutes"
    assert table.loc["search", "last data (UTC)"].startswith("2026-11-20 11:59")
    p99 = figure(app, "fleet_p99")
    assert sorted(t["name"] for t in p99["data"]) == ["churn", "fraud", "ranker", "search"]


def test_fleet_marks_stale_models_red(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = (T0 + timedelta(hours=2)).isoformat()
    argv = [*deployment.argv()[:-1], later]
    monkeypatch.setattr(sys, "argv", ["app.py", *argv])
    at = AppTest.from_file(APP, default_timeout=120).run()
    table = at.dataframe[0].value.set_index("model")
    assert table.loc["search", "status"].endswith("red")
    assert table.loc["search", "why"].startswith("stale: no data for 2.0 h")


def test_model_page_latency_qps_score_and_features(app: AppTest, store: DuckDBStore) -> None:
    app.sidebar.selectbox(key="model").set_value("churn")
    go(app, "model")
    scope = DAY.scope("churn")
    total = store.latency(scope)
    shown = metrics(app)
    assert shown["Requests"] == f"{int(total['count'].iloc[0]):,}"
    assert shown["p99 latency"] == f"{total['p99'].iloc[0]:.1f} ms"
    lat = figure(app, "latency")
    assert [t["name"] for t in lat["data"]] == ["mean", "p50", "p75", "p90", "p99"]
    buckets = store.latency(scope, step_ms=DAY.step_ms)
    assert lat["data"][4]["y"] == pytest.approx(list(buckets["p99"]))
    qps = figure(app, "qps")
    assert qps["data"][0]["y"] == pytest.approx(list(buckets["count"] / (DAY.step_ms / 1000)))
    assert {t["name"] for t in figure(app, "score")["data"]} >= {"p50", "p90", "mean"}
    feats = app.dataframe[0].value
    assert feats["feature"].iloc[0] == "ui_session_minutes"  # sorted by drift, worst first
    assert feats["drift"].iloc[0] > 10 * feats["drift"].iloc[1]  # 6 of 24 h drifted
    summary = store.feature_summary(scope).set_index("feature")
    row = feats.set_index("feature").loc["monthly_charges"]
    assert row["min"] == pytest.approx(summary.loc["monthly_charges", "min"])
    assert row["null rate"] == pytest.approx(0.0)
    assert len(row["drift trend"]) >= 20
    hist = figure(app, "feature_hist")
    assert [t["name"] for t in hist["data"]] == ["current", "baseline (reference)"]
    assert sum(hist["data"][0]["y"]) == pytest.approx(1.0)


def test_model_page_filters_by_version_and_host(app: AppTest, store: DuckDBStore) -> None:
    app.sidebar.selectbox(key="model").set_value("fraud")
    go(app, "model")
    app.selectbox(key="model_version").set_value("v3").run()
    host = app.selectbox(key="model_host")  # the store lists hosts: a dropdown, not free text
    assert host.options == ["(all)", *store.hosts("fraud")] and "host-a" in host.options
    host.set_value("host-a").run()
    assert not app.exception
    n = store.latency(DAY.scope("fraud", version="v3", host="host-a"))["count"].iloc[0]
    assert metrics(app)["Requests"] == f"{int(n):,}"
    assert n < store.latency(DAY.scope("fraud"))["count"].iloc[0]
    app.selectbox(key="model_feature").set_value("merchant_category").run()
    hist = figure(app, "feature_hist")
    assert "__other__" in hist["data"][0]["x"]


def test_drift_heatmap_orders_features_by_drift(app: AppTest) -> None:
    app.sidebar.selectbox(key="model").set_value("churn")
    go(app, "drift")
    heat = figure(app, "heatmap")["data"][0]
    assert heat["type"] == "heatmap"
    assert heat["y"][0] == "ui_session_minutes"
    assert len(heat["y"]) == 5 and len(heat["x"]) >= 90
    summary = app.dataframe[0].value.set_index("feature")
    # the UI migration started 6 h before T0: about a quarter of the day's buckets drift
    assert 20 <= summary.loc["ui_session_minutes", "drifted buckets"] <= 26
    assert summary.loc["plan", "drifted buckets"] == 0
    app.selectbox(key="heat_metric").set_value("js").run()
    assert figure(app, "heatmap")["data"][0]["colorbar"]["title"]["text"] == "js"


def test_canary_compares_candidate_with_serving(app: AppTest, store: DuckDBStore) -> None:
    app.sidebar.selectbox(key="model").set_value("fraud")
    app.sidebar.selectbox(key="range").set_value("Last 6 hours")
    go(app, "canary")
    versions = app.dataframe[0].value.set_index("version")
    assert set(versions.index) == {"v2", "v3"}
    six = TimeWindow.ending(T0, timedelta(hours=6))
    by_version = store.latency(six.scope("fraud"), by_version=True).set_index("version")
    assert versions.loc["v3", "p99"] == pytest.approx(by_version.loc["v3", "p99"])
    assert versions.loc["v3", "p99"] > 3 * versions.loc["v2", "p99"]  # the slow tail
    names = [t["name"] for t in figure(app, "canary_lat")["data"]]
    assert names == ["v2 p50", "v3 p50", "v2 p99", "v3 p99"]
    score = figure(app, "canary_score")
    assert [t["name"] for t in score["data"]] == ["v2", "v3"]
    drift = app.dataframe[1].value
    assert set(drift["feature"]) == {
        "amount", "txn_velocity", "account_age_days", "country", "merchant_category",
    }  # fmt: skip
    assert not drift["drifted"].any()  # same traffic apart from latency


def test_canary_explains_single_version_models(app: AppTest) -> None:
    app.sidebar.selectbox(key="model").set_value("search")
    go(app, "canary")
    assert "single version" in app.info[0].value
    # and where the canaries are: fraud (v2 + the v3 canary) and ranker (v1 + v2)
    assert "two or more versions in this range: fraud, ranker" in unescaped(app.info[0].value)


def test_alerts_page_timeline_and_silences(app: AppTest, deployment: Deployment) -> None:
    go(app, "alerts")
    state = AlertStateStore(deployment.state_dir / "alerts.json")
    firing = [a for a in state.alerts.values() if a.state == AlertState.FIRING]
    assert metrics(app)["Firing"] == str(len(firing))
    history_lines = (deployment.state_dir / "history.jsonl").read_text().splitlines()
    assert metrics(app)["Transitions"] == str(len(history_lines))
    timeline = figure(app, "incident_timeline")
    rows = {y for t in timeline["data"] for y in t["y"]}
    assert "fraud v3 / p99-latency" in rows  # per version: the row says which
    assert "churn / feature-drift [ui_session_minutes]" in rows
    incidents = app.dataframe[1].value
    assert "merchant_category" in set(incidents["feature"])
    # silence the fraud latency alert, see it muted, then unsilence it
    target = "alertname=p99-latency model=fraud"
    app.selectbox(key="sil_matchers").set_value(target)
    app.text_input(key="sil_comment").set_value("rolling back v3")
    app.button(key="FormSubmitter:silence_form-Silence").click().run()
    assert not app.exception
    assert any("Silenced" in s.value for s in app.success)
    app.run()
    table = app.dataframe[0].value
    muted = table[table["silenced"]]
    assert list(muted["alertname"]) == ["p99-latency"]
    expire = [b for b in app.button if b.key and b.key.startswith("expire_")]
    assert len(expire) == 1
    expire[0].click().run()
    assert not app.dataframe[0].value["silenced"].any()


def test_configs_page_validates_and_backtests(app: AppTest) -> None:
    app.sidebar.selectbox(key="model").set_value("fraud")
    go(app, "configs")
    assert metrics(app) == {"Config files": "4", "Valid": "4", "Rules loaded": "17"}
    assert all("✅ valid" in e.label for e in app.expander)
    labels = [e.label for e in app.expander]
    assert not any(" 1 rules" in label for label in labels), labels
    app.button(key="bt_run").click().run()
    assert not app.exception
    firings = app.dataframe[0].value
    latency = firings[firings["rule"] == "p99-latency"]
    assert list(latency["labels"]) == ["version=v3"]  # only the canary regressed
    start = latency["start"].iloc[0]
    assert (
        pd.Timestamp(T0 - timedelta(hours=3))
        <= start
        <= pd.Timestamp(T0 - timedelta(hours=2, minutes=30))
    )
    names = [t.get("name") for t in figure(app, "bt_chart")["data"]]
    assert "p99" in names and "fires: p99-latency" in names
    assert to_epoch_ms(T0) == DAY.end_ms


def test_configs_page_reports_invalid_files(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    (tmp_path / "bad.yaml").write_text(
        "model: fraud\nrules:\n  - name: x\n    metric: latency.p98\n    window: 5m\n"
        "    detector: {type: threshold, above: 1}\n"
    )
    argv = deployment.argv()
    argv[argv.index("--rules") + 1] = str(tmp_path)
    monkeypatch.setattr(sys, "argv", ["app.py", *argv])
    at = AppTest.from_file(APP, default_timeout=120).run()
    go(at, "configs")
    assert metrics(at)["Valid"] == "0"
    assert "❌ 1 issue — 0 rules" in at.expander[0].label
    shown = unescaped(at.warning[0].value)
    assert "bad.yaml:4" in shown and "latency.p98" in shown


def test_time_range_picker_changes_the_window(app: AppTest, store: DuckDBStore) -> None:
    app.sidebar.selectbox(key="model").set_value("fraud")
    app.sidebar.selectbox(key="range").set_value("Last 1 hour")
    go(app, "model")
    hour = Scope("fraud", to_epoch_ms(T0) - 3_600_000, to_epoch_ms(T0))
    n = store.latency(hour)["count"].iloc[0]
    assert metrics(app)["Requests"] == f"{int(n):,}"
    assert len(figure(app, "latency")["data"][0]["x"]) == 60  # one-minute buckets


def test_configs_page_plots_a_learned_rules_band_and_alerts(
    deployment: Deployment, learned_model_dir, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    write_learned_rules(tmp_path, learned_model_dir)
    argv = deployment.argv()
    argv[argv.index("--rules") + 1] = str(tmp_path)
    monkeypatch.setattr(sys, "argv", ["app.py", *argv])
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.selectbox(key="model").set_value("fraud")
    go(at, "configs")
    assert at.selectbox(key="learned_rule").value == "p99-learned"
    at.selectbox(key="learned_instance").set_value("version=v3").run()
    assert not at.exception, at.exception
    fig = figure(at, "learned_chart")
    names = [t.get("name") for t in fig["data"]]
    assert {"value", "expected", "expected band", "alert"} <= set(names)
    alert = next(t for t in fig["data"] if t.get("name") == "alert")
    assert alert["text"] and all(">=" in w or "classifier" in w for w in alert["text"])
    assert int(metrics(at)["Learned alerts"]) == len(alert["x"]) >= 1
    assert list(at.dataframe[-1].value.columns) == ["time", "value", "expected", "why"]


def _app_at(deployment: Deployment, monkeypatch: pytest.MonkeyPatch, now, *extra: str) -> AppTest:
    """The app with the clock frozen at ``now`` (and ``extra`` arguments appended)."""
    argv = [*deployment.argv()[:-1], now.isoformat(), *extra]
    monkeypatch.setattr(sys, "argv", ["app.py", *argv])
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def test_rates_divide_by_the_time_that_has_happened(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, store: DuckDBStore
) -> None:
    """30 s into the newest one-minute bucket: the QPS chart ends on that bucket's 30 s (not
    its 60), a bucket without requests reads 0 (not left out), and the headline QPS divides
    by the 59.5 minutes lived (not the window's 60)."""
    now = T0 + timedelta(seconds=30)
    at = _app_at(deployment, monkeypatch, now)
    hour = TimeWindow.ending(now, timedelta(hours=1))
    assert hour.end_ms == to_epoch_ms(T0) + 60_000  # ends on the bucket: 30 s in the future
    fleet = at.dataframe[0].value.set_index("model")
    day = TimeWindow.ending(now, timedelta(hours=24))  # T0+5m - 24 h .. T0+30s
    n_day = store.latency(day.scope("fraud"))["count"].iloc[0]
    assert fleet.loc["fraud", "qps"] == pytest.approx(n_day / (86_400 - 270))
    at.sidebar.selectbox(key="model").set_value("fraud")
    at.sidebar.selectbox(key="range").set_value("Last 1 hour")
    go(at, "model")
    n = int(store.latency(hour.scope("fraud"))["count"].iloc[0])
    assert f"{n / 3600:.2f}" != f"{n / 3570:.2f}"  # the data tells the two apart
    assert metrics(at)["QPS"] == f"{n / 3570:.2f}"
    buckets = store.latency(hour.scope("fraud"), step_ms=60_000).set_index("ts")["count"]
    qps = figure(at, "qps")["data"][0]["y"]
    assert len(qps) == 60  # every minute, the empty one starting at T0 included
    last = int(buckets.get(to_epoch_ms(T0), 0))
    assert qps[-1] == pytest.approx(last / 30)  # 0 here: the store's data ends at T0
    assert qps[:-1] == pytest.approx(list(buckets.loc[: to_epoch_ms(T0) - 60_000] / 60))


def test_drift_heatmap_leaves_out_the_bucket_still_filling(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At T0-5m the 15-minute bucket from T0-15m holds 10 minutes: it is not a heatmap cell."""
    at = _app_at(deployment, monkeypatch, T0 - timedelta(minutes=5))
    at.sidebar.selectbox(key="model").set_value("churn")
    go(at, "drift")
    x = figure(at, "heatmap")["data"][0]["x"]
    assert pd.Timestamp(x[-1]) == pd.Timestamp(T0 - timedelta(minutes=30))
    assert pd.Timestamp(x[0]) >= pd.Timestamp(T0 - timedelta(hours=24, minutes=5))
    assert any("incomplete bucket" in c.value for c in at.caption)


def test_model_page_shows_bins_the_reference_does_not_know(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """A churn reference from before the SDK's top bins: 3 fewer edges than the store's."""
    rules, refs = tmp_path / "rules", tmp_path / "references"
    shutil.copytree(deployment.rules, rules)
    shutil.copytree(ROOT / "examples" / "references", refs)
    raw = json.loads((refs / "churn.json").read_text())
    feat = next(f for f in raw["features"] if f["name"] == "monthly_charges")
    feat["edges"], feat["counts"] = (
        feat["edges"][:-3],
        [*feat["counts"][:9], sum(feat["counts"][9:])],
    )
    (refs / "churn.json").write_text(json.dumps(raw))
    argv = deployment.argv()
    argv[argv.index("--rules") + 1] = str(rules)
    monkeypatch.setattr(sys, "argv", ["app.py", *argv])
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.selectbox(key="model").set_value("churn")
    go(at, "model")
    at.selectbox(key="model_feature").set_value("monthly_charges").run()
    hist = figure(at, "feature_hist")["data"]
    assert len(hist[0]["x"]) > 10  # the store's bins 10+ are shown, not dropped
    assert hist[1]["y"][10:] == [0.0] * (len(hist[0]["x"]) - 10)  # the reference has none
    assert sum(hist[0]["y"][10:]) > 0.05  # the top decile the old reference lumped away
    warning = " ".join(unescaped(w.value) for w in at.warning)
    assert "churn.json" in warning and "defines 10 bins" in warning


def test_canary_score_bins_are_labelled_with_ranges(app: AppTest) -> None:
    app.sidebar.selectbox(key="model").set_value("fraud")
    app.sidebar.selectbox(key="range").set_value("Last 6 hours")
    go(app, "canary")
    ref = ModelReference.load(ROOT / "examples" / "references" / "fraud.json")
    labels = FeatureReference("score", "numeric", edges=ref.score_edges).bin_labels()
    assert labels[1].startswith("[") and figure(app, "canary_score")["data"][0]["x"] == labels


def test_silence_and_unsilence_both_show_the_new_state_at_once(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """No extra run after submitting: the open alerts table and the silence list are redrawn."""
    at = _app_at(deployment, monkeypatch, T0, "--alerts-db", str(tmp_path / "alerts.db"))
    go(at, "alerts")
    at.selectbox(key="sil_matchers").set_value("alertname=p99-latency model=fraud")
    at.text_input(key="sil_comment").set_value("rolling back v3")
    at.button(key="FormSubmitter:silence_form-Silence").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table[table["silenced"]]["alertname"]) == ["p99-latency"]
    assert any(unescaped(s.value).startswith("Silenced alertname=p99-latency") for s in at.success)
    expire = [b for b in at.button if b.key and b.key.startswith("expire_")]
    assert len(expire) == 1
    expire[0].click().run()
    assert not at.dataframe[0].value["silenced"].any()
    assert any(unescaped(s.value).startswith("Unsilenced") for s in at.success)
    assert not [b for b in at.button if b.key and b.key.startswith("expire_")]
