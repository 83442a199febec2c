"""Firewall backends (adapters): how a ban becomes packets that stop.

========================  ===================================================================
module                    what it holds
========================  ===================================================================
``base``                  the ``FirewallBackend`` protocol (the daemon's interface, documented
                          there), ``JailRule``, ``BanEntry``/``UnbanEntry``, ``BaseBackend``
``runner``                the one I/O seam: argv (+ stdin, env) → ``Completed``; a namespace
                          prefix for tests; a recording twin
``nftables``              Linux default: table ``inet warden``, per-jail sets with timeouts
``ipset``                 iptables/ip6tables + ipset ``hash:net`` sets with timeouts
``pf`` ``ipfw``           FreeBSD: anchors/tables (recorded command contract)
``firewalld``             firewalld ipsets (recorded command contract)
``route`` ``hostsdeny``   blackhole routes; ``/etc/hosts.deny`` blocks
``dryrun``                records, enforces nothing (``dummy``)
``commandaction``         fail2ban ``action.d`` shell actions, run-time values as variables
``shellvars``             the quoting-aware rewrite of ``<tag>`` into ``"${WARDEN_TAG}"``
``notify``                mail (sendmail) and JSON webhooks, rate-limited, off the hot path
``registry``              banaction names → native backends (or ``None``: command action)
========================  ===================================================================
"""
