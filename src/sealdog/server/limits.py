"""Request-body caps, enforced before a handler buffers anything.

A declared Content-Length above the cap is refused at once; a body that turns out larger
than declared (or chunked) is cut off as soon as it crosses the cap. The sealed-model
upload route has its own, larger cap.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sealdog.server.problems import problem_response

UPLOAD_PATH = "/v1/models"


def _mib(n: int) -> str:
    return f"{n:,} bytes ({n / 1048576:.1f} MiB)"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    def _limit(self, scope: Scope) -> tuple[int, str]:
        if scope.get("method") == "POST" and scope.get("path", "").rstrip("/") == UPLOAD_PATH:
            return self.max_upload_bytes, "max_model_bytes (SEALDOG_MAX_MODEL_BYTES)"
        return self.max_body_bytes, "max_body_bytes (SEALDOG_MAX_BODY_BYTES)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self._limit(scope)
        message = f"request body is larger than the server's cap of {_mib(limit)}; see {setting}"
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    response = problem_response(400, "Content-Length is not an integer")
                    await response(scope, receive, send)
                    return
                if declared > limit:
                    await problem_response(413, message, instance=scope.get("path"))(
                        scope, receive, send
                    )
                    return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > limit:
                    # HTTPException passes through FastAPI's body parsing untouched and
                    # becomes a problem+json 413.
                    raise HTTPException(413, message)
            return msg

        await self.app(scope, counting_receive, send)
