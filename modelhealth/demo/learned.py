"""The demo's learned-detector rules: a model trained at start-up on the simulated fleet
(``anomaly.fleet``, not the demo's own traffic) and one p99-latency rule per demo model.

They live beside copies of the example configs in the demo's output folder, so the example
configs stay model-free (``rules validate examples/rules`` needs no trained model) while the
demo's scheduler and dashboard see both. The dashboard's Configs page plots the learned
rules' bands; over the demo's backfill the one alert is fraud v3's latency regression.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path

RULE_NAME = "p99-learned"
CONFIG = """\
# Written by `modelhealth demo`: the learned detector (trained at start-up on a simulated
# fleet, not on this demo's traffic) on the p99 latency of every version. Its band and
# alerts are on the dashboard's Configs page.
model: {model}
owners: [ml-oncall@example.com]
rules:
  - name: {rule}
    metric: latency.p99
    window: 5m
    group_by: [version]
    detector: {{type: learned, model: ../models/latency}}
    severity: warning
"""


def with_learned_rules(
    example_rules: Path, out: Path, models: Iterable[str], say: Callable[[str], None]
) -> Path:
    """Copy the example configs (rules, references, contracts side by side, so relative
    paths hold) into ``out/config``, add the learned rules, and return the rules folder.
    Without the ``learn`` extra the copy is returned alone, and the demo says how to install it."""
    root = out / "config"
    for part in ("rules", "references", "contracts"):
        src = example_rules.parent / part
        if src.is_dir():
            shutil.copytree(src, root / part, dirs_exist_ok=True)
    rules = root / "rules"
    from modelhealth.anomaly import learn_extra_problem

    problem = learn_extra_problem()  # before importing the modules that need the extra
    if problem:
        say(f"learned detector: skipped: {problem}")
        return rules
    from modelhealth.anomaly.fleet import generate_fleet
    from modelhealth.anomaly.train import train

    started = time.monotonic()
    say("learned detector: training on a simulated fleet…")
    fleet = generate_fleet(seed=1)
    train(fleet, seed=0).save(root / "models" / "latency")
    names = sorted(models)
    for model in names:
        (rules / f"{model}.learned.yaml").write_text(CONFIG.format(model=model, rule=RULE_NAME))
    say(
        f"learned detector: trained on {len(fleet)} simulated series in "
        f"{time.monotonic() - started:.1f}s; rule '{RULE_NAME}' on {', '.join(names)}"
    )
    return rules
