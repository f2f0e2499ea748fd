"""The verdict archive: whole parts only, same model only, one writer at a time."""

from __future__ import annotations

import pytest

pytest.importorskip("pyarrow")

from sealdog.bulk.archive import (
    ArchiveError,
    ArchiveManifest,
    ArchiveRow,
    ArchiveWriter,
    done_ids,
    read_rows,
)

MODEL = ArchiveManifest("d" * 64, "f" * 64)
ROWS = [
    ArchiveRow(("a", "b"), b"\x01\x02", ("junk",), ("not-email: binary",)),
    ArchiveRow(("c",), b"\x03", (), ()),
]


def test_rows_round_trip_and_resume_numbering(tmp_path) -> None:
    out = tmp_path / "v.parquet"
    with ArchiveWriter(out, MODEL) as writer:
        writer.write(ROWS[:1])
        assert writer.write([]) is None
    with ArchiveWriter(out, MODEL) as writer:
        assert writer.write(ROWS[1:]).name == "part-000002.parquet"
    assert list(read_rows(out)) == ROWS
    assert done_ids(out) == {"a", "b", "c"}


def test_an_interrupted_part_is_invisible_and_cleaned(tmp_path) -> None:
    out = tmp_path / "v.parquet"
    with ArchiveWriter(out, MODEL) as writer:
        writer.write(ROWS[:1])
    (out / ".part-000002.parquet.tmp").write_bytes(b"PAR1 half a part")
    assert done_ids(out) == {"a", "b"}
    with ArchiveWriter(out, MODEL) as writer:
        assert not list(out.glob(".*.tmp"))
        assert writer.write(ROWS[1:]).name == "part-000002.parquet"


def test_another_model_or_a_foreign_folder_is_refused(tmp_path) -> None:
    out = tmp_path / "v.parquet"
    with ArchiveWriter(out, MODEL) as writer:
        writer.write(ROWS)
    other = ArchiveManifest("e" * 64, "f" * 64)
    with (
        pytest.raises(ArchiveError, match="holds verdicts of model dddd"),
        ArchiveWriter(out, other),
    ):
        pass
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(ArchiveError, match="not empty"), ArchiveWriter(foreign, MODEL):
        pass
    assert list(read_rows(out)) == ROWS  # the refused runs changed nothing


def test_one_writer_at_a_time(tmp_path) -> None:
    out = tmp_path / "v.parquet"
    with (
        ArchiveWriter(out, MODEL),
        pytest.raises(ArchiveError, match="another run"),
        ArchiveWriter(out, MODEL),
    ):
        pass
