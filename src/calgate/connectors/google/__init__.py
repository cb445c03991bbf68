"""Google Workspace / Google Calendar connector (P2)."""

from calgate.connectors.google.connector import GoogleConnector

__all__ = ["GoogleConnector"]
