"""QA pass 5 on the dashboard: no stray text from Streamlit magic, markdown-safe messages,
model-only and '+'-offset deep links, the Model page's Quality section, the backtest overlay
of a performance rule, and the Pinot demo's dashboard wiring."""

from __future__ import annotations

import ast
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.runtime.scriptrunner.magic import add_magic
from streamlit.testing.v1 import AppTest

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.dashboard.context import DEFAULT_RANGE, TimeWindow
from modelhealth.dashboard.quality import quality, task_of
from modelhealth.dashboard.text import plain
from modelhealth.ingestion import Monitor
from modelhealth.performance.windows import performance_table
from modelhealth.store.backend import Scope
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from tests.conftest import T0
from tests.dashboard.conftest import ROOT, Deployment, unescaped
from tests.dashboard.test_app import APP, figure, go, metrics

DASH = ROOT / "modelhealth" / "dashboard"
DAY = TimeWindow.ending(T0, timedelta(hours=24))

# -- 1. Streamlit magic --------------------------------------------------------------------


def _magic_writes(path: Path) -> list[tuple[int, str]]:
    """Lines where Streamlit's magic would write a bare expression of ``path`` onto the page."""
    tree = add_magic(path.read_text(), str(path))
    return [
        (node.lineno, ast.unparse(node)[:80])
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "transparent_write"
    ]


def test_no_page_script_has_a_bare_expression_magic_would_show() -> None:
    scripts = [DASH / "app.py", *sorted((DASH / "views").glob("*.py"))]
    found = {str(p.relative_to(ROOT)): _magic_writes(p) for p in scripts}
    assert {p: w for p, w in found.items() if w} == {}


def test_the_alerts_page_starts_with_its_title(app_at: AppTest) -> None:
    go(app_at, "alerts")
    assert not any("Session key" in m.value for m in app_at.markdown)
    assert app_at.title[0].value == "Alerts"


@pytest.fixture
def app_at(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    return _app(deployment.argv(), monkeypatch)


def _app(argv: list[str], monkeypatch: pytest.MonkeyPatch, **params: str) -> AppTest:
    monkeypatch.setattr(sys, "argv", ["app.py", *argv])
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


# -- 2. markdown in messages ---------------------------------------------------------------


def test_plain_escapes_what_markdown_would_eat() -> None:
    text = "letters, digits, '_', '.', '-' *x* [a](b) :red[c] $d$ `e` \\f"
    escaped = plain(text)
    assert "'\\_'" in escaped and "\\*x\\*" in escaped and "\\:red\\[c\\]" in escaped
    assert "\\$d\\$" in escaped and "\\`e\\`" in escaped
    assert unescaped(escaped) == text
    assert plain(ValueError("a_b")) == "a\\_b"


def test_a_bad_link_model_warning_keeps_its_underscores(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(
        deployment.argv(), monkeypatch, model="not a name!",
        **{"from": "2026-11-20T05:00Z", "to": "2026-11-20T07:00Z"},
    )  # fmt: skip
    [warning] = [w.value for w in at.warning]
    assert at.sidebar.selectbox(key="range").value == "From link"  # the range still applies
    assert "'\\_'" in warning  # escaped: rendered as '_', not as emphasis
    assert "letters, digits, '_'" in unescaped(warning)


def test_a_silence_comment_is_shown_as_typed(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    argv = [*deployment.argv(), "--alerts-db", str(tmp_path / "alerts.db")]
    at = go(_app(argv, monkeypatch), "alerts")
    at.selectbox(key="sil_matchers").set_value("alertname=p99-latency model=fraud")
    at.text_input(key="sil_comment").set_value("roll_back v3 *now*")
    at.text_input(key="sil_by").set_value("on_call")
    at.button(key="FormSubmitter:silence_form-Silence").click().run()
    assert not at.exception, at.exception
    [line] = [m.value for m in at.markdown if "roll" in m.value]
    assert "on\\_call: roll\\_back v3 \\*now\\*" in line
    assert unescaped(line).endswith("on_call: roll_back v3 *now*")


# -- 3. deep links -------------------------------------------------------------------------


def test_a_link_with_only_a_model_opens_that_model(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(deployment.argv(), monkeypatch, model="ranker")
    assert not at.warning
    assert at.sidebar.selectbox(key="model").value == "ranker"
    assert at.sidebar.selectbox(key="range").value == DEFAULT_RANGE
    go(at, "model")
    assert at.title[0].value == "Model: ranker"


def test_a_model_only_link_to_an_unknown_model_says_so(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(deployment.argv(), monkeypatch, model="nosuch")
    assert any("'nosuch' has no data" in unescaped(w.value) for w in at.warning)


def test_a_plus_offset_decoded_as_a_space_is_read_as_the_offset(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ?from=2026-11-20T07:00+02:00 arrives with the '+' decoded to a space
    at = _app(
        deployment.argv(), monkeypatch, model="churn",
        **{"from": "2026-11-20T07:00 02:00", "to": "2026-11-20T09:00 02:00"},
    )  # fmt: skip
    assert not at.warning, [w.value for w in at.warning]
    assert at.sidebar.selectbox(key="range").value == "From link"
    go(at, "model")
    start, end = T0 - timedelta(hours=7), T0 - timedelta(hours=5)  # 05:00Z-07:00Z
    store = DuckDBStore(deployment.db, read_only=True)
    try:
        n = store.latency(Scope("churn", to_epoch_ms(start), to_epoch_ms(end)))["count"].iloc[0]
    finally:
        store.close()
    assert metrics(at)["Requests"] == f"{int(n):,}"


# -- 4. quality ----------------------------------------------------------------------------

RULES = """model: clf
rules:
  - name: accuracy-drop
    metric: performance.accuracy
    window: 1h
    label_delay: 1h
    detector: {type: threshold, below: 0.99}
"""


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A store with a classifier (0/1 labels, quality decaying in its last 4 h), a
    regressor (continuous labels) and a model without labels; and a rules folder."""
    root = tmp_path_factory.mktemp("quality")
    db, rules = root / "labelled.duckdb", root / "rules"
    rules.mkdir()
    (rules / "clf.yaml").write_text(RULES)
    rng = np.random.default_rng(5)
    store = DuckDBStore(db)
    mon = Monitor(DuckDBSink(store), clock=FakeClock(T0))
    start = to_epoch_ms(T0 - timedelta(hours=12))
    n = 12 * 360  # one prediction every 10 s
    ts = start + np.arange(n, dtype=np.int64) * 10_000
    score = rng.random(n)
    good = ts < to_epoch_ms(T0 - timedelta(hours=4))
    y = np.where(good, rng.random(n) < score, rng.random(n) < 0.5).astype(float)
    for model, s, labels in (
        ("clf", score, y),
        ("reg", 100 + 10 * rng.standard_normal(n), None),
        ("nolab", score, None),
    ):
        ids = [f"{model}-{i}" for i in range(n)]
        mon.log_batch(model=model, version="v1", features={"x": rng.random(n)}, score=s,
                      latency_ms=np.ones(n), ts_ms=ts, request_ids=ids)  # fmt: skip
        if model == "nolab":
            continue
        truth = labels if labels is not None else s + 5 * rng.standard_normal(n)
        for rid, t, lab in zip(ids, ts, truth, strict=True):
            at = (t + 1_800_000) / 1000  # labels come back half an hour later
            mon.log_outcome(model=model, request_id=rid, label=float(lab), ts=at)
    mon.flush()
    store.close()
    return db, rules


def _labelled_app(
    labelled: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, model: str
) -> AppTest:
    db, rules = labelled
    argv = ["--db", str(db), "--rules", str(rules), "--now", T0.isoformat()]
    at = _app(argv, monkeypatch)
    at.sidebar.selectbox(key="model").set_value(model)
    return go(at, "model")


def _expected(db: Path, model: str, delay: timedelta, task: str) -> Any:
    store = DuckDBStore(db, read_only=True)
    try:
        return performance_table(
            store, DAY.scope(model), DAY.step_ms, now=T0, task=task, label_delay=delay,
            min_label_coverage=0.0,
        )  # fmt: skip
    finally:
        store.close()


def test_the_model_page_plots_accuracy_auc_and_labels_per_bucket(
    labelled: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _labelled_app(labelled, monkeypatch, "clf")
    fig = figure(at, "quality")
    traces = {t["name"]: t for t in fig["data"]}
    assert {"labels", "accuracy", "auc", "waiting for labels"} <= set(traces)
    want = _expected(labelled[0], "clf", timedelta(hours=1), "classification")
    assert traces["labels"]["y"] == list(want["labelled"])
    scored = want["status"] == "scored"  # 30 labels per 5-min bucket: all judged
    got = np.array(traces["accuracy"]["y"], dtype=float)
    assert got[scored.to_numpy()] == pytest.approx(list(want.loc[scored, "accuracy"]))
    assert np.isnan(got[~scored.to_numpy()]).all()  # waiting: no value drawn
    # the rule's label_delay (1 h) marks the last hour as waiting
    assert int((want["status"] == "waiting").sum()) == 12  # 11:00-11:55
    assert metrics(at)["Buckets waiting for labels"] == "12"
    shapes = fig["layout"]["shapes"]
    assert len(shapes) == 1 and shapes[0]["x0"].startswith("2026-11-20T11:00")
    early = want[scored & (want["ts"] < to_epoch_ms(T0 - timedelta(hours=5)))]["accuracy"]
    late = want[scored & (want["ts"] >= to_epoch_ms(T0 - timedelta(hours=4)))]["accuracy"]
    assert early.mean() > late.mean() + 0.1  # the decay is visible


def test_regression_labels_get_mae_and_rmse(
    labelled: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _labelled_app(labelled, monkeypatch, "reg")
    traces = {t["name"]: t for t in figure(at, "quality")["data"]}
    assert {"labels", "mae", "rmse"} <= set(traces) and "accuracy" not in traces
    want = _expected(labelled[0], "reg", timedelta(0), "regression")
    scored = ((want["status"] == "scored") & (want["labelled"] >= 20)).to_numpy()
    assert not scored[-1]  # 11:00-12:00 has labels only up to 11:30: too few to judge at 12:00
    got = np.array(traces["mae"]["y"], dtype=float)
    assert got[scored] == pytest.approx(list(want.loc[scored, "mae"]))
    assert 3 < np.nanmean(got) < 5  # |N(0, 5)| has mean 4


def test_a_model_without_labels_says_so(
    labelled: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _labelled_app(labelled, monkeypatch, "nolab")
    assert any("No labels for nolab" in unescaped(i.value) for i in at.info)
    with pytest.raises(AssertionError):
        figure(at, "quality")


def test_quality_judges_like_the_rules() -> None:
    assert task_of([0.0, 1.0, float("nan")]) == "classification"
    assert task_of([0.0, 0.5]) == "regression"
    scope = Scope("m", 0, 600_000)
    score = pd.DataFrame({"ts": [0, 300_000], "count": [25, 25]})
    rows = [(0, f"a{i}", 0.9, 1.0, 1000) for i in range(25)]
    rows += [(300_000, f"b{i}", 0.9, 0.0, 301_000) for i in range(10)]  # too few labels
    out = pd.DataFrame(rows, columns=["ts", "request_id", "score", "label", "ts_label"])
    found = quality(score, out, scope, 300_000, T0)
    assert list(found.table["status"]) == ["scored", "insufficient_labels"]
    assert found.table["accuracy"].iloc[0] == 1.0 and np.isnan(found.table["accuracy"].iloc[1])


def test_the_backtest_of_a_performance_rule_draws_its_metric(
    labelled: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _labelled_app(labelled, monkeypatch, "clf")
    go(at, "configs")
    at.button(key="bt_run").click().run()
    assert not at.exception, at.exception
    firings = at.dataframe[0].value
    assert list(firings["rule"].unique()) == ["accuracy-drop"]
    traces = {t["name"]: t for t in figure(at, "bt_chart")["data"]}
    assert "accuracy" in traces and "p99" not in traces and "fires: accuracy-drop" in traces
    want = _expected(labelled[0], "clf", timedelta(hours=1), "classification")
    got = np.array(traces["accuracy"]["y"], dtype=float)
    scored = (want["status"] == "scored").to_numpy()
    assert got[scored] == pytest.approx(list(want.loc[scored, "accuracy"]))


# -- 5. the Pinot demo's dashboard ---------------------------------------------------------


def test_the_demo_dashboard_reads_pinot_when_there_is_no_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelhealth.demo import wiring

    started: list[list[str]] = []

    class Proc:
        def __init__(self, cmd: list[str], **_: object) -> None:
            started.append(cmd)

    monkeypatch.setattr(wiring.subprocess, "Popen", Proc)
    proc = wiring.start_dashboard(None, tmp_path, tmp_path, 8599, pinot="http://127.0.0.1:8099")
    assert isinstance(proc, Proc)
    cmd = started[0]
    assert cmd[cmd.index("--pinot") + 1] == "http://127.0.0.1:8099" and "--db" not in cmd
    assert cmd[cmd.index("--port") + 1] == "8599"
    assert wiring.start_dashboard(None, tmp_path, tmp_path, 8599) is None
    assert wiring.dashboard_url(True, 8599) == "http://127.0.0.1:8599"
    assert wiring.dashboard_url(False, 8599) == ""  # no dead links in notifications


def test_dashboard_help_names_pinot_and_usage_errors_are_not_buried_in_warnings() -> None:
    """Every ``modelhealth dashboard`` call printed five Streamlit "No runtime found" warnings
    before its help or usage error, and the help did not mention --pinot."""
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "modelhealth.cli", "dashboard", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    helped = run("--help")
    assert helped.returncode == 0 and "--pinot BROKER_URL" in helped.stdout
    bad = run("--bogus")
    assert bad.returncode == 2 and "unrecognized arguments: --bogus" in bad.stderr
    assert "No runtime found" not in bad.stderr + helped.stderr
