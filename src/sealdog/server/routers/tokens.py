"""Token administration (admin role): issue, list, revoke, grant models to submitters."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response, status
from starlette.concurrency import run_in_threadpool

from sealdog.protocol import Role
from sealdog.server.auth import issue_token
from sealdog.server.deps import App, Caller, require_role
from sealdog.server.problems import Problem, problem_responses
from sealdog.server.schemas import GrantCreate, TokenCreate, TokenCreated, TokenInfo, TokenList
from sealdog.server.storage.repository import TokenRecord

log = logging.getLogger("sealdog.server")

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


def token_info(record: TokenRecord) -> TokenInfo:
    return TokenInfo(
        id=record.id,
        role=record.role,
        subject=record.subject,
        label=record.label,
        created_at=record.created_at,
        revoked=not record.active,
        models=list(record.model_ids),
    )


@router.post(
    "",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 404, 413, 422),
)
async def create_token(body: TokenCreate, app: App, caller: Caller) -> TokenCreated:
    """Issue a token; the plaintext is in this response only."""
    require_role(caller, Role.admin)
    if body.models and body.role != Role.submitter:
        raise Problem(422, "only submitter tokens take a list of models")
    try:
        record, token = await run_in_threadpool(
            lambda: issue_token(
                app.repo,
                role=body.role,
                subject=body.subject,
                label=body.label,
                model_ids=body.models,
            )
        )
    except KeyError as exc:
        raise Problem(422, f"unknown model(s): {exc.args[0]}") from None
    log.info(
        "token %s (%s, subject %s) issued by admin %s",
        record.id,
        record.role.value,
        record.subject,
        caller.subject,
    )
    return TokenCreated(**token_info(record).model_dump(), token=token)


@router.get("", response_model=TokenList, responses=problem_responses(401, 403))
async def list_tokens(app: App, caller: Caller) -> TokenList:
    require_role(caller, Role.admin)
    return TokenList(tokens=[token_info(r) for r in await run_in_threadpool(app.repo.list_tokens)])


@router.delete(
    "/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
)
async def revoke_token(token_id: str, app: App, caller: Caller) -> Response:
    require_role(caller, Role.admin)
    if len(token_id) > 32 or not await run_in_threadpool(app.repo.revoke_token, token_id):
        raise Problem(404, f"no token {token_id!r}")
    log.info("token %s revoked by admin %s", token_id, caller.subject)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{token_id}/grants",
    response_model=TokenInfo,
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
)
async def grant_model(token_id: str, body: GrantCreate, app: App, caller: Caller) -> TokenInfo:
    """Allow a submitter token to score with a model."""
    require_role(caller, Role.admin)
    target = await run_in_threadpool(app.repo.get_token, token_id) if len(token_id) <= 32 else None
    if target is None:
        raise Problem(404, f"no token {token_id!r}")
    if target.role is not Role.submitter:
        raise Problem(
            422, f"token {token_id} has role {target.role.value}; only submitters take grants"
        )
    if (
        len(body.model_id) > 32
        or await run_in_threadpool(app.repo.get_model, body.model_id) is None
    ):
        raise Problem(422, f"unknown model {body.model_id!r}")
    await run_in_threadpool(app.repo.grant, token_id, body.model_id)
    updated = await run_in_threadpool(app.repo.get_token, token_id)
    assert updated is not None
    return token_info(updated)
