"""The driver: turns reconcile decisions into Databricks calls, status, Events and requeues."""
