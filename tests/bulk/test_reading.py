"""Reading archives for a bulk run: every message exactly once, stable ids, resumable."""

from __future__ import annotations

import pytest

from sealdog.bulk.reading import read_blocks, read_paths, stable_id
from sealdog.mail.errors import MailSourceError


def _all(path, **kw):
    return list(read_blocks(str(path), **kw))


def test_every_message_lands_in_exactly_one_block_row(bulk) -> None:
    folder = bulk.paths[0]
    for path in bulk.paths:
        blocks = _all(path, block_messages=16)
        ids = [i for b in blocks for i in b.ids]
        skipped = [i for b in blocks for i in b.skipped_ids]
        assert all(len(b) <= 16 for b in blocks)
        assert len(ids) == len(set(ids))
        names = {n for n in bulk.raw_by_name if n.startswith(str(path))}
        assert {i.split(" <")[0] for i in ids} == names
        assert skipped == ([f"{folder}/junk.bin"] if path == folder else [])
    reasons = [r for b in _all(folder) for r in b.skipped_reasons]
    assert len(reasons) == 1 and reasons[0].startswith("not-email")


def test_ids_are_stable_and_carry_the_message_id(bulk) -> None:
    _, mbox, _ = bulk.paths
    first = [i for b in _all(mbox) for i in b.ids]
    again = [i for b in _all(mbox, block_messages=7) for i in b.ids]
    assert first == again
    assert first[0] == f"{mbox}#1 <m0@example.com>"
    assert stable_id("a.eml", b"Subject: x\n\nbody\n") == "a.eml"  # no Message-ID: the name


def test_done_ids_are_counted_not_read_again(bulk) -> None:
    _, mbox, _ = bulk.paths
    everything = [i for b in _all(mbox) for i in b.ids]
    done = set(everything[:50])
    blocks = _all(mbox, done=done, block_messages=32)
    assert [i for b in blocks for i in b.ids] == everything[50:]
    assert sum(b.already_done for b in blocks) == 50
    assert all(len(b.ids) == len(b.raws) for b in blocks)


def test_a_reader_of_several_paths_reads_each_in_turn_never_mixing_them(bulk) -> None:
    paths = [str(p) for p in bulk.paths]
    together = list(read_paths(paths, block_messages=16))
    assert [b.ids for b in together] == [b.ids for p in paths for b in _all(p, block_messages=16)]
    for block in together:  # every block comes from one PATH
        ids = block.ids + block.skipped_ids
        assert len({next(p for p in paths if i.startswith(p)) for i in ids}) == 1


def test_a_missing_path_is_refused_before_any_block(bulk, tmp_path) -> None:
    blocks = read_paths([str(bulk.paths[0]), str(tmp_path / "nowhere")])
    with pytest.raises(MailSourceError, match="nowhere"):
        next(blocks)
