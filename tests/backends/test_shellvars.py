"""Run-time tags become variable references quoted for their place in the shell text.

Table of texts and the exact result, then the property that matters: whatever the value, the
real shell prints it back unchanged, in every quoting context, and runs nothing from it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warden.backends.shellvars import splice_variables, variable_name


def _runtime(tag: str) -> bool:
    return tag in ("ip", "matches") or tag.startswith("F-")


CASES = [
    ("echo <ip>", 'echo "${WARDEN_IP}"'),
    ('echo "a <ip> b"', 'echo "a ${WARDEN_IP} b"'),
    ("echo 'a <ip> b'", "echo 'a '\"${WARDEN_IP}\"' b'"),
    ('x=$(echo "<matches>" | tr a b)', 'x=$(echo "${WARDEN_MATCHES}" | tr a b)'),
    ('echo "`whois <ip> || echo "none"`"', 'echo "`whois "${WARDEN_IP}" || echo "none"`"'),
    ("cat <<EOF\n<F-USER>\nEOF\necho <ip>",
     'cat <<EOF\n${WARDEN_F_USER}\nEOF\necho "${WARDEN_IP}"'),
    ("cat <<'EOF'\n<ip>\nEOF", "cat <<'EOF'\n<ip>\nEOF"),  # no expansion there: left alone
    ("echo <name> <known/chain>", "echo <name> <known/chain>"),  # configuration tags stay
    ("echo \\<ip>", "echo \\<ip>"),  # an escaped < is not a tag
    ('echo "From: x <<ip>>"', 'echo "From: x <${WARDEN_IP}>"'),
    ("cat <<ip>>x\nip>>x", "cat <<ip>>x\nip>>x"),  # unquoted, <<ip is a here-document
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_splice_table(text: str, expected: str) -> None:
    assert splice_variables(text, _runtime)[0] == expected


def test_variable_names() -> None:
    assert variable_name("F-USER") == "WARDEN_F_USER"
    assert variable_name("ip-rev") == "WARDEN_IP_REV"
    assert variable_name("jail.found_total") == "WARDEN_JAIL_FOUND_TOTAL"


TEMPLATES = [
    "printf '%s\\n' <matches>",
    "printf '%s\\n' \"<matches>\"",
    "printf '%s\\n' 'in single <matches> quotes'",
    "printf '%s\\n' \"$(printf '%s' \"<matches>\")\"",
    "printf '%s\\n' `printf '%s' <matches>`",
    "cat <<EOF\n<matches>\nEOF",
]
EXPECTED = ["{v}", "{v}", "in single {v} quotes", "{v}", "{v}", "{v}"]
# values without NUL (not allowed in the environment), not starting with '-' for printf,
# free of what backquotes themselves remove (trailing newlines, backslashes)
VALUES = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\\\n\r"),
                 min_size=1, max_size=40).filter(lambda v: not v.startswith("-"))


@settings(max_examples=30, deadline=None)
@given(VALUES)
def test_any_value_arrives_intact_and_runs_nothing(tmp_path_factory: pytest.TempPathFactory,
                                                    value: str) -> None:
    where: Path = tmp_path_factory.mktemp("sh")
    for template, expected in zip(TEMPLATES, EXPECTED, strict=True):
        script, used = splice_variables(template, _runtime)
        assert used == {"matches"}
        done = subprocess.run(("/bin/sh", "-c", script), capture_output=True, cwd=where,
                              env={"WARDEN_MATCHES": value, "PATH": "/usr/bin:/bin"},
                              check=True)
        out = done.stdout.decode("utf-8", "surrogateescape")
        if "`" in template:  # command substitution then word splitting: compare words
            assert out.split() == expected.format(v=value).split(), template
        else:
            assert out == expected.format(v=value) + "\n", template
    assert list(where.iterdir()) == []


def test_metacharacters_run_nothing(tmp_path: Path) -> None:
    value = "a'b\"c $(touch PWN1) `touch PWN2`; touch PWN3 | & > PWN4 ${HOME} * ?"
    for template in TEMPLATES:
        script, _ = splice_variables(template, _runtime)
        subprocess.run(("/bin/sh", "-c", script), cwd=tmp_path, capture_output=True,
                       env={"WARDEN_MATCHES": value, "PATH": "/usr/bin:/bin"}, check=True)
    assert list(tmp_path.iterdir()) == []
