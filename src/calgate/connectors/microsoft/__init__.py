"""Microsoft 365 connector through Microsoft Graph (P1)."""

from calgate.connectors.microsoft.connector import MicrosoftConnector

__all__ = ["MicrosoftConnector"]
