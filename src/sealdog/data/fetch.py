"""Download the Enron-Spam archives and verify them by SHA-256 (`sealdog data fetch`).

The digests below are those of the archives as published at `BASE_URL` (they match the
copies Sealdog was developed against). A download is streamed to a temporary file next
to its destination and renamed into place only after its digest matched, so a failed or
tampered download never leaves a file that looks like the corpus.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from sealdog.data.enron import ENRON_FOLDERS
from sealdog.errors import SealdogError

BASE_URL = "https://www2.aueb.gr/users/ion/data/enron-spam/preprocessed/"
SHA256: dict[str, str] = {
    "enron1.tar.gz": "a3ced1f5f661fd43119b1122e6cea04d5cb0cced650be7153846e6360a216c3b",
    "enron2.tar.gz": "42955907e0b5fd8812388be9fc653ef64f0f2c21592d37c2cdda5531ebee34db",
    "enron3.tar.gz": "5e2286033cd558080922db0ec9f92b1178f0e7f20aa77226ad7f852464820b99",
    "enron4.tar.gz": "f898c8643a0886e36fa22fe249ebdacb2cbafca188227f238be6ba781e96ba14",
    "enron5.tar.gz": "4fbc0a772f8d5a76236e48aa15fe7186367641c7c974fb591d20338856caea50",
    "enron6.tar.gz": "2f34e4b133a27de7188155d485b37c30581b3770658b02095cff03d08cf3c85d",
}
_CHUNK = 1 << 16


class FetchError(SealdogError):
    """A download failed or its content did not match the published SHA-256."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_archive(
    client: httpx.Client,
    name: str,
    dest: Path,
    *,
    base_url: str = BASE_URL,
    expected_sha256: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Download one archive into `dest` (skipped if already there and verified)."""
    expected = expected_sha256 or SHA256.get(name)
    if expected is None:
        raise FetchError(f"no known SHA-256 for {name!r}; known archives: {', '.join(SHA256)}")
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / name
    if target.is_file() and sha256_of(target) == expected:
        return target
    url = base_url.rstrip("/") + "/" + name
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as handle:
            try:
                with client.stream("GET", url) as response:
                    if response.status_code != 200:
                        raise FetchError(f"GET {url} answered HTTP {response.status_code}")
                    for block in response.iter_bytes(_CHUNK):
                        handle.write(block)
                        digest.update(block)
                        if progress:
                            progress(len(block))
            except httpx.HTTPError as exc:
                raise FetchError(f"download of {url} failed: {exc}") from exc
            handle.flush()
            os.fsync(handle.fileno())
        got = digest.hexdigest()
        if got != expected:
            raise FetchError(
                f"{name}: SHA-256 {got} does not match the published {expected}; "
                "the file was not kept (retry, or check the mirror)"
            )
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def fetch_enron(
    dest: Path,
    folders: Sequence[str] = ENRON_FOLDERS,
    *,
    base_url: str = BASE_URL,
    client: httpx.Client | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Download and verify the given enronN archives into `dest`; returns their paths."""
    unknown = [f for f in folders if f not in ENRON_FOLDERS]
    if unknown:
        raise FetchError(f"unknown folders {unknown}; choose from {', '.join(ENRON_FOLDERS)}")
    own = client is None
    client = client or httpx.Client(follow_redirects=True, timeout=httpx.Timeout(60.0))
    try:
        return [
            fetch_archive(client, f"{folder}.tar.gz", dest, base_url=base_url, progress=progress)
            for folder in folders
        ]
    finally:
        if own:
            client.close()
