"""Test support: settings factories, database backends, the canary guard."""
