"""The SDK model servers call per inference, and the sinks it publishes to."""

from modelhealth.ingestion.reference import ModelReference, build_reference
from modelhealth.ingestion.sdk import Monitor

__all__ = ["ModelReference", "Monitor", "build_reference"]
