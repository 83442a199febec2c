"""Pure logic: addresses, dates, filter matching, failure tracking, ban policy.

No I/O, no clock, no logging: text and ``now`` in, decisions out.
"""
