"""Typed control protocol shared by client and daemon."""
