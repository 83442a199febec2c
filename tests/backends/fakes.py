"""Models of pfctl, ipfw and firewall-cmd for the backends that cannot run on Linux.

Each fake is a ``respond`` function for :class:`RecordingRunner`: it interprets the argv and
stdin the backend sends, keeps the firewall's state (tables, rules) and answers in the tool's
output format, so the shared contract test can run against it and the recorded commands can
be compared with the documented contract. They model the tools' documented behaviour that
warden depends on (e.g. pf replacing a table's contents when a ruleset defining it is loaded),
not everything the tools do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from warden.backends.runner import Command, Completed

__all__ = ["FakeFirewallCmd", "FakeIpfw", "FakePfctl"]


@dataclass
class FakePfctl:
    tables: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)
    killed: list[str] = field(default_factory=list)

    def __call__(self, command: Command) -> Completed:
        argv = list(command.argv[1:])
        if argv[:1] == ["-k"]:
            self.killed.append(argv[1])
            return Completed(0)
        assert argv[0] == "-a", argv
        anchor = argv[1]
        rest = argv[2:]
        if rest == ["-s", "Tables"]:
            names = sorted(t for (a, t) in self.tables if a == anchor)
            return Completed(0, "".join(f"{n}\n" for n in names))
        if rest in (["-f", "-"], ["-R", "-f", "-"]):
            text = command.stdin or ""
            if rest[0] != "-R":  # tables defined by the ruleset are (re)defined: emptied
                for line in text.splitlines():
                    if line.startswith("table <"):
                        self.tables[(anchor, line.split("<")[1].split(">")[0])] = set()
            rules = [x for x in text.splitlines() if not x.startswith("table")]
            self.rules[anchor] = "\n".join(rules)
            return Completed(0)
        if rest == ["-F", "rules"]:
            self.rules.pop(anchor, None)
            return Completed(0)
        assert rest[0] == "-t" and rest[2] == "-T", rest
        key, verb, addresses = (anchor, rest[1]), rest[3], rest[4:]
        if verb == "add":
            self.tables.setdefault(key, set()).update(addresses)
        elif key not in self.tables:
            return Completed(1, "", "pfctl: Table does not exist.")
        elif verb == "delete":
            self.tables[key].difference_update(addresses)
        elif verb == "show":
            return Completed(0, "".join(f"   {a}\n" for a in sorted(self.tables[key])))
        elif verb == "flush":
            self.tables[key].clear()
        elif verb == "kill":
            del self.tables[key]
        return Completed(0)


@dataclass
class FakeIpfw:
    tables: dict[str, set[str]] = field(default_factory=dict)
    rules: dict[str, list[str]] = field(default_factory=dict)

    def _one(self, words: list[str]) -> Completed:
        if words[0] == "-q":
            words = words[1:]
        if words[0] == "table":
            name, verb, args = words[1], words[2], words[3:]
            if verb == "create":
                if name in self.tables:
                    return Completed(71, "", "ipfw: Table creation failed: File exists")
                self.tables[name] = set()
                return Completed(0)
            if name not in self.tables:
                return Completed(71, "", f"ipfw: table {name} does not exist")
            table = self.tables[name]
            if verb == "info":
                return Completed(0, f"--- table({name}), set(0) ---\n")
            if verb == "add":
                table.add(args[0] if "/" in args[0] else args[0] + "/32")
            elif verb == "delete":
                table.discard(args[0] if "/" in args[0] else args[0] + "/32")
            elif verb == "list":
                return Completed(0, f"--- table({name}), set(0) ---\n"
                                 + "".join(f"{a} 0\n" for a in sorted(table)))
            elif verb == "flush":
                table.clear()
            elif verb == "destroy":
                del self.tables[name]
            return Completed(0)
        if words[0] == "list":
            found = self.rules.get(words[1])
            return Completed(0, "".join(f"{r}\n" for r in found)) if found else Completed(
                1, "", f"ipfw: rule {words[1]} does not exist")
        if words[0] == "add":
            self.rules.setdefault(words[1], []).append(" ".join(words[1:]))
            return Completed(0)
        if words[0] == "delete":
            return Completed(0) if self.rules.pop(words[1], None) else Completed(1)
        raise AssertionError(words)

    def __call__(self, command: Command) -> Completed:
        argv = list(command.argv[1:])
        if argv == ["-q", "/dev/stdin"]:
            for line in (command.stdin or "").splitlines():
                self._one(line.split())  # -q: a line that fails does not stop the file
            return Completed(0)
        return self._one(argv)


@dataclass
class FakeFirewallCmd:
    ipsets: dict[str, set[str]] = field(default_factory=dict)
    direct: set[tuple[str, ...]] = field(default_factory=set)

    def __call__(self, command: Command) -> Completed:
        argv = list(command.argv[1:])
        stdin_entries = (command.stdin or "").split()
        if argv[0] == "--direct":
            verb = argv[1]
            if verb.startswith("--new-ipset="):
                name = verb.split("=", 1)[1]
                if name in self.ipsets:
                    return Completed(26, "", f"Error: NAME_CONFLICT: new_ipset(): '{name}'")
                self.ipsets[name] = set()
            elif verb.startswith("--delete-ipset="):
                self.ipsets.pop(verb.split("=", 1)[1])
            elif verb == "--add-rule":
                if tuple(argv[2:]) in self.direct:
                    return Completed(0, "", "Warning: ALREADY_ENABLED: rule")
                self.direct.add(tuple(argv[2:]))
            elif verb == "--remove-rule":
                if tuple(argv[2:]) not in self.direct:
                    return Completed(0, "", "Warning: NOT_ENABLED: rule")
                self.direct.discard(tuple(argv[2:]))
            return Completed(0, "success\n")
        name = argv[0].split("=", 1)[1]
        if name not in self.ipsets:
            return Completed(122, "", f"Error: INVALID_IPSET: {name}")
        if argv[1] == "--get-entries":
            return Completed(0, "".join(f"{e}\n" for e in sorted(self.ipsets[name])))
        if argv[1] == "--add-entries-from-file=/dev/stdin":
            self.ipsets[name].update(stdin_entries)
        elif argv[1] == "--remove-entries-from-file=/dev/stdin":
            self.ipsets[name].difference_update(stdin_entries)
        else:
            raise AssertionError(argv)
        return Completed(0, "success\n")
