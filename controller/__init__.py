"""dbjobs: a GitOps reconciliation controller for Databricks jobs."""

__version__ = "0.1.0"
