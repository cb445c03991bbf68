"""HTTP entry point (FastAPI)."""

from calgate.api.app import create_app

__all__ = ["create_app"]
