"""Data contracts: schema, special values, ranges, domains and distributions of model inputs."""

from modelhealth.contracts.build import build_contract
from modelhealth.contracts.checks import CheckRegistry
from modelhealth.contracts.datamodel import DataContract
from modelhealth.contracts.report import CheckResult, ContractReport, Status
from modelhealth.contracts.validate import (
    WINDOW_CHECKS,
    contract_metrics,
    report_metrics,
    validate_frame,
    validate_stats,
    validate_window,
)

__all__ = [
    "WINDOW_CHECKS",
    "CheckRegistry",
    "CheckResult",
    "ContractReport",
    "DataContract",
    "Status",
    "build_contract",
    "contract_metrics",
    "report_metrics",
    "validate_frame",
    "validate_stats",
    "validate_window",
]
