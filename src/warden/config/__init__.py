"""fail2ban-compatible configuration reader producing a frozen, typed model."""
