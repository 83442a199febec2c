"""name[k=v, ...] references and multi-reference values (fail2ban's option-list syntax)."""

from __future__ import annotations

import pytest

from warden.config.reference import parse_reference, split_references

VALID = [
    ("sshd", "sshd", {}),
    ("  sshd  ", "sshd", {}),
    ("sshd[mode=aggressive]", "sshd", {"mode": "aggressive"}),
    ("a[x=1, y=2]", "a", {"x": "1", "y": "2"}),
    ("a[x=\"a,b\", y='c]d']", "a", {"x": "a,b", "y": "c]d"}),
    ("a[x=1][y=2]", "a", {"x": "1", "y": "2"}),
    ("a[x=1] [y=2]", "a", {"x": "1", "y": "2"}),
    ("a[x=1,]", "a", {"x": "1"}),
    ("a[]", "a", {}),
    ('a[x= "q"]', "a", {"x": '"q"'}),
    ("a[k.-_=v]", "a", {"k.-_": "v"}),
    ('a[x="multi\nline"]', "a", {"x": "multi\nline"}),
    ("name [x=1]", "name", {"x": "1"}),
    ("a[x=]", "a", {"x": ""}),
    ("a[x= spaced value ]", "a", {"x": "spaced value"}),
    (
        'iptables[port="%(port)s", protocol="tcp"]',
        "iptables",
        {"port": "%(port)s", "protocol": "tcp"},
    ),
]

INVALID = ["a[ x = 1 ]", 'a[x="q" ,y=1]', "a[x=b]c]", "a[x]", "[x=1]", "a[x=1", ""]


@pytest.mark.parametrize(("text", "name", "params"), VALID)
def test_parse(text: str, name: str, params: dict[str, str]) -> None:
    reference = parse_reference(text)
    assert (reference.name, reference.params) == (name, params)


@pytest.mark.parametrize("text", INVALID)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid reference"):
        parse_reference(text)


SPLIT = [
    ('a[x=1]\n  b[y="2,3"]', ["a[x=1]", 'b[y="2,3"]']),
    ("a b  c", ["a", "b", "c"]),
    ('d[z="p q", w=1]\n%(x)s[port="1 2"]', ['d[z="p q", w=1]', '%(x)s[port="1 2"]']),
    ("x [k=v]", ["x [k=v]"]),
    ("", []),
    ("\n  \n", []),
    ("a[x=1][y=2] b", ["a[x=1][y=2]", "b"]),
]


@pytest.mark.parametrize(("text", "items"), SPLIT)
def test_split(text: str, items: list[str]) -> None:
    assert split_references(text) == items
