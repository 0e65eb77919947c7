"""Which recent window the canary's version table uses: the longest window of the model's
``latency.p99`` rules that judge the versions shown, never longer than the range.

The longest, because the p99 of a short window of a small canary is its worst few requests:
the demo's learned rule judges fraud's p99 every 5 minutes, 60 requests of v3."""

from __future__ import annotations

from datetime import timedelta

from modelhealth.clock import FakeClock, to_epoch_ms
from modelhealth.dashboard.context import PageContext, Settings, TimeWindow
from modelhealth.dashboard.views.canary import RECENT_DEFAULT, recent_window
from modelhealth.rules.config import RuleSpec
from tests.conftest import T0


def _p99(name: str, minutes: int, model: str = "fraud", version: str | None = None) -> RuleSpec:
    return RuleSpec(
        name=name,
        model=model,
        metric="latency.p99",
        window=timedelta(minutes=minutes),
        detector_type="threshold",
        detector_params={"above": 100},
        version=version,
    )


def _ctx(window: TimeWindow, *rules: RuleSpec) -> PageContext:
    """A context with what :func:`recent_window` reads: the window, the model, the rules."""
    return PageContext(
        settings=Settings(),
        handle=None,  # type: ignore[arg-type]  # not queried
        queries=None,  # type: ignore[arg-type]
        clock=FakeClock(T0),
        window=window,
        model="fraud",
        rules=rules,
    )


DAY = TimeWindow.ending(T0, timedelta(hours=24))
END = to_epoch_ms(T0)


def test_the_longest_p99_rule_window_judging_the_versions() -> None:
    rules = (
        _p99("p99-learned", 5),
        _p99("p99-latency", 30),
        _p99("v9-only", 120, version="v9"),  # judges no version shown
        _p99("other-model", 90, model="churn"),
    )
    recent = recent_window(_ctx(DAY, *rules), ["v2", "v3"])
    assert (recent.start_ms, recent.end_ms, recent.rule) == (END - 30 * 60_000, END, "p99-latency")
    assert recent.span == "30 min"
    assert recent_window(_ctx(DAY, *rules), ["v2", "v9"]).rule == "v9-only"


def test_without_a_rule_the_default_and_never_past_the_range() -> None:
    recent = recent_window(_ctx(DAY), ["v2", "v3"])
    assert recent.rule is None
    assert recent.end_ms - recent.start_ms == RECENT_DEFAULT.total_seconds() * 1000
    quarter = TimeWindow.between(T0 - timedelta(minutes=15), T0)
    short = recent_window(_ctx(quarter, _p99("p99-latency", 30)), ["v2", "v3"])
    assert (short.start_ms, short.end_ms) == (quarter.start_ms, END)
    assert short.span == "15 min"
