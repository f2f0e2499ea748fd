"""Enron-Spam locator and loader on small synthetic corpora (and the real one when present)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from sealdog.data import enron
from sealdog.data.enron import (
    CorpusFormatError,
    CorpusNotFoundError,
    count_labels,
    load_enron,
    locate_enron,
)

REAL = Path(__file__).resolve().parents[2] / "../shared/datasets/enron-spam"


def _make_archive(root: Path, folder: str, files: dict[str, bytes]) -> Path:
    path = root / f"{folder}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"{folder}/", f"{folder}/ham/", f"{folder}/spam/"]:
            info = tarfile.TarInfo(name.rstrip("/"))
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        summary = tarfile.TarInfo(f"{folder}/Summary.txt")
        summary.size = 2
        tar.addfile(summary, io.BytesIO(b"hi"))
        for rel, data in files.items():  # deliberately not in sorted order
            info = tarfile.TarInfo(f"{folder}/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


FILES = {
    "spam/0002.spam.txt": b"Subject: buy\nbuy now",
    "ham/0003.ham.txt": b"Subject: c\nthird",
    "ham/0001.ham.txt": b"Subject: a\nfirst \xe9",
    "spam/0001.spam.txt": b"Subject: win\nwin money",
}


def _make_extracted(root: Path, folder: str, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_archive_and_extracted_layouts_load_identically_in_order(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    _make_archive(a, "enron2", FILES)
    _make_archive(a, "enron1", {"ham/0009.ham.txt": b"Subject: z\nzz"})
    _make_extracted(b, "enron2", FILES)
    _make_extracted(b, "enron1", {"ham/0009.ham.txt": b"Subject: z\nzz"})
    for root in (a, b):
        emails = load_enron(locate_enron(root))
        assert [(e.folder, e.label, e.name) for e in emails] == [
            ("enron1", 0, "0009.ham.txt"),
            ("enron2", 0, "0001.ham.txt"),
            ("enron2", 0, "0003.ham.txt"),
            ("enron2", 1, "0001.spam.txt"),
            ("enron2", 1, "0002.spam.txt"),
        ]
        assert emails[1].raw == b"Subject: a\nfirst \xe9"
        assert count_labels(emails) == (3, 2)
    assert [e.folder for e in load_enron(a, ["enron2"])] == ["enron2"] * 4


def test_environment_variable_and_explicit_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_archive(tmp_path, "enron3", FILES)
    monkeypatch.setenv("SEALDOG_DATA", str(tmp_path))
    assert locate_enron() == tmp_path
    monkeypatch.delenv("SEALDOG_DATA")
    monkeypatch.setenv("SEALDOG_ENRON", str(tmp_path))
    assert locate_enron() == tmp_path
    monkeypatch.setenv("SEALDOG_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(CorpusNotFoundError, match=r"\$SEALDOG_DATA"):
        locate_enron()
    assert locate_enron(tmp_path) == tmp_path  # the explicit path wins


def test_default_location_relative_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in enron.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    project = tmp_path / "project"
    project.mkdir()
    shared = tmp_path / "shared" / "datasets" / "enron-spam"
    shared.mkdir(parents=True)
    _make_archive(shared, "enron1", FILES)
    monkeypatch.setattr(enron, "_PROJECT_ROOT", tmp_path / "elsewhere")
    assert locate_enron(cwd=project) == shared.resolve()
    data = project / "data"
    data.mkdir()
    (shared / "enron1.tar.gz").unlink()
    _make_extracted(data, "enron4", FILES)
    assert locate_enron(cwd=project) == data.resolve()


def test_missing_corpus_error_says_where_it_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in enron.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(enron, "_PROJECT_ROOT", tmp_path / "elsewhere")
    with pytest.raises(CorpusNotFoundError) as info:
        locate_enron(cwd=tmp_path)
    message = str(info.value)
    assert "aueb.gr" in message and "sealdog data fetch" in message and "SEALDOG_DATA" in message
    with pytest.raises(CorpusNotFoundError, match="path given"):
        locate_enron(tmp_path)


def test_corrupt_archive_and_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "enron1.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(CorpusFormatError, match="re-download"):
        load_enron(tmp_path, ["enron1"])
    (tmp_path / "enron2" / "ham").mkdir(parents=True)
    with pytest.raises(CorpusFormatError, match="no ham"):
        load_enron(tmp_path, ["enron2"])
    with pytest.raises(CorpusFormatError, match="unknown"):
        load_enron(tmp_path, ["enron9"])


@pytest.mark.skipif(not (REAL / "enron1.tar.gz").is_file(), reason="Enron-Spam corpus not present")
def test_real_enron1_counts() -> None:
    emails = load_enron(locate_enron(REAL), ["enron1"])
    assert count_labels(emails) == (3672, 1500)
    assert emails[0].name == "0001.1999-12-10.farmer.ham.txt"
    assert emails[-1].label == 1
