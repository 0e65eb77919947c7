"""``modelhealth pinot init --partitions N`` takes a whole number >= 1 and refuses anything
else at once, before any service is asked: ``--partitions 0`` used to retry for 30 s, print
Kafka's raw CreateTopicsResponse and advise running the same command again."""

from __future__ import annotations

import pytest

from modelhealth.pinot_schemas import init


@pytest.fixture(autouse=True)
def _no_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asking a service would mean the count was not checked first."""

    def asked() -> None:
        raise AssertionError("init asked the services before checking --partitions")

    monkeypatch.setattr(init, "check_services", asked)


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_the_option_refuses_a_partition_count_kafka_would_refuse(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        init.pinot_main(["init", "--partitions", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --partitions: expected a whole number >= 1" in err


@pytest.mark.parametrize("value", [0, -1, True, 2.0])
def test_the_function_refuses_it_before_creating_anything(value: object) -> None:
    with pytest.raises(ValueError, match="--partitions must be a whole number >= 1"):
        init.init_pinot("s24a_", partitions=value)  # type: ignore[arg-type]


def _fake_services(monkeypatch: pytest.MonkeyPatch, existing_count: int) -> None:
    """Every topic exists with ``existing_count`` partitions and every table exists already."""
    monkeypatch.setattr(init, "check_services", lambda: None)
    monkeypatch.setattr(init, "ensure_topic", lambda name, partitions: existing_count)
    monkeypatch.setattr(init, "table_config", lambda full: {"tableName": full})
    monkeypatch.setattr(init, "_upgrade", lambda *args: None)
    monkeypatch.setattr(init, "_wait_queryable", lambda full: None)


def test_an_explicit_count_that_existing_topics_lack_is_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``init --partitions 4`` on topics of 2 partitions said only "tables ready"."""
    _fake_services(monkeypatch, existing_count=2)
    lines: list[str] = []
    init.init_pinot("s24a_", partitions=4, log=lines.append)
    (line,) = lines
    assert line.startswith("warning: --partitions 4 applies to new topics only;")
    assert "modelhealth.s24a_inferences (2)" in line and "modelhealth.s24a_parked (2)" in line
    assert "`modelhealth pinot init --reset --partitions 4`" in line


@pytest.mark.parametrize("partitions", [None, 2])
def test_no_warning_without_the_option_or_when_counts_agree(
    monkeypatch: pytest.MonkeyPatch, partitions: int | None
) -> None:
    _fake_services(monkeypatch, existing_count=2)
    lines: list[str] = []
    init.init_pinot("s24a_", partitions=partitions, log=lines.append)
    assert lines == []
