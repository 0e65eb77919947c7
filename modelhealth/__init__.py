"""modelhealth: keep production ML models healthy.

Inference events flow from the ingestion SDK into a store (embedded DuckDB by default, Apache
Pinot at scale); YAML rules evaluate health metrics against it and alerting tells the owners.
"""

__version__ = "0.1.0"
