"""Firewall backends (adapters)."""
