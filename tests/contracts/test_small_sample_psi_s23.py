"""A contract's PSI check is judged from 100 values on, as the rules' drift metrics are.

PSI reads sampling noise as drift on small samples: 20 values drawn from the training data
itself read PSI > 0.2 92% of the time. ``contract.status`` of a quiet hour went critical on
that noise, and a 30-row batch through ``contract validate`` did too."""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelhealth.contracts.contract import build_contract
from modelhealth.contracts.report import Status
from modelhealth.contracts.validate import PSI_MIN_COUNT, validate_frame
from modelhealth.rules.metrics import DRIFT_MIN_COUNT

RNG = np.random.default_rng(7)
TRAINING = pd.DataFrame({"amount": RNG.lognormal(3.0, 1.0, 20_000)})


def _psi(frame: pd.DataFrame):
    contract = build_contract("fraud", TRAINING)
    (check,) = [r for r in validate_frame(contract, frame).results if r.check == "psi"]
    return check


def test_a_small_sample_of_the_training_data_is_not_judged() -> None:
    check = _psi(TRAINING.sample(30, random_state=1))
    assert np.isnan(check.value) and check.status == Status.HEALTHY
    assert check.message == "not judged: 30 values, fewer than the 100 PSI needs"


def test_a_real_shift_of_a_big_enough_sample_is_still_critical() -> None:
    check = _psi(pd.DataFrame({"amount": TRAINING["amount"].sample(500, random_state=2) * 3}))
    assert check.status == Status.CRITICAL and check.value > 1.0


def test_the_floor_is_the_rules_drift_default() -> None:
    assert PSI_MIN_COUNT == DRIFT_MIN_COUNT
