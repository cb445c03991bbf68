"""HTTP routes, one module per area (router + its schemas)."""
