"""databricks layer."""
