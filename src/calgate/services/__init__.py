"""Use cases, one module per feature. Services take a unit of work and injected
collaborators; they never commit ad hoc and never import FastAPI."""
