"""A column null (or special) throughout training has no distribution to drift from.

Its PSI check read ``nan (threshold 0.1)`` with no message, as if the batch were broken or
the value simply missing; it now says why it is not judged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelhealth.contracts import Status, build_contract, validate_frame


@pytest.mark.parametrize(
    "training",
    [[np.nan] * 300, [None] * 300, [np.inf] * 300],
    ids=["nan", "none", "inf"],
)
def test_its_psi_says_why_it_is_not_judged(training: list[object]) -> None:
    contract = build_contract("m", pd.DataFrame({"x": training, "y": np.arange(300.0)}))
    report = validate_frame(contract, pd.DataFrame({"x": np.arange(300.0), "y": np.arange(300.0)}))
    (found,) = [r for r in report.results if r.check == "psi" and r.column == "x"]
    assert np.isnan(found.value) and found.status == Status.HEALTHY
    assert found.threshold is None
    assert found.message == "not judged: the contract holds no training values to compare with"
