"""The `modelhealth` dispatcher."""

from __future__ import annotations

import subprocess
import sys


def test_a_reader_that_stops_early_is_not_an_error() -> None:
    """`modelhealth rules metrics | head -1` ended with a BrokenPipeError traceback."""
    cmd = f"{sys.executable} -m modelhealth.cli rules metrics | head -1"
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith("latency.mean")
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_kafka_cluster_ids_never_look_like_an_option() -> None:
    """One id in 32 started with "-" and kafka-storage took it for an option, failing the
    start of a fresh Kafka (seen once in a clean-clone CI run)."""
    from modelhealth.services.kafka import _cluster_id

    ids = [_cluster_id() for _ in range(2000)]
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids)
