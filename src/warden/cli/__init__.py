"""Command-line client: argument parsing, rendering, offline ``regex`` and ``check``."""
