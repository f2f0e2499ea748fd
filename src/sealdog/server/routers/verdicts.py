"""The verdict inbox: encrypted verdicts stored for the key holder, read with a cursor."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from sealdog.server.deps import App, Caller, Purpose, model_for
from sealdog.server.problems import Problem, problem_responses
from sealdog.server.schemas import InboxEntry, InboxPage

router = APIRouter(prefix="/v1/models", tags=["verdicts"])


def parse_cursor(after: str) -> int:
    if not after.isascii() or not after.isdigit() or len(after) > 18:
        raise Problem(
            422, f"invalid cursor {after!r}: pass a next_cursor value from a previous page"
        )
    return int(after)


@router.get(
    "/{model_id}/verdicts",
    response_model=InboxPage,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_verdicts(
    model_id: str,
    app: App,
    caller: Caller,
    after: Annotated[
        str,
        Query(
            max_length=18,
            pattern="^[0-9]{1,18}$",
            description="Cursor: entries after this one (a next_cursor value, 0 to start).",
        ),
    ] = "0",
    limit: Annotated[int, Query(ge=1, le=100_000, description="Entries per page.")] = 100,
) -> InboxPage:
    """Encrypted verdicts stored for this model's owner, oldest first. Only the key holder
    can decrypt them; the ids link them back to the submitted messages."""
    cursor = parse_cursor(after)
    record = await model_for(app, caller, model_id, purpose=Purpose.own)
    limit = min(limit, app.settings.max_verdicts_page)
    rows = await run_in_threadpool(app.repo.list_verdicts, record.id, after=cursor, limit=limit)
    entries = [
        InboxEntry(
            cursor=str(row.id),
            model_id=row.model_id,
            created_at=row.created_at,
            mode=row.mode,
            count=row.count,
            message_ids=row.message_ids,
            verdicts=json.loads(row.payload),
        )
        for row in rows
    ]
    next_cursor = entries[-1].cursor if entries else str(cursor)
    return InboxPage(entries=entries, next_cursor=next_cursor)
