"""Tag expansion: what each fail2ban tag accepts, captures and leaves alone."""

from __future__ import annotations

import re

import pytest

from warden.core.failregex import compile_regex
from warden.core.tags import compound_groups, expand_tags, localise_flags, tag_regex
from warden.errors import RegexError

# (regex with tags, text, expected groupdict subset or None for no match)
CASES: list[tuple[str, str, dict[str, str | None] | None]] = [
    ("^<HOST>$", "192.0.2.1", {"ip4": "192.0.2.1", "ip6": None, "dns": None}),
    ("^<HOST>$", "[192.0.2.1]", {"ip4": "192.0.2.1"}),
    ("^<HOST>$", "::ffff:192.0.2.1", {"ip4": "192.0.2.1", "ip6": None}),
    ("^<HOST>$", "::fffff:192.0.2.1", {"ip4": "192.0.2.1"}),
    ("^<HOST>$", "2001:db8::1", {"ip6": "2001:db8::1"}),
    ("^<HOST>$", "[2001:db8::1]", {"ip6": "2001:db8::1"}),
    ("^<HOST>$", "::", None),  # fail2ban quirk: a bare "::" is no address
    ("^<HOST>$", "::1", {"ip6": "::1"}),
    ("^<HOST>$", "example.com", {"dns": "example.com", "ip4": None}),
    ("^<HOST>$", "a^b_c-d", {"dns": "a^b_c-d"}),
    ("^<HOST>$", "host.", None),
    ("^<ADDR>$", "example.com", None),
    ("^<ADDR>$", "1.2.3.4", {"ip4": "1.2.3.4"}),
    ("^<IP4>$", "1.2.3", None),
    ("^<IP4>$", "1234.1.1.1", None),
    ("^<IP6>$", "1.2.3.4", None),
    ("^<IP6>$", "fe80::1", {"ip6": "fe80::1"}),
    ("^<DNS>$", "192.0.2.1", {"dns": "192.0.2.1"}),
    ("^<CIDR>$", "24", {"cidr": "24"}),
    ("^<SUBNET>$", "10.0.0.0/8", {"ip4": "10.0.0.0", "cidr": "8"}),
    ("^<SUBNET>$", "[2001:db8::/32]", {"ip6": "2001:db8::", "cidr": "32"}),
    ("^<ADDR>/<CIDR>$", "10.1.0.0/16", {"ip4": "10.1.0.0", "cidr": "16"}),
    ("^<F-ID/>$", "conn#42", {"fid": "conn#42"}),
    ("^<F-ID/>$", "two words", None),
    ("^<F-PORT/>$", "ssh", {"fport": "ssh"}),
    ("^<F-IP4/> <F-IP6/>$", "1.2.3.4 ::1", {"ip4": "1.2.3.4", "ip6": "::1"}),
    ("^<F-DNS/>$", "a.b", {"dns": "a.b"}),
    ("^<F-ADDR/>$", "::1", {"ip6": "::1"}),
    ("^<F-SUBNET/>$", "1.2.3.4/5", {"cidr": "5"}),
    ("^<F-CIDR/>$", "5", {"cidr": "5"}),
    ("^<F-USER>\\w+</F-USER> <F-ID>\\d+</F-ID>$", "bob 7", {"user": "bob", "fid": "7"}),
    ("^<F-PORT>\\d+</F-PORT>$", "22", {"fport": "22"}),
    ("^<F-MY_NAME2>.</F-MY_NAME2>$", "x", {"my_name2": "x"}),
    ("^<F-NOFAIL>a</F-NOFAIL><F-MLFID>b</F-MLFID>$", "ab", {"nofail": "a", "mlfid": "b"}),
    ("^<F-MLFFORGET>a</F-MLFFORGET><F-MLFGAINED>b</F-MLFGAINED>$", "ab",
     {"mlfforget": "a", "mlfgained": "b"}),
    ("^<F-CONTENT>.+</F-CONTENT>$", "rest", {"content": "rest"}),
]


@pytest.mark.parametrize(("regex", "text", "groups"), CASES)
def test_tag_matches(regex: str, text: str, groups: dict[str, str | None] | None) -> None:
    m = re.search(expand_tags(regex), text + "\n")
    if groups is None:
        assert m is None
        return
    assert m is not None
    for name, value in groups.items():
        assert m.group(name) == value


@pytest.mark.parametrize(
    "text",
    ["<F-USER/>", "</F-USER>", "<f-user>x</f-user>", "<lowercase>", "<F-a>", "<HOST >", "< HOST>"],
)
def test_unknown_tags_stay_literal(text: str) -> None:
    assert expand_tags(text) == text


def test_closing_tag_only_after_opening() -> None:
    assert expand_tags("</F-X><F-X>a</F-X>") == "</F-X>(?P<x>a)"


def test_double_close_does_not_compile() -> None:
    with pytest.raises(RegexError) as err:
        compile_regex("<F-ID>\\S+</F-ID></F-ID>", index=2)
    assert err.value.option == "failregex"
    assert err.value.index == 2


def test_skiplines_are_numbered() -> None:
    expanded = expand_tags("a<SKIPLINES>b<SKIPLINES>c")
    pattern = re.compile(expanded, re.MULTILINE)
    assert set(pattern.groupindex) == {"skiplines0", "skiplines1"}
    m = pattern.search("a\nx\ny\nb\nc\n")
    assert m is not None
    assert m.group("skiplines0") == "x\ny\n"
    assert m.group("skiplines1") == ""


def test_fixed_tags_are_exposed() -> None:
    assert tag_regex("HOST") is not None
    assert tag_regex("F-ID/") == r"(?P<fid>\S+)"
    assert tag_regex("NOPE") is None


@pytest.mark.parametrize(
    ("regex", "expected"),
    [
        ("((?i)abc)", "(?i:abc)"),
        ("(?:(?i)abc)", "(?i:abc)"),
        ("x((?im)abc)", "x(?im:abc)"),
        ("\\((?i)abc)", "\\((?i)abc)"),
        ("(?i)abc", "(?i)abc"),
    ],
)
def test_global_flags_become_scoped(regex: str, expected: str) -> None:
    assert localise_flags(regex) == expected


def test_compound_groups() -> None:
    names = ["alt_user", "alt_user_2", "tuple_id", "tuple_id_1", "alt_", "user", "tuple_port_x"]
    alts, tuples = compound_groups(names)
    assert alts == (("alt_user", "user"), ("alt_user_2", "user"))
    assert tuples == (("tuple_id", "fid"), ("tuple_id_1", "fid"), ("tuple_port_x", "port_x"))


@pytest.mark.parametrize("regex", ["", "   ", "<F-X></F-X>  "])
def test_empty_regex_is_an_error(regex: str) -> None:
    if regex.strip().startswith("<F-"):
        compile_regex(regex)  # a group is not empty text
        return
    with pytest.raises(RegexError):
        compile_regex(regex, option="ignoreregex")


def test_bad_regex_names_option_and_index() -> None:
    with pytest.raises(RegexError) as err:
        compile_regex("^(unclosed <HOST>", option="failregex", index=4)
    assert "failregex #5" in str(err.value)
    assert err.value.index == 4
