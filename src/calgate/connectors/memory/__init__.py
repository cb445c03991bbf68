"""The in-memory reference connector."""

from calgate.connectors.memory.connector import MemoryConnector

__all__ = ["MemoryConnector"]
