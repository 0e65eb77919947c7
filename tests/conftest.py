"""Shared fixtures: a seeded demo fleet in an in-memory DuckDB store."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from modelhealth.clock import FakeClock
from modelhealth.demo.fleet import fleet, training_sample
from modelhealth.demo.traffic import backfill
from modelhealth.ingestion import Monitor, build_reference
from modelhealth.store.duckdb import DuckDBSink, DuckDBStore

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def free_port() -> int:
    """A loopback TCP port nothing listens on now (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _the_demo_ran(*args: object, **kwargs: object) -> None:
    raise AssertionError("the demo started its work: the error must come before any")


@contextlib.contextmanager
def no_demo_work() -> Iterator[None]:
    """Within it, ``demo_main`` fails the test if it starts the demo's work (references,
    backfill, training, the live loop): for the checks that must refuse before any.

    Those tests used to bound the call to 5 s instead, which a busy box could break while
    nothing was wrong."""
    from modelhealth.demo import runner  # only the tests that use it pay for the import

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "_run", _the_demo_ran)
        yield


@pytest.fixture(scope="session")
def fleet_refs():
    return {n: build_reference(n, *training_sample(m)) for n, m in fleet().items()}


@pytest.fixture(scope="session")
def seeded_store(fleet_refs):
    """One simulated day of the demo fleet (incidents included) ending at T0."""
    store = DuckDBStore()
    monitor = Monitor(DuckDBSink(store), fleet_refs, clock=FakeClock(T0))
    backfill(monitor, fleet(), T0, days=1.0)
    monitor.flush()
    yield store
    store.close()
