"""Every command form ``fail2ban-client -h`` (1.0.2) lists, and what warden does with it.

The README's table "fail2ban-client commands" is :func:`table` (a test keeps them equal, and
checks this list against the real ``fail2ban-client -h`` where it is installed and against
the options :mod:`warden.daemon.jailset` really serves).

Outcomes:

- ``identical``: accepted on fail2ban's socket (``compat_socket``) and by warden's own client,
  printing what fail2ban-client prints against fail2ban-server in the same state (the e2e
  test ``tests/e2e/test_fail2ban_client.py`` runs most of them side by side);
- ``accepted``: carried out, but the text differs (the note says how);
- ``refused``: answered with an error that says why and what to do instead.

A form has one outcome for warden's own client and, where it differs, another through
fail2ban-client on fail2ban's socket (``socket``: the client's own text, ``OK`` for a reload,
fail2ban's server answers that warden's client prints as tables).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FORMS", "ClientForm", "table"]


@dataclass(frozen=True, slots=True)
class ClientForm:
    """One line of ``fail2ban-client -h``: its form, warden's outcome, and why."""

    form: str
    outcome: str
    note: str = ""
    #: the outcome through fail2ban-client on fail2ban's socket, where it differs from
    #: :attr:`outcome` (which is that of warden's own client, and of both otherwise)
    socket: str = ""

    @property
    def on_socket(self) -> str:
        """The outcome through fail2ban-client on ``compat_socket``."""
        return self.socket or self.outcome


_REGEX = ("the regexes as written (`<HOST>` unexpanded); fail2ban lists them after its own "
          "expansion")
_RELOAD = ("fail2ban-client prints `OK` as with fail2ban; warden's client says what was "
           "kept and (re)started")
_ACTION_SET = ("the running action's next commands use it (a native firewall action is "
               "rebuilt on the new values and given the jail's bans); until a reload")

#: every form of ``fail2ban-client -h``, in its order, then the forms it does not list
FORMS: tuple[ClientForm, ...] = (
    ClientForm("start", "refused", "fail2ban-client starts fail2ban-server itself (against "
               "warden's socket it finds a server running and says so, as with fail2ban); "
               "start warden with `warden server` or the service manager", "identical"),
    ClientForm("restart", "refused", "restarting the daemon is the service manager's job "
               "(`systemctl restart warden`); `restart JAIL` works"),
    ClientForm("restart [--unban] [--if-exists] <JAIL>", "accepted", _RELOAD, "identical"),
    ClientForm("reload [--restart] [--unban] [--all]", "accepted", _RELOAD, "identical"),
    ClientForm("reload [--restart] [--unban] [--if-exists] <JAIL>", "accepted", _RELOAD,
               "identical"),
    ClientForm("stop", "identical"),
    ClientForm("unban --all", "identical"),
    ClientForm("unban <IP> ... <IP>", "accepted", "`warden unban` is warden's own command (it "
               "prints `unbanned N`)", "identical"),
    ClientForm("banned", "accepted", "`warden banned` is warden's own command (a table with "
               "the time left)", "identical"),
    ClientForm("banned <IP> ... <IP>]", "accepted", "`warden banned IP` prints warden's "
               "table", "identical"),
    ClientForm("status", "identical"),
    ClientForm("ping", "identical"),
    ClientForm("echo", "accepted", "internal; not a command of warden's client", "identical"),
    ClientForm("help", "accepted", "`warden --help` and `warden COMMAND --help`"),
    ClientForm("version", "accepted", "the version is warden's own"),
    ClientForm("set loglevel <LEVEL>", "identical", "TRACEDEBUG and HEAVYDEBUG are refused "
               "(warden has no such levels)"),
    ClientForm("get loglevel", "identical"),
    ClientForm("set logtarget <TARGET>", "identical", "the new target is opened before the "
               "old one is closed; one that cannot be opened fails (`Failed to change log "
               "target`, the daemon's log says why) and the log stays; a reload goes back to "
               "the target the daemon started with (fail2ban's reload sets its configured "
               "one again)"),
    ClientForm("get logtarget", "identical"),
    ClientForm("set syslogsocket auto|<SOCKET>", "identical", "logging to SYSLOG, the log "
               "moves to the new socket at once (fail2ban keeps the old connection until the "
               "target changes), and one that is not a socket fails (`Failed to change syslog "
               "socket`); until a reload, as `set logtarget`. With `auto` and no local "
               "syslog socket warden sends to UDP localhost:514 where fail2ban fails"),
    ClientForm("get syslogsocket", "identical"),
    ClientForm("flushlogs", "identical"),
    ClientForm("set dbfile <FILE>", "identical", "as fail2ban with jails running: the file "
               "in use is kept, another refused (`Cannot change database when there are jails "
               "present`); with no jail running warden still refuses (its store is opened at "
               "start: set dbfile in warden.conf and restart)"),
    ClientForm("get dbfile", "identical"),
    ClientForm("set dbmaxmatches <INT>", "identical", "0 to 1000; a jail that kept no lines "
               "(it was 0) keeps them after its next reload"),
    ClientForm("get dbmaxmatches", "identical"),
    ClientForm("set dbpurgeage <SECONDS>", "identical"),
    ClientForm("get dbpurgeage", "identical"),
    ClientForm("add <JAIL> <BACKEND>", "refused", "warden builds jails from the "
               "configuration: add the jail to jail.local and `reload`"),
    ClientForm("start <JAIL>", "identical", "warden can also start a configured jail that "
               "`stop JAIL` stopped (fail2ban needs a reload for that)"),
    ClientForm("stop <JAIL>", "identical"),
    ClientForm("status <JAIL> [FLAVOR]", "identical", "basic, short, all (and unknown "
               "flavors, as basic); `cymru` is refused: warden makes no DNS look-ups to Team "
               "Cymru"),
    ClientForm("set <JAIL> idle on|off", "identical", "an idle jail reads no lines until "
               "`idle off` or a reload that rebuilds it; its bans still expire"),
    ClientForm("set <JAIL> ignoreself true|false", "identical"),
    ClientForm("set <JAIL> addignoreip <IP>", "identical"),
    ClientForm("set <JAIL> delignoreip <IP>", "identical"),
    ClientForm("set <JAIL> ignorecommand <VALUE>", "identical"),
    ClientForm("set <JAIL> ignorecache <VALUE>", "identical"),
    ClientForm("set <JAIL> addlogpath <FILE> ['tail']", "identical"),
    ClientForm("set <JAIL> dellogpath <FILE>", "identical"),
    ClientForm("set <JAIL> logencoding <ENCODING>", "identical"),
    ClientForm("set <JAIL> addjournalmatch <MATCH>", "accepted", "a journal jail's reader "
               "restarts on the new matches; not compared with fail2ban here (no journal in "
               "the test namespace)"),
    ClientForm("set <JAIL> deljournalmatch <MATCH>", "accepted", "as addjournalmatch"),
    ClientForm("set <JAIL> addfailregex <REGEX>", "accepted", _REGEX),
    ClientForm("set <JAIL> delfailregex <INDEX>", "accepted", _REGEX),
    ClientForm("set <JAIL> addignoreregex <REGEX>", "accepted", _REGEX + " (identical for a "
               "regex without tags)"),
    ClientForm("set <JAIL> delignoreregex <INDEX>", "accepted", _REGEX + " (identical for "
               "regexes without tags)"),
    ClientForm("set <JAIL> findtime <TIME>", "identical"),
    ClientForm("set <JAIL> bantime <TIME>", "identical"),
    ClientForm("set <JAIL> datepattern <PATTERN>", "accepted", "identical for `{^LN-BEG}` and "
               "the default; for a pattern fail2ban prints its template's name, warden the "
               "pattern"),
    ClientForm("set <JAIL> usedns <VALUE>", "identical"),
    ClientForm("set <JAIL> attempt <IP> [<failure1> ... <failureN>]", "identical"),
    ClientForm("set <JAIL> banip <IP> ... <IP>", "identical"),
    ClientForm("set <JAIL> unbanip [--report-absent] <IP> ... <IP>", "identical"),
    ClientForm("set <JAIL> maxretry <RETRY>", "identical"),
    ClientForm("set <JAIL> maxmatches <INT>", "identical"),
    ClientForm("set <JAIL> maxlines <LINES>", "identical"),
    ClientForm("set <JAIL> addaction <ACT>[ <PYTHONFILE> <JSONKWARGS>]", "identical",
               "ACT of action.d is loaded with the jail's options (as `action = ACT` in the "
               "jail), started and given the jail's bans (as restored bans); an ACT with no "
               "action.d file is fail2ban's empty command action; until a reload. A Python "
               "file (or `ACT.py`) is refused: warden runs no Python actions"),
    ClientForm("set <JAIL> delaction <ACT>", "identical", "the action lifts the jail's bans "
               "and, used by no other jail, is stopped (fail2ban's reload does this; its "
               "`delaction` only forgets the action); the jail's other actions keep the bans"),
    *(ClientForm(f"set <JAIL> action <ACT> {prop} <CMD>", "identical", _ACTION_SET)
      for prop in ("actionstart", "actionstop", "actioncheck", "actionban", "actionunban")),
    ClientForm("set <JAIL> action <ACT> timeout <TIMEOUT>", "identical", "seconds, a positive "
               "number; " + _ACTION_SET),
    ClientForm("set <JAIL> action <ACT> <PROPERTY> <VALUE>", "identical", "a value the "
               "action's commands use as `<PROPERTY>`; " + _ACTION_SET),
    ClientForm("set <JAIL> action <ACT> <METHOD>[ <JSONKWARGS>]", "refused", "warden's "
               "actions are not Python objects with methods to call"),
    ClientForm("get <JAIL> banned", "identical"),
    ClientForm("get <JAIL> banned <IP> ... <IP>]", "identical"),
    ClientForm("get <JAIL> logpath", "identical"),
    ClientForm("get <JAIL> logencoding", "identical"),
    ClientForm("get <JAIL> journalmatch", "identical"),
    ClientForm("get <JAIL> ignoreself", "identical"),
    ClientForm("get <JAIL> ignoreip", "identical"),
    ClientForm("get <JAIL> ignorecommand", "identical"),
    ClientForm("get <JAIL> failregex", "accepted", _REGEX),
    ClientForm("get <JAIL> ignoreregex", "accepted", _REGEX),
    ClientForm("get <JAIL> findtime", "identical"),
    ClientForm("get <JAIL> bantime", "identical"),
    ClientForm("get <JAIL> datepattern", "accepted", "as `set JAIL datepattern`"),
    ClientForm("get <JAIL> usedns", "identical"),
    ClientForm("get <JAIL> banip [<SEP>|--with-time]", "identical"),
    ClientForm("get <JAIL> maxretry", "identical"),
    ClientForm("get <JAIL> maxmatches", "identical"),
    ClientForm("get <JAIL> maxlines", "identical"),
    ClientForm("get <JAIL> actions", "identical"),
    *(ClientForm(f"get <JAIL> action <ACT> {prop}", "accepted", "the command as warden read "
                 "it from action.d (configuration tags substituted, `<ip>` and the other "
                 "run-time tags kept); identical for an empty command")
      for prop in ("actionstart", "actionstop", "actioncheck", "actionban", "actionunban")),
    ClientForm("get <JAIL> action <ACT> timeout", "identical"),
    ClientForm("get <JAIL> actionproperties <ACT>", "refused", "fail2ban lists its Python "
               "object's attributes; use `get JAIL action ACT PROPERTY`"),
    ClientForm("get <JAIL> actionmethods <ACT>", "refused", "fail2ban lists its Python "
               "object's methods; warden's actions have none"),
    ClientForm("get <JAIL> action <ACT> <PROPERTY>", "accepted", "an action.d option or a "
               "parameter of the action, as warden read it"),
    # the forms fail2ban-client's help does not list
    ClientForm("server-status", "accepted", "not a command of warden's client", "identical"),
    ClientForm("set|get <JAIL> bantime.<increment|factor|formula|multipliers|maxtime|rndtime|"
               "overalljails>", "identical", "`multipliers` takes every word (fail2ban keeps "
               "the first)"),
    ClientForm("set|get <JAIL> logtimezone", "identical"),
    ClientForm("set|get <JAIL> prefregex", "accepted", _REGEX),
    ClientForm("-d (dump the configuration)", "accepted", "`warden dump [-c DIR]`: warden's "
               "own reading of the tree as fail2ban-client's command stream; on the stock "
               "tree line for line the same, but durations in seconds (fail2ban repeats "
               "`10m`)"),
)


_BAR = "\\|"  # a bar inside a cell of a Markdown table


def table() -> str:
    """The README's table of :data:`FORMS`, with the count of each outcome on each side."""
    def counts(outcomes: list[str]) -> str:
        identical, accepted, refused = (outcomes.count(o)
                                        for o in ("identical", "accepted", "refused"))
        return (f"{identical} identical, {accepted} accepted with other text, {refused} "
                "refused with a reason")
    lines = [
        f"{len(FORMS)} forms. Through Debian's fail2ban-client on fail2ban's socket "
        f"(`compat_socket`): {counts([f.on_socket for f in FORMS])}. With warden's own "
        f"client: {counts([f.outcome for f in FORMS])}.",
        "",
        "| form | fail2ban-client on `compat_socket` | `warden` | note |",
        "|---|---|---|---|",
    ]
    for form in FORMS:
        cells = (f"`{form.form}`", form.on_socket, form.outcome, form.note)
        lines.append("| " + " | ".join(cell.replace("|", _BAR) for cell in cells) + " |")
    return "\n".join(lines)
