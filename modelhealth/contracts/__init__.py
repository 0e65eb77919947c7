"""Data contracts: schema, special values, ranges, domains and distributions of model inputs."""

from modelhealth.contracts.checks import CheckRegistry
from modelhealth.contracts.contract import DataContract, build_contract
from modelhealth.contracts.report import CheckResult, ContractReport, Status
from modelhealth.contracts.validate import contract_metrics, validate_frame, validate_window

__all__ = [
    "CheckRegistry",
    "CheckResult",
    "ContractReport",
    "DataContract",
    "Status",
    "build_contract",
    "contract_metrics",
    "validate_frame",
    "validate_window",
]
