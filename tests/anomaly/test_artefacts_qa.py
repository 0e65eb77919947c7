"""QA round on the learned detector's product path: damaged artefacts, malformed or
out-of-range ``meta.json`` fields, a too-short ``lookback:``, score-metric export, ``anomaly
train`` on folders it cannot train on, and the Configs page on a model that broke."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from modelhealth.anomaly.cli import anomaly_main
from modelhealth.anomaly.detector import LearnedDetector
from modelhealth.anomaly.export import export_series
from modelhealth.anomaly.model import LearnedModel, ModelLoadError
from modelhealth.clock import to_epoch_ms
from modelhealth.rules.config import load_rules
from modelhealth.rules.detectors import lookback_of
from tests.conftest import T0
from tests.dashboard.conftest import unescaped


def _copy(model_dir: Path, tmp_path: Path, name: str = "model") -> Path:
    out = tmp_path / name
    shutil.copytree(model_dir, out)
    return out


def _meta(path: Path) -> dict:
    return json.loads((path / "meta.json").read_text())


def _set_meta(path: Path, meta: object) -> None:
    (path / "meta.json").write_text(json.dumps(meta))


def _without_checksums(path: Path) -> Path:
    meta = _meta(path)
    del meta["files"]
    _set_meta(path, meta)
    return path


# --- 1. damaged model files -------------------------------------------------------------


def test_save_is_atomic_and_records_each_model_files_size_and_sha256(
    tiny_model: LearnedModel, tmp_path: Path
):
    import lightgbm as lgb  # noqa: F401  (the boosters are LightGBM's)

    out = tiny_model.save(tmp_path / "m")
    files = _meta(out)["files"]
    model_files = sorted(p.name for p in out.glob("*.txt"))
    assert sorted(files) == model_files and "classifier.txt" in model_files
    for name, entry in files.items():
        data = (out / name).read_bytes()
        assert entry == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
    mask = os.umask(0o022)
    os.umask(mask)
    for path in out.iterdir():  # as open() would make them, not mkstemp's owner-only 0600
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path.name
    # the bytes are the ones LightGBM's own save_model writes
    tiny_model.classifier.model.save_model(str(tmp_path / "ref.txt"))
    assert (out / "classifier.txt").read_bytes() == (tmp_path / "ref.txt").read_bytes()


@pytest.mark.parametrize("checksums", [True, False])
@pytest.mark.parametrize("victim", ["classifier.txt", "forecast_q0.02.txt"])
def test_a_truncated_model_file_is_a_load_error_not_a_crash(
    model_dir: Path, tmp_path: Path, victim: str, checksums: bool
):
    """LightGBM aborts the whole process (SIGABRT/SIGSEGV) on a truncated text model, so the
    load runs in a subprocess: it must exit normally with a ModelLoadError naming the file."""
    path = _copy(model_dir, tmp_path)
    if not checksums:
        _without_checksums(path)
    file = path / victim
    file.write_bytes(file.read_bytes()[:3000])
    code = (
        "import sys\nfrom modelhealth.anomaly.model import LearnedModel, ModelLoadError\n"
        f"try:\n    LearnedModel.load({str(path)!r})\n"
        "except ModelLoadError as e:\n    print('ERR', e)\n    sys.exit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 3, (done.returncode, done.stderr[-500:])
    assert f"{file}: damaged model file" in done.stdout
    assert "[Fatal]" not in done.stderr and "terminate called" not in done.stderr


@pytest.mark.parametrize(
    ("content", "why"),
    [(b"", "empty"), (bytes(range(256)) * 8, "not a complete LightGBM text model")],
)
def test_empty_or_random_model_files_are_load_errors_without_lightgbm_noise(
    model_dir: Path, tmp_path: Path, capfd, content: bytes, why: str
):
    path = _without_checksums(_copy(model_dir, tmp_path))
    (path / "classifier.txt").write_bytes(content)
    with pytest.raises(ModelLoadError, match=f"classifier.txt: damaged model file \\({why}"):
        LearnedModel.load(path)
    captured = capfd.readouterr()
    assert "[Fatal]" not in captured.err + captured.out
    assert "UnicodeDecodeError" not in captured.err


def test_a_same_size_corruption_fails_the_checksum(model_dir: Path, tmp_path: Path):
    path = _copy(model_dir, tmp_path)
    file = path / "forecast_q0.98.txt" if (path / "forecast_q0.98.txt").exists() else None
    file = file or sorted(path.glob("forecast_*.txt"))[-1]
    data = bytearray(file.read_bytes())
    i = data.index(b"leaf_value=") + len(b"leaf_value=")
    data[i] = ord("9") if data[i] != ord("9") else ord("8")
    file.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="damaged model file \\(sha256 differs"):
        LearnedModel.load(path)


def test_an_artefact_written_before_checksums_still_loads(
    tiny_model: LearnedModel, model_dir: Path, tmp_path: Path
):
    import numpy as np

    path = _without_checksums(_copy(model_dir, tmp_path))
    loaded = LearnedModel.load(path)
    rng = np.random.default_rng(0)
    ts = 1_700_000_000 + np.arange(2000) * 300
    values = 10 + np.sin(np.arange(2000) / 288 * 2 * np.pi) + rng.normal(0, 0.1, 2000)
    a, b = tiny_model.scan(ts, values), loaded.scan(ts, values)
    assert np.array_equal(a.alerts, b.alerts) and np.allclose(a.prob, b.prob)


# --- 5. and 6. malformed or out-of-range meta.json fields --------------------------------


def _set(field: str, value: object):
    def mutate(meta: dict) -> dict:
        *parents, last = field.split(".")
        node = meta
        for p in parents:
            node = node[p]
        node[last] = value
        return meta

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set("postprocess.threshold", "abc"), 'field postprocess.threshold: expected a number in \\[0, 1\\] \\(or 2: the classifier rule off\\), got "abc"'),  # noqa: E501
        (_set("postprocess", None), "field postprocess: expected an object, got null"),
        (lambda m: [m], "expected a JSON object, got a list"),
        (_set("alphas", "0.02"), 'field alphas: expected a list .*, got "0.02"'),
        (_set("info", [1, 2]), "field info: expected an object, got a list \\[1, 2\\]"),
        (_set("postprocess.threshold", 5.0), "field postprocess.threshold: expected a number in \\[0, 1\\] \\(or 2: the classifier rule off\\), got 5.0"),  # noqa: E501
        (_set("postprocess.min_duration", 0), "field postprocess.min_duration: expected an integer in \\[1, 10000\\], got 0"),  # noqa: E501
        (_set("postprocess.novelty", 1.5), "field postprocess.novelty: expected an integer"),
        (_set("alphas", [0.02, 1.5]), "field alphas: expected"),
        (_set("mean_model", "yes"), 'field mean_model: expected true or false, got "yes"'),
        (_set("files", [1]), "field files: expected"),
    ],
)  # fmt: skip
def test_malformed_meta_fields_name_the_file_and_field(
    model_dir: Path, tmp_path: Path, mutate, message: str
):
    path = _copy(model_dir, tmp_path)
    _set_meta(path, mutate(_meta(path)))
    with pytest.raises(ModelLoadError, match=f"meta.json: {message}"):
        LearnedModel.load(path)


def test_a_trained_classifier_off_threshold_still_loads(tiny_model: LearnedModel, tmp_path):
    """Training may switch the classifier rule off (``tuning.OFF``, threshold 2.0), a value
    out of the YAML override's [0, 1] that a saved artefact must still load with."""
    from dataclasses import replace

    from modelhealth.anomaly.tuning import OFF

    model = LearnedModel(
        tiny_model.forecaster, tiny_model.classifier, replace(tiny_model.post, threshold=OFF)
    )
    assert LearnedModel.load(model.save(tmp_path / "m")).post.threshold == OFF


def test_a_rule_on_a_malformed_artefact_blames_meta_json_not_the_yaml(
    model_dir: Path, tmp_path: Path
):
    path = _copy(model_dir, tmp_path)
    _set_meta(path, _set("info", [1, 2])(_meta(path)))
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "model: fraud\nrules:\n  - name: l\n    metric: latency.p99\n    window: 5m\n"
        f"    detector: {{type: learned, model: {path}}}\n"
    )
    loaded = load_rules([rules])
    text = "\n".join(map(str, loaded.issues))
    assert not loaded.ok and "meta.json: field info" in text
    assert "bad parameters" not in text


# --- 7. a lookback too short for the model -----------------------------------------------


def _lookback_rule(tmp_path: Path, model_dir: Path, lookback: str, window: str = "5m") -> Path:
    path = tmp_path / f"lb-{lookback}-{window}.yaml"
    path.write_text(
        f"model: fraud\nrules:\n  - name: lb\n    metric: latency.p99\n    window: {window}\n"
        f"    detector: {{type: learned, model: {model_dir}, lookback: {lookback}}}\n"
    )
    return path


@pytest.mark.parametrize("lookback", ["0", "12h", "26h", "36h"])
def test_a_lookback_shorter_than_the_model_needs_is_a_config_error(
    model_dir: Path, tmp_path: Path, lookback: str
):
    loaded = load_rules([_lookback_rule(tmp_path, model_dir, lookback)])
    text = "\n".join(map(str, loaded.issues))
    assert not loaded.ok
    det = LearnedDetector(model_dir)
    least = det.min_lookback_for(timedelta(minutes=5))
    assert least == timedelta(minutes=5) * det.min_history_points(288)
    assert "is shorter than the" in text and f"({least // timedelta(minutes=5)} buckets" in text


def test_a_lookback_of_the_minimum_or_more_is_accepted(model_dir: Path, tmp_path: Path):
    det = LearnedDetector(model_dir)
    five, hour = timedelta(minutes=5), timedelta(hours=1)
    least = det.min_lookback_for(five)
    assert det.min_history_points(288) < det.history_points(288)
    minutes = int(least.total_seconds() // 60)
    loaded = load_rules([_lookback_rule(tmp_path, model_dir, f"{minutes}m")])
    assert loaded.ok, loaded.issues
    # the minimum is counted in buckets of the rule's window: hourly ones need more time
    loaded = load_rules([_lookback_rule(tmp_path, model_dir, f"{minutes}m", window="1h")])
    assert not loaded.ok and det.min_lookback_for(hour) > least
    det.lookback = det.min_lookback_for(hour)
    assert lookback_of(det, hour) == det.lookback


# --- 2. score metrics export without the version split -----------------------------------


def test_score_metrics_export_across_versions_and_latency_keeps_them(seeded_store, tmp_path):
    end, start = to_epoch_ms(T0), to_epoch_ms(T0 - timedelta(hours=12))
    said: list[str] = []
    written = export_series(
        seeded_store,
        ["score.mean", "latency.p99"],
        start,
        end,
        300_000,
        tmp_path,
        ["fraud"],
        progress=said.append,
    )
    score = [w for w in written if w.metric == "score.mean"]
    assert [w.version for w in score] == ["all"]
    assert (tmp_path / "data" / "fraud" / "score.mean__all.csv").exists()
    assert {w.version for w in written if w.metric == "latency.p99"} >= {"v2", "v3"}
    assert any("score.mean: exported across all versions" in m for m in said)


# --- 3. anomaly train on folders it cannot train on -------------------------------------


def _dataset(root: Path, points: int) -> Path:
    (root / "data" / "g").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "labels" / "l.json").write_text("{}")
    stamps = pd.date_range("2020-01-01", periods=points, freq="5min")
    pd.DataFrame(
        {"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"), "value": [1.0] * points}
    ).to_csv(root / "data" / "g" / "a.csv", index=False)
    return root


def test_train_with_every_file_held_out_says_to_use_all_files(tmp_path: Path, capsys):
    data = _dataset(tmp_path / "ds", 10)  # its one file lands in the hold-out split
    assert anomaly_main(["train", str(data), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "anomaly train: no file to train on" in err and "--all-files" in err
    assert "Traceback" not in err and err.count("\n") == 2  # the progress line and this


def test_train_on_too_few_points_says_how_many_are_needed(tmp_path: Path, capsys):
    data = _dataset(tmp_path / "ds", 10)
    argv = ["train", str(data), "--all-files", "--out", str(tmp_path / "m")]
    assert anomaly_main(argv) == 2
    err = capsys.readouterr().err
    assert "too little data" in err and "has 10 finite point(s)" in err and "at least 13" in err
    assert "Traceback" not in err and not (tmp_path / "m").exists()


# --- 4. the Configs page on a model that broke after the configs were loaded -------------


@pytest.mark.parametrize(
    "error", [ModelLoadError("m/classifier.txt: missing model file"), RuntimeError("boom")]
)
def test_configs_page_warns_for_a_learned_rule_whose_model_broke(monkeypatch, error):
    from modelhealth.dashboard.views import configs

    shown: list[tuple[str, str]] = []
    fake_st = SimpleNamespace(
        subheader=lambda *a, **k: None,
        selectbox=lambda label, options, **k: options[0],
        warning=lambda text: shown.append(("warning", text)),
        info=lambda text: shown.append(("info", text)),
    )
    monkeypatch.setattr(configs, "st", fake_st)
    rule = SimpleNamespace(name="learned-spike", metric="score.mean", model="spike")
    monkeypatch.setattr(configs, "learned_rules", lambda rules: rules)

    def run(fn):
        raise error

    ctx = SimpleNamespace(
        handle=SimpleNamespace(run=run), window=SimpleNamespace(start_ms=0, end_ms=1)
    )
    configs.learned_section(ctx, [rule])
    assert len(shown) == 1 and shown[0][0] == "warning"
    text = unescaped(shown[0][1])  # the page escapes markdown in messages
    assert text.startswith("learned-spike: ") and str(error) in text


def test_without_lightgbm_train_and_load_say_what_to_install(
    model_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """A plain install (no `learn` extra) gave a ModuleNotFoundError traceback."""
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # import lightgbm now raises
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    assert anomaly_main(["train", "simulated", "--out", str(tmp_path / "m")]) == 2
    assert "pip install 'modelhealth[learn]'" in capsys.readouterr().err
    with pytest.raises(ModelLoadError, match=r"modelhealth\[learn\]"):
        LearnedModel.load(model_dir)
