"""The versioned model artefact: forecaster + classifier + post-processing, as one directory.

Layout of ``PATH/``::

    meta.json            format, version, alphas, feature names, post-processing, training info
    forecast_q0.02.txt   LightGBM text models, one per quantile (plus forecast_mean.txt
                         when the forecaster has a mean model)
    classifier.txt

Text models (not pickles) so an artefact is inspectable, diffable and safe to load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelhealth.anomaly.classifier import AnomalyClassifier
from modelhealth.anomaly.features import FORECAST_FEATURES, build_features
from modelhealth.anomaly.forecaster import QuantileForecaster
from modelhealth.anomaly.irregularity import CLASSIFIER_FEATURES
from modelhealth.anomaly.pipeline import score_frame
from modelhealth.anomaly.postprocess import PostProcess
from modelhealth.errors import ModelHealthError

FORMAT = "modelhealth-learned-detector"
VERSION = 8
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
reader would drop it."""


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
    """The score each threshold rule compares (``holt_winters``, ``discord``)..."""
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
            prob, sc.signed, sc.alertable, sc.score, sc.hw, burst, sc.period, sc.discord
        )
        scores = {"holt_winters": sc.hw, "discord": sc.discord}
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
            rule_thresholds={r: self.post.rule_threshold(r, burst) for r in fired if r in scores},
        )

    def save(self, path: str | Path) -> Path:
        """Write the artefact directory (created if needed) and return its path."""
        if self.forecaster.backend != "lightgbm":
            raise ValueError("only lightgbm-backed forecasters can be saved")
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        for name, booster in self.forecaster.models.items():
            booster.save_model(str(out / f"forecast_{name}.txt"))
        self.classifier.model.save_model(str(out / "classifier.txt"))
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "alphas": list(self.forecaster.alphas),
            "mean_model": self.forecaster.mean_model,
            "forecast_features": list(FORECAST_FEATURES),
            "classifier_features": list(CLASSIFIER_FEATURES),
            "postprocess": self.post.to_dict(),
            "info": self.info,
        }
        (out / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return out

    @classmethod
    def load(cls, path: str | Path) -> LearnedModel:
        """Read an artefact written by :meth:`save`; errors name the file and what is wrong."""
        import lightgbm as lgb

        root = Path(path)
        meta_path = root / "meta.json"
        if not meta_path.is_file():
            raise ModelLoadError(f"{meta_path}: not found; train one with `anomaly train`")
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"{meta_path}:{exc.lineno}:{exc.colno}: {exc.msg}") from exc
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ModelLoadError(
                f"{meta_path}: format/version {meta.get('format')!r}/{meta.get('version')!r},"
                f" expected {FORMAT!r}/{VERSION}"
            )
        for field_name, expected in (
            ("forecast_features", FORECAST_FEATURES),
            ("classifier_features", CLASSIFIER_FEATURES),
        ):
            if tuple(meta.get(field_name, ())) != expected:
                raise ModelLoadError(f"{meta_path}: {field_name} differ from this code's features")
        forecaster = QuantileForecaster(
            alphas=tuple(float(a) for a in meta.get("alphas", ())),
            mean_model=bool(meta.get("mean_model", False)),
        )
        if len(forecaster.alphas) < 2:
            raise ModelLoadError(f"{meta_path}: alphas must list at least two quantiles")
        for name in forecaster.model_keys():
            file = root / f"forecast_{name}.txt"
            if not file.is_file():
                raise ModelLoadError(f"{file}: missing model file")
            forecaster.models[name] = lgb.Booster(model_file=str(file))
        clf_file = root / "classifier.txt"
        if not clf_file.is_file():
            raise ModelLoadError(f"{clf_file}: missing model file")
        post = meta.get("postprocess", {})
        return cls(
            forecaster=forecaster,
            classifier=AnomalyClassifier(model=lgb.Booster(model_file=str(clf_file))),
            post=PostProcess(
                threshold=float(post.get("threshold", 0.5)),
                min_duration=int(post.get("min_duration", 1)),
                min_magnitude=float(post.get("min_magnitude", 0.0)),
                novelty=int(post.get("novelty", 0)),
                hw_threshold=float(post.get("hw_threshold", 0.0)),
                cooldown=int(post.get("cooldown", 0)),
                burst_ref=float(post.get("burst_ref", 0.0)),
                discord_threshold=float(post.get("discord_threshold", 0.0)),
            ),
            info=dict(meta.get("info", {})),
        )
