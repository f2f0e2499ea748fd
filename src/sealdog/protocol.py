"""The vocabulary both sides of the HTTP API share: token roles and scoring modes.

Both are `StrEnum`s, so a member *is* its wire and database string (`Role.owner == "owner"`):
requests, responses and stored rows keep their plain-string form.
"""

from __future__ import annotations

from enum import StrEnum

from sealdog.crypto.paillier.verdicts import Mode

__all__ = ["Mode", "Role"]


class Role(StrEnum):
    """What a bearer token may do (server/auth.py states each role's rights)."""

    owner = "owner"
    submitter = "submitter"
    admin = "admin"
