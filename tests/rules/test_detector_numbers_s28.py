"""A detector number past the float range is a located config error that says what is
expected, not Python's "OverflowError: int too large to convert to float"."""

from __future__ import annotations

from modelhealth.rules.config import load_rules_text

RULE = """\
model: fraud
rules:
  - name: p99
    metric: latency.p99
    window: 5m
    detector: {{type: threshold, above: {above}}}
    severity: warning
"""


def test_an_integer_past_the_float_range_is_refused_with_what_is_expected() -> None:
    result = load_rules_text(RULE.format(above="1" + "0" * 400), "big.yaml")
    assert not result.rules
    (issue,) = result.issues
    text = str(issue)
    assert text.startswith("big.yaml:6:")
    assert "'above' must be a finite number (at most about 1.8e308)" in text
    assert "401 digits" in text and "OverflowError" not in text


def test_large_finite_numbers_still_load() -> None:
    result = load_rules_text(RULE.format(above="1" + "0" * 300), "big.yaml")
    assert not result.issues, result.issues
    assert result.rules[0].build_detector().above == 1e300
