"""FastAPI dependencies: the app's services, and who is calling."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from sealdog.protocol import Role
from sealdog.server.auth import authenticate
from sealdog.server.problems import Problem
from sealdog.server.scoring import ScoringEngine
from sealdog.server.settings import ServerSettings
from sealdog.server.storage.blobs import BlobStore
from sealdog.server.storage.repository import ModelRecord, Repository, TokenRecord


@dataclass(frozen=True)
class Services:
    settings: ServerSettings
    repo: Repository
    blobs: BlobStore
    scoring: ScoringEngine


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


_bearer = HTTPBearer(
    auto_error=False, description="An API token from `sealdog server token create`."
)


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TokenRecord:
    challenge = {"WWW-Authenticate": 'Bearer realm="sealdog"'}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(
            401, "missing bearer token: send 'Authorization: Bearer <token>'", headers=challenge
        )
    repo = services(request).repo
    record = await run_in_threadpool(authenticate, repo, credentials.credentials)
    if record is None:
        raise Problem(401, "invalid or revoked token", headers=challenge)
    return record


Caller = Annotated[TokenRecord, Depends(principal)]
App = Annotated[Services, Depends(services)]


def require_role(caller: TokenRecord, *roles: Role) -> None:
    if caller.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        raise Problem(
            403, f"this action needs a token with role {allowed}; yours is {caller.role.value}"
        )


def not_found(model_id: str) -> Problem:
    # The same answer for "does not exist" and "not yours", so ids cannot be probed.
    return Problem(404, f"no model {model_id!r} visible to this token")


class Purpose(StrEnum):
    """What a caller wants to do with a model (`model_for` checks it may)."""

    read = "read"  # owner of the model, a submitter granted it, or an admin
    own = "own"  # the owner only (delete, download, inbox)
    score = "score"  # the owner, or a submitter granted it


async def model_for(
    app: Services, caller: TokenRecord, model_id: str, *, purpose: Purpose
) -> ModelRecord:
    """The model `caller` may use for `purpose`, else 403 (wrong role) or 404."""
    if purpose is Purpose.own:
        require_role(caller, Role.owner)
    elif purpose is Purpose.score:
        require_role(caller, Role.owner, Role.submitter)
    record = await run_in_threadpool(app.repo.get_model, model_id) if len(model_id) <= 64 else None
    if record is None:
        raise not_found(model_id)
    if caller.role is Role.admin and purpose is Purpose.read:
        return record
    if caller.role is Role.owner and record.owner == caller.subject:
        return record
    granted = caller.role is Role.submitter and model_id in caller.model_ids
    if granted and purpose in (Purpose.read, Purpose.score):
        return record
    raise not_found(model_id)
