"""``modelhealth demo --backend pinot`` keeps to its own Pinot namespace.

It used to reset the default (un-namespaced) tables and topics, the ones a user's own models
write, because the dashboard it launches could read no others. Now the sink, the store, the
reset and the dashboard all use :data:`~modelhealth.demo.wiring.DEMO_NAMESPACE`. (The
integration test ``tests/integration/test_services_s20.py`` runs it on real services.)
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from modelhealth.demo import wiring
from modelhealth.pinot_schemas import check_namespace
from tests.conftest import free_port


def test_the_demo_namespace_is_a_valid_non_default_namespace() -> None:
    assert wiring.DEMO_NAMESPACE and check_namespace(wiring.DEMO_NAMESPACE)


def test_the_pinot_backend_resets_writes_and_reads_only_the_demo_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kafka and Pinot are not needed here: the sink and the store connect lazily, and the
    reset (``init_pinot``) is recorded instead of run (the integration test runs it)."""
    pytest.importorskip("pinotdb")
    pytest.importorskip("kafka")
    from modelhealth.pinot_schemas import init

    resets: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(init, "init_pinot", lambda *a, **kw: resets.append((a, kw)))
    backend = wiring.open_backend("pinot", tmp_path)
    try:
        assert resets == [((wiring.DEMO_NAMESPACE,), {"reset": True})]
        assert backend.store.namespace == wiring.DEMO_NAMESPACE  # type: ignore[attr-defined]
        assert set(backend.store.tables.values()) == {  # type: ignore[attr-defined]
            f"{wiring.DEMO_NAMESPACE}{name}"
            for name in ("inferences", "feature_stats", "feature_bins", "outcomes")
        }
        assert backend.sink.namespace == wiring.DEMO_NAMESPACE  # type: ignore[attr-defined]
        assert backend.pinot_namespace == wiring.DEMO_NAMESPACE
        assert wiring.DEMO_NAMESPACE in backend.describe()
    finally:
        backend.close()


def test_the_dashboard_the_demo_starts_reads_its_namespace(tmp_path: Path) -> None:
    """The command the demo really launches (a closed broker port: it only has to start)."""
    broker = f"http://127.0.0.1:{free_port()}"
    proc = wiring.start_dashboard(
        None, tmp_path, tmp_path, free_port(), pinot=broker, namespace="demo_"
    )
    assert proc is not None
    try:
        cmd = list(proc.args)  # type: ignore[arg-type]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert cmd[cmd.index("--pinot") + 1] == broker
    assert cmd[cmd.index("--namespace") + 1] == "demo_"


def test_the_banner_names_the_namespace_and_says_default_tables_are_untouched() -> None:
    note = wiring.pinot_tables_note()
    assert "'demo_'" in note and "demo_inferences" in note
    assert "default tables" in note and "not touched" in note
    assert "yours" not in note  # the old warning: "the demo's or yours, are deleted"
    backend = wiring.Backend(
        "pinot", sink=None, store=None, pinot_url="http://b:8099", pinot_namespace="demo_"
    )  # type: ignore[arg-type]
    line = wiring.pinot_banner(backend)
    assert "namespace demo_" in line
    assert "modelhealth dashboard --pinot http://b:8099 --namespace demo_" in line
