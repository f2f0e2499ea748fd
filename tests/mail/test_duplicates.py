"""Duplicate detection: Message-ID, normalised body, transitive groups, label conflicts."""

from __future__ import annotations

from sealdog.mail.duplicates import DuplicateDetector, body_key, message_id

BODY = "Dear friend, this is a long enough body to be hashed for duplicates.\n"


def _msg(mid: str | None, body: str = BODY, extra: str = "") -> bytes:
    head = f"Message-ID: {mid}\n" if mid else ""
    return f"From: a@example.com\n{head}{extra}Subject: s\n\n{body}".encode()


def test_message_id_is_normalised_and_folded_headers_are_read() -> None:
    assert message_id(_msg("<ABC@Example.COM>")) == "abc@example.com"
    assert message_id(b"Message-Id:\n <x@y>\nSubject: s\n\nbody") == "x@y"
    assert message_id(b"From a@b Mon Jan  1 00:00:00 2001\nMessage-ID: <q@r>\n\nb") == "q@r"
    assert message_id(_msg(None)) is None
    # A Message-ID in the body is not a header.
    assert message_id(b"Subject: s\n\nMessage-ID: <body@x>\n") is None


def test_body_key_ignores_whitespace_and_case_and_skips_short_bodies() -> None:
    wrapped = BODY.replace(" ", "\r\n ").upper()
    assert body_key(_msg("<1@x>")) == body_key(_msg("<2@y>", body=wrapped))
    assert body_key(_msg("<1@x>")) != body_key(_msg("<1@x>", body=BODY + "P.S."))
    assert body_key(_msg("<1@x>", body="thanks!\n")) is None


def test_groups_are_transitive_and_duplicates_are_reported_in_order() -> None:
    detector = DuplicateDetector()
    assert detector.add("a", _msg("<1@x>"), "ham") is None
    assert (
        detector.add(
            "b", _msg("<2@x>", body="Something else entirely, long enough to hash."), "ham"
        )
        is None
    )
    dup_c = detector.add(
        "c", _msg("<1@x>", body="Other body that is long enough to be hashed."), "ham"
    )
    dup_d = detector.add(
        "d", _msg("<3@x>", body="Other body that is long enough to be hashed."), "spam"
    )
    assert detector.add("e", _msg("<4@x>", body="ok"), "ham") is None
    assert detector.add("f", _msg(None, body="ok"), "ham") is None  # short bodies never match
    assert dup_c is not None and (dup_c.first, dup_c.reason, dup_c.label_conflict) == (
        "a",
        "message-id",
        False,
    )
    # d matches c by body; c is in a's group, so d names the group's first message.
    assert dup_d is not None and (dup_d.first, dup_d.reason, dup_d.label_conflict) == (
        "a",
        "body",
        True,
    )
    assert detector.duplicates == [dup_c, dup_d]
    assert detector.group_ids() == [0, 1, 0, 0, 4, 5]
    assert detector.groups() == {"a": 0, "b": 1, "c": 0, "d": 0, "e": 4, "f": 5}
    assert len(detector) == 6
