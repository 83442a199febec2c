"""Composition root: task supervision, clock, control server, reload."""
