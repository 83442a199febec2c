"""Sharing bans and failure counts between hosts through Redis (optional: ``warden-ips[fleet]``).

An adapter like ``store`` and ``backends``: it imports only ``core``; the daemon composes it
(``warden.daemon.fleetlink``). :mod:`warden.fleet.entry` is the entry format and its
validation (no Redis needed); :mod:`warden.fleet.client` the Redis commands (needs redis-py);
:mod:`warden.fleet.link` the publishing and consuming loops with the outbox.
"""
