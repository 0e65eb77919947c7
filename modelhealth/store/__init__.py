"""One query interface (:class:`QueryBackend`) over DuckDB (embedded) or Apache Pinot."""

from modelhealth.store.backend import QueryBackend, Scope

__all__ = ["QueryBackend", "Scope"]
