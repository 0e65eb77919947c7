"""Round 22 fresh-eyes QA of the alert-config loader: what an owner's mistake reads like.

Each test writes a config file as an owner would and loads it the way ``rules validate``
does; the messages must name the file, line and field and say what was expected, in the
owner's terms (never the loader's internal ``Node(...)`` objects), and one bad rule must
never cost the file's other rules.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelhealth.rules.config import load_rules
from modelhealth.rules.detectors import HoltWinters, Seasonal

GOOD_RULE = """
  - name: good
    metric: qps
    window: 30m
    detector: {type: threshold, below: 1}
"""


def _load(tmp_path: Path, text: str) -> tuple[list[str], list[str]]:
    """(rule names loaded, issues as printed) of one config file holding ``text``."""
    path = tmp_path / "fraud.yaml"
    path.write_text(text)
    result = load_rules([path])
    return [r.name for r in result.rules], [str(i) for i in result.issues]


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("metric", "[latency.p99]", "['latency.p99']"),
        ("window", "[30m]", "['30m']"),
        ("for", "{a: 1}", "{'a': 1}"),
        ("severity", "[critical]", "['critical']"),
        ("version", "[v1]", "['v1']"),
        ("group_by", "[[version]]", "['version']"),
        ("schedule", "[a]", "['a']"),
        ("trigger", "[new_data]", "['new_data']"),
        ("enabled", "[true]", "[True]"),
        ("summary", "{a: b}", "{'a': 'b'}"),
        ("runbook", "[https://x]", "['https://x']"),
        ("baseline", "{shift: [1d]}", "['1d']"),
    ],
)
def test_a_value_of_the_wrong_shape_is_shown_as_written(
    tmp_path: Path, field: str, value: str, shown: str
) -> None:
    rule = {
        "metric": "qps",
        "window": "30m",
        "detector": "{type: threshold, below: 1}",
    }
    rule[field] = value
    body = "".join(f"    {k}: {v}\n" for k, v in rule.items())
    names, issues = _load(tmp_path, f"model: fraud\nrules:\n  - name: a\n{body}{GOOD_RULE}")
    assert names == ["good"]
    (issue,) = [i for i in issues if f": {field}" in i]
    assert "Node(" not in issue and "SourcePos" not in issue
    assert shown in issue


def test_a_rule_whose_name_is_not_text_is_labelled_by_its_number(tmp_path: Path) -> None:
    names, issues = _load(
        tmp_path,
        "model: fraud\nrules:\n  - name: [p99]\n    metric: qps\n    window: 30m\n"
        "    detector: {type: threshold, below: 1}\n" + GOOD_RULE,
    )
    assert names == ["good"]
    (issue,) = issues
    assert issue.startswith(f"{tmp_path / 'fraud.yaml'}:3:11: rule 1: name: ")
    assert "must be a non-empty string, got ['p99']" in issue


def test_a_reference_that_is_not_a_path_says_so(tmp_path: Path) -> None:
    names, issues = _load(tmp_path, "model: fraud\nreference: [fraud.json]\nrules:" + GOOD_RULE)
    assert names == ["good"]
    (issue,) = issues
    assert ":2:12: reference: must be a path to a reference profile" in issue
    assert "Node(" not in issue


def test_a_huge_min_points_is_an_error_at_its_rule_not_a_lost_file(tmp_path: Path) -> None:
    """``min_points: 10**30`` raised OverflowError while the loader wrote its hint (the
    lookback that would hold that many windows), and the whole file was reported as
    ``cannot load: OverflowError`` without a line: its good rules were lost too."""
    names, issues = _load(
        tmp_path,
        "model: fraud\nrules:\n  - name: z\n    metric: qps\n    window: 1h\n"
        f"    detector: {{type: zscore, min_points: {10**30}}}\n" + GOOD_RULE,
    )
    assert names == ["good"]
    (issue,) = issues
    assert ':6:15: rule 1 "z": detector: zscore would never fire' in issue
    assert "min_points" in issue and "at most 24" in issue


@pytest.mark.parametrize(
    "detector",
    [
        "{type: seasonal, season: 1d, periods: 1e1}",
        "{type: holt_winters, season: 1d, cycles: 1e1}",
    ],
)
def test_exponent_notation_counts_work_for_the_seasonal_detectors(
    tmp_path: Path, detector: str
) -> None:
    """YAML 1.1 reads ``1e1`` as text; the README promises it is read as the number in every
    numeric detector parameter, but the seasonal detectors multiplied their season by the
    text ("can't multiply sequence by non-int of type 'datetime.timedelta'")."""
    names, issues = _load(
        tmp_path,
        f"model: fraud\nrules:\n  - name: s\n    metric: qps\n    window: 1h\n"
        f"    detector: {detector}\n",
    )
    assert issues == [] and names == ["s"]


@pytest.mark.parametrize(
    ("factory", "params", "name"),
    [
        (Seasonal, {"season": "1d", "periods": 10**11}, "periods"),
        (HoltWinters, {"season": "1d", "cycles": 10**11}, "cycles"),
        (Seasonal, {"season": "520w", "periods": 2}, "periods"),
    ],
)
def test_a_seasonal_lookback_beyond_the_longest_duration_is_refused(
    factory: type, params: dict[str, object], name: str
) -> None:
    """``periods: 100000000000`` overflowed ``timedelta`` (``cannot build seasonal:
    OverflowError: Python int too large to convert to C int``); now it names the parameter and
    the longest history a rule may read."""
    with pytest.raises(ValueError, match=rf"'{name}'.*more than the longest lookback 520w"):
        factory(**params)


def test_a_learned_model_that_is_not_a_path_names_the_parameter(tmp_path: Path) -> None:
    names, issues = _load(
        tmp_path,
        "model: fraud\nrules:\n  - name: l\n    metric: qps\n    window: 5m\n"
        "    detector: {type: learned, model: [models/latency]}\n" + GOOD_RULE,
    )
    assert names == ["good"]
    (issue,) = issues
    assert "'model' must be a path" in issue and "expected str, bytes" not in issue


def test_a_latin_1_byte_is_located_at_its_line_and_the_other_files_load(tmp_path: Path) -> None:
    """A file saved as Latin-1 said only ``not UTF-8 text (byte 1787)``: the owner had to
    count bytes to find the accented word. Now it names the line and column."""
    rules = "".join(
        f"  - name: r{i}\n    metric: qps\n    window: 30m\n"
        "    detector: {type: threshold, below: 1}\n"
        for i in range(20)
    )
    text = f"model: search\nrules:\n{rules}    summary: caf\xe9 down\n"
    (tmp_path / "search.yaml").write_bytes(text.encode("latin-1"))
    (tmp_path / "fraud.yaml").write_text("model: fraud\nrules:" + GOOD_RULE)
    result = load_rules([tmp_path])
    assert [r.model for r in result.rules] == ["fraud"]
    (issue,) = result.issues
    assert str(issue) == (
        f"{tmp_path / 'search.yaml'}: not UTF-8 text (byte 1787): invalid continuation byte"
        " 0xe9 at line 83, column 17; save the file as UTF-8"
    )
