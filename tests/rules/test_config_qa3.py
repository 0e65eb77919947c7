"""Config validation found by QA: settings the engine cannot honour are errors when the config
loads, YAML merge keys work, and one bad value costs one rule, named with its field."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from modelhealth.rules.config import LoadResult, load_rules, never_fires
from modelhealth.rules.detectors import DETECTORS
from modelhealth.rules.durations import parse_duration
from modelhealth.types import Series

HEAD = "model: m\nrules:\n"
GOOD = """  - name: good
    metric: latency.p50
    window: 5m
    detector: {type: threshold, above: 100}
"""


def _load(tmp_path: Path, rules: str, name: str = "m.yaml") -> tuple[LoadResult, list[str]]:
    path = tmp_path / name
    path.write_text(HEAD + rules + GOOD)
    loaded = load_rules([path])
    return loaded, [str(i).removeprefix(str(path)) for i in loaded.issues]


def _names(loaded: LoadResult) -> list[str]:
    return [r.name for r in loaded.rules]


def test_group_by_host_is_rejected_saying_what_is_supported(tmp_path):
    """The store has no host column: `group_by: [host]` was accepted and then ignored."""
    loaded, msgs = _load(
        tmp_path,
        """  - name: lat-host
    metric: latency.p50
    window: 1h
    group_by: [host]
    detector: {type: threshold, above: 60}
  - name: lat-version
    metric: latency.p50
    window: 1h
    group_by: [version]
    detector: {type: threshold, above: 60}
""",
    )
    assert msgs == [
        ":6:15: rule 1 \"lat-host\": group_by: cannot group by 'host': the store keeps no "
        "per-host series; the only supported grouping is group_by: [version]"
    ]
    assert _names(loaded) == ["lat-version", "good"]


@pytest.mark.parametrize("metric", ["score.mean", "score.p90", "score.drift.psi"])
def test_score_metrics_cannot_be_grouped_by_version(tmp_path, metric):
    """It raised at every tick (score.*) or judged all versions at once (score.drift.*)."""
    loaded, msgs = _load(
        tmp_path,
        f"""  - name: score-by-version
    metric: {metric}
    window: 1h
    group_by: [version]
    detector: {{type: threshold, above: 0}}
""",
    )
    assert [m for m in msgs if "group_by" in m] == [  # score.drift.* also wants a reference
        f':6:15: rule 1 "score-by-version": group_by: score metrics ({metric}) cannot be '
        "grouped by version yet: remove group_by, or write one rule per version with "
        "'version: V'"
    ]
    assert _names(loaded) == ["good"]


NEVER = [
    # (window, detector, expected message, or "" when it can fire)
    (
        "5h",
        "{type: zscore, z: 3}",
        "zscore would never fire: lookback 1d holds 5 window(s) of 5h, fewer than min_points "
        "6; use lookback of at least 30h or min_points of at most 5",
    ),
    (
        "1h",
        "{type: zscore, lookback: 30m, min_points: 2}",
        "zscore would never fire: lookback 30m holds 1 window(s) of 1h, fewer than min_points "
        "2; use lookback of at least 2h",
    ),
    ("4h", "{type: zscore}", ""),
    ("2h", "{type: zscore, lookback: 3h, min_points: 2}", ""),
    (
        "1h",
        "{type: holt_winters, season: 30m, cycles: 3}",
        "holt_winters would never fire: season 30m spans 0.5 window(s) of 1h, it needs at "
        "least 2 points per season; use a season of at least 2h or a window of at most 15m",
    ),
    (
        "1h",
        "{type: holt_winters, season: 90m, cycles: 3}",
        "holt_winters: season 90m is not a whole number of windows of 1h, so the same window "
        "of past seasons never lines up with the newest one; use a season of 2h, or a window "
        "that divides 90m (e.g. 30m)",
    ),
    (
        "2h",
        "{type: seasonal, season: 1d, periods: 2}",
        "",
    ),
    (
        "5h",
        "{type: seasonal, season: 1d, periods: 2}",
        "seasonal: season 1d is not a whole number of windows of 5h, so the same window of "
        "past seasons never lines up with the newest one; use a season of 25h, or a window "
        "that divides 1d (e.g. 1h)",
    ),
    ("1h", "{type: holt_winters, season: 2h, cycles: 2}", ""),
    ("1h", "{type: holt_winters, season: 1d}", ""),
    (
        "1d",
        "{type: seasonal, season: 1h, periods: 3}",
        "seasonal: season 1h is shorter than the window 1d, so each point covers more than a "
        "season and none lies one season before the newest (it would never fire, or compare "
        "the wrong windows); use a season of at least 1d or a window of at most 1h",
    ),
    ("1h", "{type: seasonal, season: 1h, periods: 3}", ""),
    ("1h", "{type: seasonal, season: 1d, periods: 2}", ""),
]


@pytest.mark.parametrize(("window", "detector", "expected"), NEVER)
def test_detectors_that_could_never_fire_are_config_errors(tmp_path, window, detector, expected):
    loaded, msgs = _load(
        tmp_path,
        f"""  - name: r
    metric: latency.mean
    window: {window}
    detector: {detector}
""",
    )
    if expected:
        assert msgs == [f':6:15: rule 1 "r": detector: {expected}']
        assert _names(loaded) == ["good"]
    else:
        assert msgs == [] and _names(loaded) == ["r", "good"]


@pytest.mark.parametrize(("window", "detector", "expected"), NEVER)
def test_the_check_agrees_with_the_detector_on_the_history_a_rule_fetches(
    window, detector, expected
):
    """A rule's series is ceil(lookback / window) windows of history plus the newest one
    (series.plan_rule); the detector warms up forever exactly when the config says so."""
    import yaml

    params = yaml.safe_load(detector)
    dtype = params.pop("type")
    det = DETECTORS[dtype](**params)
    w = parse_duration(window)
    points = max(math.ceil(det.lookback / w), 1)
    rng = np.random.default_rng(3)
    values = 100 + 10 * np.sin(np.arange(points + 1)) + rng.normal(0, 1, points + 1)
    values[-1] = 1e6
    result = det.evaluate(Series.from_values(values, step_s=int(w.total_seconds())))
    warming = result.detail.startswith("warming up")
    if "not a whole number of windows" in expected:
        assert not warming  # it judges, but against windows that never line up
    elif dtype == "seasonal" and expected:
        assert warming  # season 1h in a 1d window: nothing one season back
    else:
        assert warming == bool(never_fires(dtype, det, w)), result.detail


def test_a_detector_with_lookback_on_score_drift_is_an_error(tmp_path):
    """score.drift.* has no history (plan_rule fetches none): a zscore warmed up forever."""
    _, msgs = _load(
        tmp_path,
        """  - name: sd
    metric: score.drift.psi
    window: 1h
    detector: {type: zscore, lookback: 1d}
""",
    )
    assert [m for m in msgs if "detector:" in m] == [
        ':6:15: rule 1 "sd": detector: score.drift.psi is computed for the current window only '
        "(no history), but this detector needs 1d of it, so it would never fire; use one "
        "without lookback, e.g. {type: threshold, above: 0.2}"
    ]


def test_yaml_merge_keys_merge_with_explicit_keys_winning(tmp_path):
    """`<<: *base` lost the whole file ("could not determine a constructor ... merge")."""
    loaded, msgs = _load(
        tmp_path,
        """  - &base
    name: a1
    metric: latency.p50
    window: 5m
    detector: &det {type: threshold, above: 100}
    severity: critical
  - <<: *base
    name: a2
    window: 10m
  - <<: [{window: 15m, metric: latency.p99}, *base]
    name: a3
  - <<: *base
    name: a4
    detector: {<<: *det, abov: 3}
""",
    )
    by_name = {r.name: r for r in loaded.rules}
    assert sorted(by_name) == ["a1", "a2", "a3", "good"]
    assert by_name["a2"].window == timedelta(minutes=10)
    assert (by_name["a2"].metric, by_name["a2"].severity) == ("latency.p50", "critical")
    assert by_name["a2"].detector_params == {"above": 100}
    # the first merged mapping wins over later ones (the YAML merge-key spec)
    assert (by_name["a3"].window, by_name["a3"].metric) == (timedelta(minutes=15), "latency.p99")
    # errors in merged rules keep the lines the values were written on
    assert msgs == [
        ":16:32: rule 4 \"a4\": detector: unknown parameter 'abov' for threshold; expected one "
        "of above, below; did you mean 'above'?"
    ]


def test_an_unreadable_value_costs_its_rule_only_and_names_rule_and_field(tmp_path):
    """`from: 2026-02-30` dropped every rule of the file, with no rule or field named."""
    loaded, msgs = _load(
        tmp_path,
        """  - name: good1
    metric: latency.p50
    window: 5m
    detector: {type: threshold, above: 100}
  - name: baddate
    metric: latency.p50
    window: 5m
    baseline: {from: 2026-02-30, to: 2026-03-05}
    detector: {type: change, pct: 10}
""",
    )
    assert msgs == [
        ":10:22: rule 2 \"baddate\": baseline.from: '2026-02-30' is not a valid date/time: day "
        "is out of range for month"
    ]
    assert _names(loaded) == ["good1", "good"]


def test_an_unreadable_value_outside_the_rules_is_located(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("model: m\nlabels: {since: 2026-02-30}\nrules:\n" + GOOD)
    loaded = load_rules([path])
    assert [str(i) for i in loaded.issues] == [
        f"{path}:2:17: labels.since: '2026-02-30' is not a valid date/time: day is out of "
        "range for month"
    ]


def test_a_duplicate_key_names_its_rule_and_the_first_line(tmp_path):
    loaded, msgs = _load(
        tmp_path,
        """  - name: r11
    metric: latency.p99
    window: 5m
    window: 10m
    detector: {type: threshold, above: 1, above: 2}
""",
    )
    assert msgs == [
        ':6:5: rule 1 "r11": window: duplicate key (first at line 5)',
        ':7:43: rule 1 "r11": detector.above: duplicate key (first at line 7)',
    ]
    assert _names(loaded) == ["good"]
    path = tmp_path / "top.yaml"
    path.write_text("model: m\nmodel: n\nrules:\n" + GOOD)
    (issue,) = load_rules([path]).issues
    assert str(issue) == f"{path}:2:1: model: duplicate key (first at line 1)"


def test_an_unknown_detector_parameter_is_named_with_the_known_ones(tmp_path):
    _, msgs = _load(
        tmp_path,
        """  - name: z
    metric: latency.p50
    window: 1h
    detector: {type: zscore, z: 3, min_pts: 3}
""",
    )
    assert msgs == [
        ":6:45: rule 1 \"z\": detector: unknown parameter 'min_pts' for zscore; expected one of "
        "z, lookback, min_points, direction, min_std; did you mean 'min_points'?"
    ]


def test_a_numeric_version_is_quoted_as_written(tmp_path):
    """`version: 1.10` suggested `version: "1.1"`, another version."""
    _, msgs = _load(
        tmp_path,
        """  - name: v
    metric: latency.p50
    window: 1h
    version: 1.10
    baseline: {version: 2.50}
    detector: {type: change, pct: 10}
""",
    )
    assert msgs == [
        ':6:14: rule 1 "v": version: YAML read 1.10 as the number 1.1: quote it, e.g. '
        'version: "1.10"',
        ':7:25: rule 1 "v": baseline.version: YAML read 2.50 as the number 2.5: quote it, '
        'e.g. version: "2.50"',
    ]


@pytest.mark.parametrize(
    ("baseline", "names"),
    [
        (
            "{shift: 1d, version: v9, from: 2026-11-19, to: 2026-11-20}",
            "'shift' and 'from'/'to' and 'version'",
        ),
        ("{reference: false, shift: 2d}", "'reference' and 'shift'"),
        ("{version: v1, to: 2026-11-20}", "'version' and 'to'"),
    ],
)
def test_baseline_kinds_cannot_be_combined(tmp_path, baseline, names):
    """`{shift: 1d, version: v9, from: .., to: ..}` was silently read as the shift."""
    _, msgs = _load(
        tmp_path,
        f"""  - name: d
    metric: latency.mean
    window: 1h
    baseline: {baseline}
    detector: {{type: change, pct: 10}}
""",
    )
    assert msgs == [
        f':6:15: rule 1 "d": baseline: {names} cannot be combined: a baseline is one of '
        "{reference: true}, {shift: 7d}, {from: 2026-01-01, to: 2026-01-08} or {version: v2}"
    ]


def test_a_summary_that_is_not_text_rejects_its_rule(tmp_path):
    """The error was reported but the rule loaded anyway."""
    loaded, msgs = _load(
        tmp_path,
        """  - name: s
    metric: latency.p50
    window: 5m
    summary: 5
    detector: {type: threshold, above: 1}
""",
    )
    assert msgs == [':6:14: rule 1 "s": summary: must be a string, got 5']
    assert _names(loaded) == ["good"]


def test_metrics_judged_against_the_reference_need_one_that_can_answer(tmp_path):
    """`rules validate` said 0 errors for score drift against a profile without a score
    histogram, and for feature drift in a file without a reference; every evaluation then
    failed."""
    import pandas as pd

    from modelhealth.ingestion import build_reference

    build_reference("m", pd.DataFrame({"x": np.arange(100.0)})).save(tmp_path / "ref.json")
    rules = """  - name: score-psi
    metric: score.drift.psi
    window: 1h
    detector: {type: threshold, above: 0.2}
  - name: psi
    metric: feature.drift.psi
    window: 1h
    detector: {type: threshold, above: 0.2}
  - name: psi-week
    metric: feature.drift.psi
    window: 1h
    baseline: {shift: 7d}
    detector: {type: threshold, above: 0.2}
"""
    (tmp_path / "with.yaml").write_text("model: m\nreference: ref.json\nrules:\n" + rules)
    loaded = load_rules([tmp_path / "with.yaml"])
    assert [str(i).split(": ", 1)[1] for i in loaded.issues] == [
        'rule 1 "score-psi": metric: score.drift.psi: the reference profile '
        f"{tmp_path}/ref.json has no score histogram; build it with the training scores "
        "(build_reference(model, frame, score=...))"
    ]
    assert _names(loaded) == ["psi", "psi-week"]
    (tmp_path / "without.yaml").write_text(HEAD + rules)
    loaded = load_rules([tmp_path / "without.yaml"])
    assert [i.pos.line for i in loaded.issues] == [4, 8]  # both reference metrics, not the shift
    assert _names(loaded) == ["psi-week"]
