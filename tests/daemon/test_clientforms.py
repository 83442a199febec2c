"""The README's table of fail2ban-client forms is the code's list, the list is every form the
real ``fail2ban-client -h`` prints, and each form's outcome is what the handler does."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from warden.daemon.clientforms import FORMS, table
from warden.daemon.jailset import (
    ACTION_METHODS,
    JAIL_GET_OPTIONS,
    JAIL_SET_OPTIONS,
    REFUSED_JAIL_GET,
    REFUSED_JAIL_SET,
    REFUSED_SERVER_SET,
    SERVER_GET_OPTIONS,
    SERVER_SET_OPTIONS,
)

README = Path(__file__).resolve().parents[2] / "README.md"
START = "<!-- fail2ban-client forms: generated from warden.daemon.clientforms.table() -->"
END = "<!-- end of fail2ban-client forms -->"


def test_the_readme_table_is_the_codes_list() -> None:
    text = README.read_text()
    assert START in text and END in text
    between = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert between == table()


@pytest.mark.skipif(shutil.which("fail2ban-client") is None, reason="needs fail2ban-client")
def test_every_form_of_fail2ban_client_help_is_listed_in_its_order() -> None:
    done = subprocess.run(["fail2ban-client", "-h"], capture_output=True, text=True,
                          timeout=30, check=False)
    forms: list[str] = []
    commands = False
    for line in done.stdout.splitlines():
        if line.startswith("Command:"):
            commands = True
        elif commands and line.startswith("    ") and not line.startswith("     "):
            forms.append(line.strip())  # the form, and the start of its help text
    assert len(forms) > 90
    for line, form in zip(forms, FORMS, strict=False):
        assert line == form.form or line.startswith(form.form + " "), (line, form.form)


def _option(form: str) -> str:
    words = form.split()
    return words[2] if words[1] == "<JAIL>" else words[1]


def test_each_outcome_is_what_the_handler_does() -> None:
    served_set = {*JAIL_SET_OPTIONS, "banip", "unbanip", "attempt", "idle", "addaction",
                  "delaction", "action"}
    served_get = {*JAIL_GET_OPTIONS, "banned", "banip"}
    for form in FORMS:
        words = form.form.split()
        if words[0] not in ("set", "get") or "|" in words[0]:
            continue
        option = _option(form.form)
        jail = words[1] == "<JAIL>"
        if words[0] == "set":
            served = served_set if jail else set(SERVER_SET_OPTIONS)
            refused = set(REFUSED_JAIL_SET) if jail else set(REFUSED_SERVER_SET)
        else:
            served = served_get if jail else set(SERVER_GET_OPTIONS)
            refused = set(REFUSED_JAIL_GET)
        if "<METHOD>" in form.form:  # refused by its argument: a Python object's method
            assert form.outcome == "refused" and option in served and ACTION_METHODS, form
        elif form.outcome == "refused":
            assert option in refused and option not in served, form
        else:
            assert option in served, form
        assert form.outcome in ("identical", "accepted", "refused")
        assert form.outcome == "identical" or form.note, form
