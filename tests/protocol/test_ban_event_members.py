"""Ban events carry an escalated ban's members and a trusted ban's mark (issue 14); lines
written before these fields existed still decode."""

from __future__ import annotations

import json

from warden.protocol import encode
from warden.protocol.codec import decode_event
from warden.protocol.events import BanEvent


def test_members_and_trust_round_trip() -> None:
    event = BanEvent(7, 100.0, "sshd", "203.0.113.0/24", 700.0, 600.0, 1, 3, "local",
                     ("203.0.113.1", "203.0.113.2", "203.0.113.3"), False)
    line = encode(event)
    assert json.loads(line)["members"] == ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
    assert decode_event(line) == event


def test_a_line_without_the_fields_decodes_to_a_plain_ban() -> None:
    fields = json.loads(encode(BanEvent(1, 2.0, "sshd", "192.0.2.7", None, -1.0)))
    del fields["members"], fields["trusted"]
    event = decode_event(json.dumps(fields))
    assert isinstance(event, BanEvent)
    assert (event.members, event.trusted) == ((), False)
