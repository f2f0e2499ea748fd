"""`sealdog data fetch` against a fake transport: verified downloads, refused tampering, no
leftovers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from sealdog.data.fetch import FetchError, fetch_archive, fetch_enron

GOOD = b"pretend this is enron1.tar.gz" * 1000


def _client(body: bytes, status: int = 200, seen: list[str] | None = None) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(str(request.url))
        return httpx.Response(status, content=body)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_verified_download_lands_atomically(tmp_path: Path) -> None:
    seen: list[str] = []
    digest = hashlib.sha256(GOOD).hexdigest()
    path = fetch_archive(
        _client(GOOD, seen=seen),
        "enron1.tar.gz",
        tmp_path,
        base_url="https://mirror.test/x/",
        expected_sha256=digest,
    )
    assert path.read_bytes() == GOOD
    assert seen == ["https://mirror.test/x/enron1.tar.gz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enron1.tar.gz"]
    # a second call finds the verified file and does not download again
    fetch_archive(_client(b"other", seen=seen), "enron1.tar.gz", tmp_path, expected_sha256=digest)
    assert len(seen) == 1


def test_digest_mismatch_keeps_nothing(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="does not match"):
        fetch_archive(
            _client(GOOD), "enron2.tar.gz", tmp_path
        )  # published digest of the real archive
    assert list(tmp_path.iterdir()) == []


def test_http_errors_and_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_archive(_client(b"", status=404), "enron3.tar.gz", tmp_path)
    assert list(tmp_path.iterdir()) == []

    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route", request=request)

    with pytest.raises(FetchError, match="download of"):
        fetch_archive(httpx.Client(transport=httpx.MockTransport(boom)), "enron3.tar.gz", tmp_path)
    with pytest.raises(FetchError, match="no known SHA-256"):
        fetch_archive(_client(GOOD), "enron9.tar.gz", tmp_path)
    with pytest.raises(FetchError, match="unknown folders"):
        fetch_enron(tmp_path, ["enron7"], client=_client(GOOD))


def test_real_archive_digests_when_present() -> None:
    from sealdog.data.fetch import SHA256, sha256_of

    shared = Path(__file__).resolve().parents[2] / "../shared/datasets/enron-spam/enron1.tar.gz"
    if not shared.is_file():
        pytest.skip("Enron-Spam corpus not present")
    assert sha256_of(shared) == SHA256["enron1.tar.gz"]
