"""Alembic migrations, shipped inside the package so that ``calgate migrate`` works from a
wheel. Revisions live in ``versions/``; SQLite runs in batch mode."""
