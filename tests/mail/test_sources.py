"""E-mail sources: files, folders, mbox (by name and by content), stdin, and bad paths."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest

from sealdog.mail.errors import MailSourceError
from sealdog.mail.sources import read_mail

A = b"From: a@example.com\nSubject: first\n\nhello there\n"
B = (
    b"From: b@example.com\nSubject: second\n\n"
    b"From the start, a body line that looks like a separator\n"
)


def _mbox(*messages: bytes) -> bytes:
    import mailbox
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.mbox"
        box = mailbox.mbox(str(path))
        for m in messages:
            box.add(m)
        box.flush()
        box.close()
        return path.read_bytes()


def test_single_files_and_eml(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(A)
    (tmp_path / "b.txt").write_bytes(B)
    items = read_mail([str(tmp_path / "a.eml"), str(tmp_path / "b.txt")])
    assert [(i.name, i.raw) for i in items] == [
        (str(tmp_path / "a.eml"), A),
        (str(tmp_path / "b.txt"), B),
    ]


def test_folder_is_walked_recursively_sorted_skipping_hidden(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "z.eml").write_bytes(A)
    (tmp_path / "sub" / "a.eml").write_bytes(B)
    (tmp_path / ".hidden.eml").write_bytes(b"ignored")
    items = read_mail([str(tmp_path)])
    assert [i.raw for i in items] == [B, A]


def test_mbox_by_suffix_and_by_content_with_escaped_from_lines(tmp_path: Path) -> None:
    data = _mbox(A, B)
    (tmp_path / "box.mbox").write_bytes(data)
    (tmp_path / "mailbox-file").write_bytes(data)
    for name in ("box.mbox", "mailbox-file"):
        items = read_mail([str(tmp_path / name)])
        assert [i.name for i in items] == [f"{tmp_path / name}#1", f"{tmp_path / name}#2"]
        assert b"hello there" in items[0].raw and b"Subject: first" in items[0].raw
        assert b"the start" in items[1].raw and b"Subject: second" in items[1].raw
        assert not items[0].raw.startswith(
            b"From "
        )  # the separator line is not part of the message


def test_stdin_single_message_and_mbox_stream() -> None:
    assert [(i.name, i.raw) for i in read_mail(["-"], stdin=io.BytesIO(A))] == [("<stdin>", A)]
    items = read_mail(["-"], stdin=io.BytesIO(_mbox(A, B, A)))
    assert [i.name for i in items] == ["<stdin>#1", "<stdin>#2", "<stdin>#3"]
    assert b"Subject: second" in items[1].raw


def test_missing_path_empty_folder_and_no_source(tmp_path: Path) -> None:
    with pytest.raises(MailSourceError, match="No such e-mail file or folder"):
        read_mail([str(tmp_path / "nope.eml")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(MailSourceError, match="holds no e-mail files"):
        read_mail([str(tmp_path / "empty")])
    with pytest.raises(MailSourceError, match="No e-mail source"):
        read_mail([])


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    # A UNIX socket exists but cannot be opened as a file, even by root.
    path = tmp_path / "socket.eml"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        with pytest.raises(MailSourceError, match="Cannot read e-mail file"):
            read_mail([str(path)])
