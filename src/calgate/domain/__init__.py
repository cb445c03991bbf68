"""Pure domain model: no SQLAlchemy, httpx or FastAPI imports (checked by a test)."""
