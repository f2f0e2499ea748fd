"""Reading archives for a bulk run: every message exactly once, stable ids, resumable."""

from __future__ import annotations

from sealdog.bulk.reading import read_blocks, stable_id


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
