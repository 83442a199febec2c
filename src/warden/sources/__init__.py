"""Log readers (adapters)."""
