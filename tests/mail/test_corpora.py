"""Labelled corpora: folders, Maildirs, mbox files, archives, labels CSV, size cap, order."""

from __future__ import annotations

import io
import mailbox
import tarfile
import zipfile
from pathlib import Path

import pytest

from sealdog.mail.corpora import (
    CorpusReport,
    LabelledSource,
    iter_corpus,
    iter_labelled,
    labelled_sources,
    looks_like_email,
    read_labels_csv,
    split_messages,
)
from sealdog.mail.errors import MailSourceError
from sealdog.mail.sources import read_mail


def _msg(n: int, body: str = "hello") -> bytes:
    head = f"From: u{n}@example.com\nSubject: message {n}\nMessage-ID: <{n}@x>\n"
    return f"{head}\n{body} {n}\n".encode()


def _write_mbox(path: Path, messages: list[bytes]) -> None:
    box = mailbox.mbox(str(path))
    for m in messages:
        box.add(m)
    box.flush()
    box.close()


def _read(paths: list[str | Path], **kwargs: object) -> list[tuple[str, bytes]]:
    return [(m.name, m.raw) for m in iter_corpus(paths, **kwargs)]  # type: ignore[arg-type]


def test_folder_of_one_message_files_is_read_recursively_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.eml").write_bytes(_msg(2))
    (tmp_path / "a.eml").write_bytes(_msg(1))
    (tmp_path / "c").write_bytes(b"From sender@example.com Mon Jan  1 00:00:00 2001\n" + _msg(3))
    (tmp_path / ".hidden").write_bytes(_msg(9))
    got = _read([tmp_path])
    assert [name for name, _ in got] == [
        str(tmp_path / "a.eml"),
        str(tmp_path / "b" / "2.eml"),
        str(tmp_path / "c"),
    ]
    # The mbox "From " line is not part of the message: the same bytes as a plain file.
    assert got[2][1] == _msg(3)
    assert got[0][1] == _msg(1)


def test_a_body_line_starting_with_from_does_not_split_a_one_message_file(tmp_path: Path) -> None:
    raw = _msg(1, body="Hi\n\nFrom what I heard, it works.\n\nFrom me")
    (tmp_path / "one").write_bytes(b"From a@b Mon Jan  1 00:00:00 2001\n" + raw)
    assert _read([tmp_path / "one"]) == [(str(tmp_path / "one"), raw)]


def test_mbox_messages_are_numbered_and_match_the_mailbox_module(tmp_path: Path) -> None:
    messages = [_msg(1), _msg(2, body="From the start, a body line\nmore"), _msg(3)]
    path = tmp_path / "box"
    _write_mbox(path, messages)
    got = _read([path])
    assert [name for name, _ in got] == [f"{path}#1", f"{path}#2", f"{path}#3"]
    # Same bytes as the stdlib mailbox module (and as `sealdog score` reads the file).
    assert [raw for _, raw in got] == [item.raw for item in read_mail([str(path)])]


def test_a_single_message_mbox_named_dot_mbox_is_still_numbered(tmp_path: Path) -> None:
    path = tmp_path / "one.mbox"
    _write_mbox(path, [_msg(1)])
    assert [name for name, _ in _read([path])] == [f"{path}#1"]


def test_maildir_reads_cur_then_new_and_skips_tmp(tmp_path: Path) -> None:
    box = tmp_path / "Mail"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    (box / "new" / "1000.a").write_bytes(_msg(1))
    (box / "cur" / "2000.b:2,S").write_bytes(_msg(2))
    (box / "cur" / "1500.c:2,").write_bytes(_msg(3))
    (box / "tmp" / "3000.d").write_bytes(_msg(4))
    names = [name for name, _ in _read([box])]
    assert names == [
        str(box / "cur" / "1500.c:2,"),
        str(box / "cur" / "2000.b:2,S"),
        str(box / "new" / "1000.a"),
    ]
    # A real Maildir written by the stdlib is read as well.
    real = mailbox.Maildir(str(tmp_path / "Real"), create=True)
    real.add(_msg(5))
    real.add(_msg(6))
    raws = sorted(raw for _, raw in _read([tmp_path / "Real"]))
    assert raws == [_msg(5), _msg(6)]


def _tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> None:
    with tarfile.open(path, mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_tar_gz_archive_members_are_named_archive_colon_member(tmp_path: Path) -> None:
    mbox_path = tmp_path / "x.mbox"
    _write_mbox(mbox_path, [_msg(7), _msg(8)])
    archive = tmp_path / "mail.tar.gz"
    _tar(
        archive,
        {
            "ham/2": _msg(2),
            "ham/1": b"From a@b Mon Jan  1 00:00:00 2001\n" + _msg(1),
            "ham/.DS_Store": b"junk",
            "box/tmp/9": _msg(9),
            "lists/x.mbox": mbox_path.read_bytes(),
            "nested.zip": b"PK",
        },
    )
    report = CorpusReport()
    got = _read([archive], report=report)
    assert got == [
        (f"{archive}:ham/2", _msg(2)),
        (f"{archive}:ham/1", _msg(1)),
        (f"{archive}:lists/x.mbox#1", _msg(7)),
        (f"{archive}:lists/x.mbox#2", _msg(8)),
    ]
    assert [(s.name, s.reason) for s in report.skipped] == [
        (f"{archive}:nested.zip", "nested-archive")
    ]
    # Reading twice gives the same order (deterministic for a given archive file).
    assert _read([archive]) == got


def test_zip_archive_members_are_read_in_sorted_order(tmp_path: Path) -> None:
    archive = tmp_path / "mail.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("spam/b", _msg(2))
        z.writestr("spam/a", _msg(1))
        z.writestr("spam/Maildir/cur/c", _msg(3))
    names = [name for name, _ in _read([archive])]
    assert names == [f"{archive}:spam/Maildir/cur/c", f"{archive}:spam/a", f"{archive}:spam/b"]


def test_an_archive_inside_a_folder_is_read(tmp_path: Path) -> None:
    _tar(tmp_path / "old.tgz", {"m": _msg(1)})
    (tmp_path / "z.eml").write_bytes(_msg(2))
    assert [raw for _, raw in _read([tmp_path])] == [_msg(1), _msg(2)]


def test_oversize_messages_are_skipped_and_reported_never_fatal(tmp_path: Path) -> None:
    big = _msg(2, body="x" * 5000)
    (tmp_path / "1.eml").write_bytes(_msg(1))
    (tmp_path / "2.eml").write_bytes(big)
    _write_mbox(tmp_path / "3.mbox", [_msg(3), big, _msg(4)])
    (tmp_path / "4.eml").write_bytes(b"x" * 200_000)  # no line breaks: read in bounded chunks
    report = CorpusReport()
    got = _read([tmp_path], max_bytes=1000, report=report)
    assert [raw for _, raw in got] == [_msg(1), _msg(3), _msg(4)]
    assert [(s.name, s.reason) for s in report.skipped] == [
        (str(tmp_path / "2.eml"), "oversize"),
        (f"{tmp_path / '3.mbox'}#2", "oversize"),
        (str(tmp_path / "4.eml"), "oversize"),
    ]
    assert report.skip_counts() == {"oversize": 3}
    assert report.per_source[str(tmp_path)].messages == 3
    assert report.per_source[str(tmp_path)].skipped == 3


def test_files_that_are_not_e_mail_are_skipped_and_reported(tmp_path: Path) -> None:
    (tmp_path / "README").write_bytes(b"This folder holds my mail.\n")
    (tmp_path / "m.eml").write_bytes(_msg(1))
    report = CorpusReport()
    assert [raw for _, raw in _read([tmp_path], report=report)] == [_msg(1)]
    assert report.skip_counts() == {"not-email": 1}


def test_looks_like_email() -> None:
    assert looks_like_email(b"Return-Path: <a@b>\n")
    assert looks_like_email(b"From a@b Mon Jan  1 00:00:00 2001\nSubject: x\n")
    assert looks_like_email(b"Subject: hi\n")
    assert not looks_like_email(b"Hello there\n")
    assert not looks_like_email(b"")


def test_missing_paths_fail_before_reading_and_empty_sources_fail(tmp_path: Path) -> None:
    (tmp_path / "m.eml").write_bytes(_msg(1))
    with pytest.raises(MailSourceError, match="No such"):
        iter_corpus([tmp_path / "m.eml", tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(MailSourceError, match="holds no e-mail"):
        _read([tmp_path / "empty"])
    (tmp_path / "broken.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(MailSourceError, match="Cannot read archive"):
        _read([tmp_path / "broken.tar.gz"])


def test_reading_is_streaming(tmp_path: Path) -> None:
    """The first message is produced before the rest of an mbox is read."""
    body = b"".join(b"From a@b Mon Jan  1 00:00:00 2001\n" + _msg(i) + b"\n" for i in range(3))
    consumed: list[int] = []

    class Tracking(io.BytesIO):
        def readline(self, size: int | None = -1) -> bytes:
            line = super().readline(size)
            consumed.append(self.tell())
            return line

    stream = Tracking(body)
    messages = split_messages(stream, "s", "s", 10_000, CorpusReport())
    name, raw = next(messages)
    assert (name, raw) == ("s#1", _msg(0))
    assert consumed[-1] < len(body)
    assert [n for n, _ in messages] == ["s#2", "s#3"]


def test_labelled_sources_add_up_and_the_csv_resolves_relative_paths(tmp_path: Path) -> None:
    for n in range(4):
        (tmp_path / f"{n}.eml").write_bytes(_msg(n))
    (tmp_path / "labels.csv").write_text("path,label\n2.eml,SPAM\n3.eml, ham\n\n")
    sources = labelled_sources(
        ham=[tmp_path / "0.eml", tmp_path / "1.eml"], spam=[], labels=tmp_path / "labels.csv"
    )
    assert sources == [
        LabelledSource(str(tmp_path / "0.eml"), "ham"),
        LabelledSource(str(tmp_path / "1.eml"), "ham"),
        LabelledSource(str(tmp_path / "2.eml"), "spam"),
        LabelledSource(str(tmp_path / "3.eml"), "ham"),
    ]
    got = [(m.label, m.raw, m.source) for m in iter_labelled(sources)]
    assert got == [
        ("ham", _msg(0), str(tmp_path / "0.eml")),
        ("ham", _msg(1), str(tmp_path / "1.eml")),
        ("spam", _msg(2), str(tmp_path / "2.eml")),
        ("ham", _msg(3), str(tmp_path / "3.eml")),
    ]


def test_labels_csv_errors_say_where(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a.eml,ham\nb.eml,maybe\n")
    with pytest.raises(MailSourceError, match=r"line 2.*maybe"):
        read_labels_csv(bad)
    bad.write_text("a.eml\n")
    with pytest.raises(MailSourceError, match="line 1"):
        read_labels_csv(bad)
    with pytest.raises(MailSourceError, match="Cannot read labels"):
        read_labels_csv(tmp_path / "none.csv")
    with pytest.raises(MailSourceError, match="No labelled mail"):
        labelled_sources()
    with pytest.raises(MailSourceError, match="No such"):
        iter_labelled([LabelledSource(str(tmp_path / "nope"), "ham")])
