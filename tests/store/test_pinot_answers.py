"""How the Pinot store reads a broker's answer, against a real HTTP server on loopback that
answers as a Pinot broker does when its servers are down (no resultTable, HTTP 200)."""

from __future__ import annotations

import pytest

from modelhealth.errors import StoreUnavailable
from modelhealth.store.backend import Scope

pytest.importorskip("pinotdb")

SERVERS_DOWN = {
    "exceptions": [],
    "numServersQueried": 0,
    "numServersResponded": 0,
    "numDocsScanned": 0,
    "totalDocs": 0,
    "timeUsedMs": 1,
}
PARTIAL = {
    "resultTable": {
        "dataSchema": {"columnNames": ["model"], "columnDataTypes": ["STRING"]},
        "rows": [["fraud"]],
    },
    "exceptions": [],
    "numServersQueried": 2,
    "numServersResponded": 1,
}


@pytest.fixture
def broker(pinot_broker: tuple[str, dict[str, object]]) -> tuple[str, dict[str, object]]:
    return pinot_broker


@pytest.mark.parametrize(
    ("reply", "why"), [(SERVERS_DOWN, "no server"), (PARTIAL, "1 of 2|only 1 responded")]
)
def test_an_answer_without_its_servers_is_an_outage_not_zero_traffic(broker, reply, why) -> None:
    """Read as an empty result, a broker whose servers were down meant "no traffic": a
    `count below` rule paged for every model, and MonitoringBlind never fired."""
    from modelhealth.store.pinot import PinotStore

    url, answer = broker
    answer.update(reply)
    store = PinotStore(url, timeout=5)
    with pytest.raises(StoreUnavailable, match=why):
        store.latency(Scope("fraud", 0, 3_600_000))
    with pytest.raises(StoreUnavailable, match=why):
        store.models()


def test_a_whole_answer_is_read_as_it_is(broker) -> None:
    """The checks above must read the broker's JSON itself: reading pinotdb's wrapper
    around it, every answer looked resultless and every query failed."""
    from modelhealth.store.pinot import PinotStore

    url, answer = broker
    answer.update({**PARTIAL, "numServersResponded": 2})
    assert PinotStore(url, timeout=5).models() == ["fraud"]
