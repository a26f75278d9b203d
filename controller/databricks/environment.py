"""Workspace clients from the usual databricks-sdk configuration, for the command-line tools.

``dbjobs export`` and ``dbjobs plan --against workspace`` run on a person's machine or in CI, not in the
cluster: they authenticate as the databricks-sdk does by default (``DATABRICKS_HOST`` / ``DATABRICKS_TOKEN``,
a ``~/.databrickscfg`` profile chosen with ``--profile`` or ``DATABRICKS_CONFIG_PROFILE``, OAuth, Azure CLI …;
https://docs.databricks.com/aws/en/dev-tools/auth/unified-auth). The controller builds its own clients from
``DatabricksWorkspace`` resources instead.
"""

from __future__ import annotations

from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config

#: How long (seconds) the SDK may keep retrying one call of a command-line run before it raises.
RETRY_TIMEOUT_SECONDS = 60


def client_from_environment(
    *, profile: str | None = None, host: str | None = None, token: str | None = None
) -> WorkspaceClient:
    """A ``WorkspaceClient`` configured as the SDK configures itself, ``profile``/``host``/``token`` winning.

    Raises the SDK's ``ValueError`` when no configuration (or a contradictory one) is found; its message says
    what was looked at.
    """
    config = Config(
        profile=profile,
        host=host,
        token=token,
        retry_timeout_seconds=RETRY_TIMEOUT_SECONDS,
        product="dbjobs-cli",
        product_version="0.1.0",
    )
    return WorkspaceClient(config=config)


def workspace_host(client: WorkspaceClient) -> str:
    """The host ``client`` talks to (``https://…``), for messages and commit texts."""
    return str(client.config.host or "")
