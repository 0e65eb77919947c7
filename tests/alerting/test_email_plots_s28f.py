"""The plots of an incident email say what the alert is about (s28f audit of the demo's mails).

A latency alert's plot draws the rule's threshold (in ms) and when the alert began; the time
axis says UTC; the bucket still filling at send time is drawn dashed and said so, instead of
reading as a recovery; the plot about the alert's own metric comes first; a histogram's title
says "last 1 h" and its bin labels are short. Everything runs on a real DuckDB store; the
figures are inspected before they are saved.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from modelhealth.alerting import report
from modelhealth.alerting.notifiers.base import NotificationBatch
from modelhealth.alerting.notifiers.email import EmailConfig, EmailNotifier, SmtpSettings
from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.ingestion.reference import build_reference
from modelhealth.ingestion.sdk import Monitor
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore
from modelhealth.types import Alert, AlertState

NOW = datetime(2026, 3, 2, 9, 3, 20, tzinfo=UTC)  # mid-bucket: the newest one is filling
SINCE = NOW - timedelta(minutes=110)


def _store():
    """fraud v3: latency steps up 2 h before NOW, ``amount`` doubles in the last hour."""
    rng = np.random.default_rng(7)
    ref = build_reference("fraud", pd.DataFrame({"amount": rng.gamma(2, 0.01, 5000)}))
    store = DuckDBStore(":memory:")
    mon = Monitor(DuckDBSink(store), {"fraud": ref}, clock=FakeClock(NOW))
    end = to_epoch_ms(NOW)
    ts = np.sort(rng.integers(end - 7 * 3_600_000, end, 8000)).astype(np.int64)
    latency = rng.gamma(2, 10, ts.size)
    latency[ts > end - 2 * 3_600_000] += 250
    amount = rng.gamma(2, 0.01, ts.size)
    amount[ts > end - 3_600_000] *= 2
    mon.log_batch(
        model="fraud",
        version="v3",
        features={"amount": amount},
        score=rng.random(ts.size),
        latency_ms=latency,
        ts_ms=ts,
    )
    mon.flush()
    return store, {"fraud": ref}


def _latency_alert(severity: str = "critical") -> Alert:
    return Alert(
        labels={
            "alertname": "p99-latency",
            "model": "fraud",
            "version": "v3",
            "severity": severity,
            "metric": "latency.p99",
        },
        annotations={"summary": "latency.p99 on fraud", "value": "351.6", "threshold": "100"},
        state=AlertState.FIRING,
        value=351.6,
        active_at=SINCE,
        fired_at=SINCE + timedelta(minutes=5),
    )


def _drift_alert(severity: str = "warning") -> Alert:
    return Alert(
        labels={
            "alertname": "feature-drift",
            "model": "fraud",
            "version": "v3",
            "severity": severity,
            "metric": "feature.drift.psi",
            "feature": "amount",
        },
        annotations={"summary": "drift", "value": "0.74", "threshold": "0.25"},
        state=AlertState.FIRING,
        value=0.74,
        active_at=SINCE,
        fired_at=SINCE,
    )


def _latency_axes(alerts: list[Alert]):
    store, _ = _store()
    fig = report.latency_plot_figure(store, "fraud", NOW, timedelta(hours=6), "v3", alerts)
    assert fig is not None
    (ax,) = fig.axes
    return ax


def test_latency_plot_draws_the_threshold_in_ms_and_when_the_alert_began() -> None:
    ax = _latency_axes([_latency_alert()])
    horizontal = [ln for ln in ax.get_lines() if len(set(np.asarray(ln.get_ydata()))) == 1]
    assert [float(ln.get_ydata()[0]) for ln in horizontal] == [100.0]
    (threshold,) = horizontal
    assert "100 ms" in threshold.get_label() and "351.6 ms" in threshold.get_label()
    assert "ms" in ax.get_ylabel()
    vertical = [ln for ln in ax.get_lines() if len(set(np.asarray(ln.get_xdata()))) == 1]
    starts = [float(date2num(ln.get_xdata()[0])) for ln in vertical]
    assert starts == [date2num(SINCE)]  # active_at: since when the line was crossed
    texts = [t.get_text() for t in ax.texts]
    assert f"since {SINCE:%H:%M}" in texts


def test_a_drift_alert_draws_no_latency_threshold() -> None:
    ax = _latency_axes([_drift_alert()])
    assert [ln for ln in ax.get_lines() if len(set(np.asarray(ln.get_ydata()))) == 1] == []


def test_time_axis_says_utc() -> None:
    ax = _latency_axes([_latency_alert()])
    assert "UTC" in ax.get_xlabel()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert any(re.fullmatch(r"\d\d:\d\d", s) for s in labels)


def test_the_bucket_still_filling_is_drawn_dashed_and_said_so() -> None:
    start, _end, step = report.latency_buckets(NOW, timedelta(hours=6))
    assert start % step == 0  # the first bucket is whole: only the newest one is partial
    ax = _latency_axes([_latency_alert()])
    last = datetime.fromtimestamp((to_epoch_ms(NOW) // step) * step / 1000, UTC)
    assert last < NOW < last + timedelta(milliseconds=step)
    solid = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-" and ln.get_label() == "p99"]
    (p99,) = solid
    assert max(p99.get_xdata()) < last  # the solid line stops at the last complete bucket
    dashed = [
        ln
        for ln in ax.get_lines()
        if ln.get_linestyle() == "--" and ln.get_color() == p99.get_color()
    ]
    (tail,) = dashed
    assert max(tail.get_xdata()) == last and tail.get_markerfacecolor() == "white"
    assert "filling" in ax.get_xlabel()


def _email(alerts: list[Alert]):
    store, refs = _store()
    context = report.incident_context(alerts, NOW, store, refs)
    batch = NotificationBatch(
        receiver="mail",
        group_key="g",
        dedup_key="d",
        status="firing",
        reason="new_alerts",
        group_labels={"model": "fraud"},
        alerts=[a.to_dict() for a in alerts],
        created_at=NOW.isoformat(),
        context=context,
    )
    return EmailNotifier(EmailConfig(to=("a@example.com",)), SmtpSettings()).render(batch)


def _email_order(alerts: list[Alert]) -> list[str]:
    html = _email(alerts).get_body(("html",)).get_content()
    return [cid.split("@")[0] for cid in re.findall(r'src="cid:([^"]+)"', html)]


def test_a_feature_alert_shows_its_histogram_before_the_model_latency() -> None:
    assert _email_order([_drift_alert()]) == ["hist-fraud-amount", "latency-fraud-v3"]


def test_the_most_severe_alerts_plot_comes_first() -> None:
    both = [_drift_alert("warning"), _latency_alert("critical")]
    assert _email_order(both) == ["latency-fraud-v3", "hist-fraud-amount"]
    both = [_latency_alert("warning"), _drift_alert("critical")]
    assert _email_order(both) == ["hist-fraud-amount", "latency-fraud-v3"]


def test_histogram_title_says_last_1_h_and_its_bin_labels_are_short() -> None:
    store, refs = _store()
    fig = report.histogram_plot_figure(store, refs, "fraud", "amount", NOW, timedelta(hours=1))
    assert fig is not None
    (ax,) = fig.axes
    assert "last 1 h" in ax.get_title() and "1:00:00" not in ax.get_title()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels and all(len(s) <= 15 for s in labels), labels
    numbers = [m for s in labels for m in re.findall(r"(\d+(?:\.\d+)?)(?:e-?\d+)?", s)]
    significant = [n.replace(".", "").lstrip("0") for n in numbers]
    assert numbers and all(len(d) <= 3 for d in significant), labels  # 3 significant digits
    assert all(t.get_rotation() > 0 for t in ax.get_xticklabels())


def test_the_emails_own_render_path_draws_all_of_it(monkeypatch) -> None:
    """Through ``incident_context`` (what the dispatcher calls), every figure is recorded as
    it is saved (``savefig`` still runs): the same structure reaches the mail."""
    saved: list[Figure] = []
    real_savefig = Figure.savefig

    def recording_savefig(self: Figure, *args: object, **kwargs: object) -> None:
        saved.append(self)
        real_savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", recording_savefig)
    store, refs = _store()
    context = report.incident_context([_latency_alert(), _drift_alert()], NOW, store, refs)
    assert len(context["plots"]) == len(saved) == 2 and not context["notes"]
    latency, histogram = (fig.axes[0] for fig in saved)
    assert "UTC" in latency.get_xlabel() and "ms" in latency.get_ylabel()
    flat = [ln.get_ydata()[0] for ln in latency.get_lines() if len(set(ln.get_ydata())) == 1]
    assert flat == [100.0]
    assert "--" in [ln.get_linestyle() for ln in latency.get_lines()]
    assert "last 1 h" in histogram.get_title()


def test_a_latency_alerts_value_and_threshold_say_ms() -> None:
    msg = _email([_latency_alert(), _drift_alert()])
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert "<td>351.6 ms</td>" in html and "<td>100 ms</td>" in html
    assert "<td>0.74</td>" in html and "<td>0.25</td>" in html  # a drift score has no unit
    assert "value 351.6 ms, threshold 100 ms" in text
    assert "value 0.74, threshold 0.25" in text


def test_a_score_alert_shows_the_score_first_with_its_threshold() -> None:
    score = Alert(
        labels={
            "alertname": "score-mean",
            "model": "fraud",
            "version": "v3",
            "severity": "warning",
            "metric": "score.mean",
        },
        annotations={"summary": "score.mean on fraud", "value": "0.5", "threshold": "0.45"},
        state=AlertState.FIRING,
        value=0.5,
        active_at=SINCE,
        fired_at=SINCE,
    )
    assert _email_order([score]) == ["score-fraud-v3", "latency-fraud-v3"]
    store, _ = _store()
    fig = report.score_plot_figure(store, "fraud", NOW, timedelta(hours=6), "v3", [score])
    assert fig is not None
    (ax,) = fig.axes
    flat = [ln for ln in ax.get_lines() if len(set(np.asarray(ln.get_ydata()))) == 1]
    assert [float(ln.get_ydata()[0]) for ln in flat] == [0.45]
    assert "ms" not in flat[0].get_label() and "UTC" in ax.get_xlabel()
    (mean,) = [ln for ln in ax.get_lines() if ln.get_label() == "mean"]
    assert 0.4 < float(np.mean(mean.get_ydata())) < 0.6  # the stored scores, uniform(0, 1)
