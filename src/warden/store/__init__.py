"""Ban persistence (adapters)."""
