"""warden: a fast, safe, fail2ban-compatible intrusion prevention daemon."""

__all__ = ["__version__"]

__version__ = "0.1.0"
