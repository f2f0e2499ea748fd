"""Bearer-token authentication and role checks.

Tokens are 256-bit random strings shown once; the database keeps only their SHA-256
(a fast hash is enough for high-entropy secrets: there is nothing to brute-force). Roles:

- owner: uploads, reads and deletes its own models, reads their verdict inbox, may score
  with its own models;
- submitter: scores e-mails with the models it was granted;
- admin: manages tokens and grants, sees every model's metadata.

Models belong to the token's *subject*, so an owner can rotate tokens without losing
its models. An admin can issue an owner token with any subject and so act as that owner
(docs/server.md, "What an admin can read"): what that yields is ciphertext under the key
holder's key; tests/server/test_roles.py pins it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from sealdog.protocol import Role
from sealdog.server.storage.repository import Repository, TokenRecord

TOKEN_PREFIX = "sdt_"


def new_token() -> str:
    """A fresh API token (shown to its holder once, never stored)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(
    repo: Repository,
    *,
    role: Role,
    subject: str | None = None,
    label: str | None = None,
    model_ids: list[str] | None = None,
) -> tuple[TokenRecord, str]:
    """Create a token; returns its record and the plaintext token (to show once).

    Raises KeyError if a granted model id does not exist.
    """
    token = new_token()
    token_id = uuid.uuid4().hex[:16]
    record = repo.add_token(
        token_id=token_id,
        token_hash=hash_token(token),
        role=role,
        subject=subject or f"{role.value}-{token_id}",
        label=label,
        model_ids=model_ids or [],
    )
    return record, token


def authenticate(repo: Repository, presented: str) -> TokenRecord | None:
    """The active token matching `presented`, or None."""
    if not presented.startswith(TOKEN_PREFIX) or len(presented) > 200:
        return None
    digest = hash_token(presented)
    record = repo.token_by_hash(digest)
    if record is None or not record.active:
        return None
    # The lookup is by hash already; compare again in constant time so that no code path
    # depends on a byte-by-byte comparison of secret material.
    if not hmac.compare_digest(record.token_hash, digest):
        return None
    return record
