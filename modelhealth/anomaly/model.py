"""The versioned model artefact: forecaster + classifier + post-processing, as one directory.

Layout of ``PATH/``::

    meta.json            format, version, alphas, feature names, post-processing, training info
    forecast_q0.02.txt   LightGBM text models, one per quantile (plus forecast_mean.txt
                         when the forecaster has a mean model)
    classifier.txt

Text models (not pickles) so an artefact is inspectable, diffable and safe to load. Each file
is written to a temporary file beside it and renamed into place, ``meta.json`` last, and
``meta.json`` records each model file's size and sha256 (``files``): a damaged or half-copied
model file is a :class:`ModelLoadError` naming it, never a LightGBM crash (a truncated text
model aborts the whole process inside LightGBM). Artefacts written before ``files`` existed
load too; their model files must at least end as LightGBM ends a complete text model.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelhealth.anomaly import INSTALL_HINT
from modelhealth.anomaly.classifier import AnomalyClassifier
from modelhealth.anomaly.features import FORECAST_FEATURES, build_features
from modelhealth.anomaly.forecaster import QuantileForecaster
from modelhealth.anomaly.irregularity import CLASSIFIER_FEATURES
from modelhealth.anomaly.pipeline import score_frame
from modelhealth.anomaly.postprocess import PostProcess
from modelhealth.errors import ModelHealthError
from modelhealth.files import Stamps, file_stamps, write_atomic

FORMAT = "modelhealth-learned-detector"
VERSION = 11
"""3: the forecaster is a quantile pair by default; ``mean_model`` says if a mean model exists.
4: post-processing gains ``burst_ref`` (a version-3 reader would silently drop it).
5: ``novelty`` is counted in 5-minute points and rescaled to each series' sampling
(``postprocess.novelty_points``), and a novel point must also beat the same hour of the
last three days (``postprocess.beats_same_hour``); a version-4 model was tuned without.
6: the Holt-Winters columns no longer count the first season's structural zeros as errors
(``signals.settled``) and ``hw_long`` starts 24 points after it; a version-5 classifier and
threshold were fitted to the old columns.
7: the Holt-Winters signal's seasonal smoothing is 0.5 (``signals.HW_GAMMA``), was 0.2.
8: post-processing gains ``discord_threshold`` (``signals.discord_score``); a version-7
reader would drop it.
9: on a count series the Holt-Winters rule scores only excursions the next point keeps
(``signals.persistent``); a version-8 model's thresholds were tuned without that.
10: the discord rule's threshold drops to a series' three-day record (``postprocess.record_bar``)
on every series but counts; a version-9 model's thresholds were tuned without it.
11: post-processing gains ``long_discord_threshold`` (``signals.long_discord_score``); a
version-10 model was tuned without that rule beside the others."""


NEEDS_LIGHTGBM = (
    "the learned detector needs LightGBM, which this installation lacks: " + INSTALL_HINT
)
"""Why a model cannot load; callers check :func:`modelhealth.anomaly.learn_extra_problem`
before importing this module (importing it already needs the whole ``learn`` extra)."""


class ModelLoadError(ModelHealthError):
    """A model path that is missing, from another format/version, or incomplete."""


@dataclass
class Scan:
    """Per-point output of the whole pipeline over one series."""

    prob: np.ndarray
    score: np.ndarray
    alerts: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    valid: np.ndarray
    fired: dict[str, np.ndarray] = field(default_factory=dict)
    """Each alert rule's own alerts (``postprocess.RULES``; ``alerts`` is their union)."""
    rule_scores: dict[str, np.ndarray] = field(default_factory=dict)
    """The score each threshold rule compares (``holt_winters``, ``discord``,
    ``long_discord``)..."""
    rule_thresholds: dict[str, np.ndarray | float] = field(default_factory=dict)
    """...and the threshold it compares it with at each point (raised on bursty series)."""

    def explain(self, i: int) -> str:
        """Which rules raised an alert at point ``i``, with their scores and thresholds."""
        parts = []
        for rule, mask in self.fired.items():
            if not mask[i]:
                continue
            if rule == "classifier":
                parts.append(f"classifier p={self.prob[i]:.3f}")
                continue
            k = self.rule_thresholds[rule]
            k_i = float(k[i]) if isinstance(k, np.ndarray) else float(k)
            parts.append(f"{rule} {self.rule_scores[rule][i]:.2f} >= {k_i:.2f}")
        return ", ".join(parts)


@dataclass
class LearnedModel:
    """Everything the learned detector needs; immutable once trained or loaded."""

    forecaster: QuantileForecaster
    classifier: AnomalyClassifier
    post: PostProcess = field(default_factory=PostProcess)
    info: dict[str, Any] = field(default_factory=dict)

    def scan(self, timestamps: np.ndarray, values: np.ndarray) -> Scan:
        """Run forecaster, irregularity, classifier and filters over every point."""
        ff = build_features(timestamps, values)
        sc = score_frame(self.forecaster, ff, discord=self.post.discord_threshold > 0)
        prob = np.where(sc.valid, self.classifier.predict_proba(sc.feats), 0.0)
        burst = sc.burst if self.post.burst_ref > 0 else None
        fired = self.post.rule_alerts(
            prob, sc.signed, sc.alertable, sc.score, sc.hw, burst, sc.period, sc.discord,
            sc.discord_record, sc.hw_seen, sc.long_discord,
        )  # fmt: skip
        scores = {"holt_winters": sc.hw, "discord": sc.discord, "long_discord": sc.long_discord}
        to_units = lambda q: ff.center + ff.scale * q  # noqa: E731
        return Scan(
            prob=prob,
            score=np.where(sc.valid, sc.score, 0.0),
            alerts=np.logical_or.reduce(list(fired.values())),
            expected=to_units(sc.forecast.median),
            lower=to_units(sc.forecast.lower),
            upper=to_units(sc.forecast.upper),
            valid=sc.valid,
            fired=fired,
            rule_scores={r: scores[r] for r in fired if r in scores},
            rule_thresholds={
                r: self.post.rule_threshold(r, burst, sc.discord_record)
                for r in fired
                if r in scores
            },
        )

    def save(self, path: str | Path) -> Path:
        """Write the artefact directory (created if needed) and return its path.

        Every file is written atomically (a temporary file in the same directory, then
        ``os.replace``), ``meta.json`` last, so a crash mid-save leaves whole files only."""
        if self.forecaster.backend != "lightgbm":
            raise ValueError("only lightgbm-backed forecasters can be saved")
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        boosters = {f"forecast_{name}.txt": b for name, b in self.forecaster.models.items()}
        boosters["classifier.txt"] = self.classifier.model
        files = {}
        for name, booster in boosters.items():
            data = booster.model_to_string().encode()  # what ``save_model`` writes
            write_atomic(out / name, data)
            files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "alphas": list(self.forecaster.alphas),
            "mean_model": self.forecaster.mean_model,
            "forecast_features": list(FORECAST_FEATURES),
            "classifier_features": list(CLASSIFIER_FEATURES),
            "postprocess": self.post.to_dict(),
            "info": self.info,
            "files": files,
        }
        text = json.dumps(meta, indent=2, sort_keys=True) + "\n"
        write_atomic(out / "meta.json", text.encode())
        return out

    @classmethod
    def load(cls, path: str | Path) -> LearnedModel:
        """Read an artefact written by :meth:`save`; errors name the file and what is wrong
        (a malformed ``meta.json`` field: ``meta.json: field X: expected Y, got Z``)."""
        try:
            import lightgbm as lgb
        except ImportError:
            raise ModelLoadError(f"{path}: {NEEDS_LIGHTGBM}") from None

        root = Path(path)
        meta_path = root / "meta.json"
        if not meta_path.is_file():
            raise ModelLoadError(f"{meta_path}: not found; train one with `anomaly train`")
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"{meta_path}:{exc.lineno}:{exc.colno}: {exc.msg}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelLoadError(f"{meta_path}: cannot read: {exc}") from exc
        if not isinstance(meta, dict):
            raise ModelLoadError(f"{meta_path}: expected a JSON object, got {_kind(meta)}")
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ModelLoadError(
                f"{meta_path}: format/version {meta.get('format')!r}/{meta.get('version')!r},"
                f" expected {FORMAT!r}/{VERSION}; artefacts are not converted: retrain it with"
                f" this modelhealth (`modelhealth anomaly train DATASET --out {root}`)"
            )
        for field_name, expected in (
            ("forecast_features", FORECAST_FEATURES),
            ("classifier_features", CLASSIFIER_FEATURES),
        ):
            got = meta.get(field_name, ())
            if not isinstance(got, list) or tuple(got) != expected:
                raise ModelLoadError(f"{meta_path}: {field_name} differ from this code's features")
        forecaster = QuantileForecaster(
            alphas=_alphas(meta_path, meta.get("alphas")),
            mean_model=_typed(meta_path, meta, "mean_model", bool, "true or false", False),
        )
        post = _post(meta_path, meta.get("postprocess", {}))
        info = _typed(meta_path, meta, "info", dict, "an object", {})
        files = _files(meta_path, meta.get("files"))
        for name in forecaster.model_keys():
            text = _model_text(root / f"forecast_{name}.txt", files)
            forecaster.models[name] = _booster(lgb, root / f"forecast_{name}.txt", text)
        clf_file = root / "classifier.txt"
        classifier = AnomalyClassifier(model=_booster(lgb, clf_file, _model_text(clf_file, files)))
        return cls(forecaster=forecaster, classifier=classifier, post=post, info=dict(info))


_SHARED: dict[Path, tuple[tuple[tuple[str, int, int, int], ...], LearnedModel]] = {}
_SHARED_LOCK = threading.Lock()


def _artefact_fingerprint(root: Path) -> Stamps:
    """Stamps (size, mtime, inode) of every file of an artefact: any retrain, copy or
    restore over it changes one of them."""
    try:
        files = sorted(e.path for e in os.scandir(root) if e.is_file())
    except OSError:
        return ()  # not there: ``load`` says so
    return file_stamps(files)


def load_shared(path: str | Path) -> LearnedModel:
    """:meth:`LearnedModel.load`, once per artefact while its files are unchanged.

    Every learned rule of a config that names the same model, every config reload and every
    dashboard render loaded and checked it again (0.16 s each, LightGBM boosters and all);
    they now share one. Callers must not change the model they get (``dataclasses.replace``
    it, as :class:`~modelhealth.anomaly.detector.LearnedDetector` does for overrides)."""
    root = Path(path).expanduser().resolve()
    fingerprint = _artefact_fingerprint(root)
    with _SHARED_LOCK:
        hit = _SHARED.get(root)
    if hit is not None and fingerprint and hit[0] == fingerprint:
        return hit[1]
    model = LearnedModel.load(root)
    with _SHARED_LOCK:
        _SHARED[root] = (fingerprint, model)
    return model


MODEL_HEAD = b"tree\n"
"""How every LightGBM text model starts."""
MODEL_TAIL = b"end of parameters"
"""LightGBM's last line of a saved model (before the pandas line the Python package adds)."""


def _model_text(file: Path, files: dict[str, dict[str, Any]] | None) -> str:
    """The text of a model file, checked before LightGBM parses it (a truncated text model
    aborts the process inside LightGBM): against the size and sha256 ``meta.json`` records,
    or, for artefacts written before it recorded them, for LightGBM's head and trailer."""
    if not file.is_file():
        raise ModelLoadError(f"{file}: missing model file")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{file}: cannot read: {exc.strerror or exc}") from exc
    damaged = f"{file}: damaged model file"
    fix = "retrain with `anomaly train` or restore the artefact"
    if files is not None:
        want = files.get(file.name)
        if want is None:
            raise ModelLoadError(
                f"{file.parent / 'meta.json'}: field files: no entry for {file.name}"
            )
        if len(data) != want["size"]:
            raise ModelLoadError(
                f"{damaged} ({len(data)} bytes, meta.json records {want['size']}); {fix}"
            )
        if hashlib.sha256(data).hexdigest() != want["sha256"]:
            raise ModelLoadError(f"{damaged} (sha256 differs from meta.json's); {fix}")
    elif not data.startswith(MODEL_HEAD) or MODEL_TAIL not in data[-4096:]:
        what = "empty" if not data else "not a complete LightGBM text model"
        raise ModelLoadError(f"{damaged} ({what}, {len(data)} bytes); {fix}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelLoadError(f"{damaged} (not UTF-8 text at byte {exc.start}); {fix}") from None


def _booster(lgb: Any, file: Path, text: str) -> Any:
    try:
        return lgb.Booster(model_str=text)
    except lgb.basic.LightGBMError as exc:
        raise ModelLoadError(f"{file}: LightGBM cannot load it: {exc}") from None


def _kind(value: Any) -> str:
    """``value`` as an error message shows what was found."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, dict | list):
        return f"{'an object' if isinstance(value, dict) else 'a list'} {json.dumps(value)[:60]}"
    return json.dumps(value)[:60] if isinstance(value, str | int | float) else repr(value)[:60]


def _bad(meta_path: Path, name: str, expected: str, value: Any) -> ModelLoadError:
    return ModelLoadError(f"{meta_path}: field {name}: expected {expected}, got {_kind(value)}")


def _typed(meta_path: Path, meta: dict[str, Any], name: str, kind: type, what: str, default: Any):
    value = meta.get(name, default)
    if not isinstance(value, kind):
        raise _bad(meta_path, name, what, value)
    return value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _alphas(meta_path: Path, value: Any) -> tuple[float, ...]:
    what = "a list of at least two distinct quantiles between 0 and 1"
    if (
        not isinstance(value, list)
        or len(value) < 2
        or not all(_number(a) and 0 < a < 1 for a in value)
        or len(set(value)) != len(value)
    ):
        raise _bad(meta_path, "alphas", what, value)
    return tuple(float(a) for a in value)


def _post(meta_path: Path, value: Any) -> PostProcess:
    """``postprocess`` checked against the ranges a rule's YAML overrides must keep
    (``detector.OVERRIDES``), plus the classifier threshold training picks to switch the
    classifier rule off (``tuning.OFF``): a value out of them is refused at load."""
    from modelhealth.anomaly.detector import OVERRIDES
    from modelhealth.anomaly.tuning import OFF

    if not isinstance(value, dict):
        raise _bad(meta_path, "postprocess", "an object", value)
    clean: dict[str, Any] = {}
    for name, (kind, lo, hi) in OVERRIDES.items():
        if name not in value:
            continue
        v = value[name]
        off = name == "threshold" and _number(v) and v == OFF
        ok = _number(v) and lo <= v <= hi and (kind is float or float(v).is_integer())
        if not (ok or off):
            what = "an integer" if kind is int else "a number"
            what = f"{what} in [{lo:g}, {hi:g}]"
            if name == "threshold":
                what += f" (or {OFF:g}: the classifier rule off)"
            raise _bad(meta_path, f"postprocess.{name}", what, v)
        clean[name] = kind(v)
    return PostProcess(**clean)


def _files(meta_path: Path, value: Any) -> dict[str, dict[str, Any]] | None:
    """``files`` (model file -> size and sha256), or None for artefacts written without it."""
    if value is None:
        return None
    what = 'an object of {"FILE": {"size": BYTES, "sha256": HEX}}'
    if not isinstance(value, dict):
        raise _bad(meta_path, "files", what, value)
    for name, entry in value.items():
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("size"), int)
            or isinstance(entry.get("size"), bool)
            or not isinstance(entry.get("sha256"), str)
        ):
            raise _bad(meta_path, f"files.{name}", what.split(": ", 1)[1][:-1], entry)
    return value
