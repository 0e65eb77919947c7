"""A data contract: what a model's input looked like in training, as a versioned file.

Built once from the reference (training) DataFrame and kept beside the alert configs, it
records per column the schema, null and special-value rates, range, uniqueness, categorical
domain and the histogram bins every later batch or stored window is compared against. The
bins are exactly :func:`modelhealth.ingestion.reference.build_feature_reference`'s, so a
contract also serves as the SDK's :class:`ModelReference` (:meth:`DataContract.to_reference`).

    contract = build_contract("fraud", pd.read_parquet("train.parquet"))
    contract.save("contracts/fraud.contract.yaml")

This module gathers the contract's public names; each lives in the module of its job:

- :mod:`~modelhealth.contracts.datamodel`: :class:`DataContract`, :class:`ColumnContract`,
  :class:`CustomCheck`, the default thresholds and the saved format;
- :mod:`~modelhealth.contracts.build`: :func:`build_contract` from a reference DataFrame,
  :func:`read_table` to read one;
- :mod:`~modelhealth.contracts.specials`: what counts as a special value;
- :mod:`~modelhealth.contracts.parse`: reading a contract file, every issue located;
- :mod:`~modelhealth.contracts.problems`: the field-type checks the parser runs.
"""

from __future__ import annotations

from modelhealth.contracts.build import build_column, build_contract, read_table
from modelhealth.contracts.datamodel import (
    DEFAULT_THRESHOLDS,
    SCHEMA_VERSION,
    ColumnContract,
    CustomCheck,
    DataContract,
)
from modelhealth.contracts.parse import parse_contract, parse_contract_partial, read_contract_text
from modelhealth.contracts.problems import (
    Problem,
    column_problems,
    custom_problems,
    top_level_problems,
)
from modelhealth.contracts.specials import INF_LABEL, beyond_huge, special_hits, special_mask

__all__ = [
    "DEFAULT_THRESHOLDS",
    "INF_LABEL",
    "SCHEMA_VERSION",
    "ColumnContract",
    "CustomCheck",
    "DataContract",
    "Problem",
    "beyond_huge",
    "build_column",
    "build_contract",
    "column_problems",
    "custom_problems",
    "parse_contract",
    "parse_contract_partial",
    "read_contract_text",
    "read_table",
    "special_hits",
    "special_mask",
    "top_level_problems",
]
