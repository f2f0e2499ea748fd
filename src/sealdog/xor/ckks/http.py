"""Encrypted XOR training over HTTP: the key holder's small service and the data holder's client.

The two roles of `sealdog.xor.ckks.session` in two processes. The key holder runs
`keyholder_app` (`sealdog xor keyholder serve`, loopback by default, one bearer token); the
data holder (`sealdog xor train --keyholder URL`) calls it with `KeyHolderClient`, whose
methods are the trainer's transports. Both sides exchange exactly the bytes of the
in-process path (`messages`, `crypto.ckks.refresh`): HTTP adds nothing but the token.

Routes (under `PREFIX`; every one but /healthz needs `Authorization: Bearer <token>`):

- GET /config: the public training hyperparameters (not the seed: the key holder keeps
  it, a data holder that knew the initial weights could replay the training);
- GET /bundle, GET /state: the public context (no secret key), the first encrypted state;
- POST /refresh, /judge, /restart, /final: octet-stream in, octet-stream out (/final:
  204, and the service stops after it when `stop_after_final`).

Bodies are capped (`MAX_BODY_BYTES`, 413 past it); bad bytes get a 400 whose text is the
error's message (none carries a decrypted value: see `crypto.ckks.refresh`). The key
holder's object is not thread-safe: one lock serialises the calls.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from sealdog.crypto.ckks.errors import CkksError
from sealdog.errors import SealdogError
from sealdog.xor.ckks.keyholder import XorKeyHolder
from sealdog.xor.ckks.session import DriveResult, Judged, drive
from sealdog.xor.ckks.training import CkksXorTrainer
from sealdog.xor.momentum import MomentumConfig
from sealdog.xor.plaintext import XorNet

PREFIX = "/v1/xor-ckks"
MAX_BODY_BYTES = 64 * 1024 * 1024
OCTETS = "application/octet-stream"
PUBLIC_FIELDS = (
    "hidden",
    "fit_range",
    "learning_rate",
    "momentum",
    "max_iterations",
    "restart_after",
    "max_restarts",
    "tolerance",
    "divergence_bound",
)


class KeyHolderHttpError(SealdogError):
    """The key holder's service refused a call or could not be reached."""


class _TooLarge(Exception):
    pass


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def keyholder_app(
    keyholder: XorKeyHolder,
    token: str,
    *,
    on_final: Callable[[XorNet], None] | None = None,
) -> FastAPI:
    """The key holder's service; `on_final` gets the decrypted trained network."""
    if len(token) < 16:
        raise ValueError("the bearer token must have at least 16 characters")
    app = FastAPI(title="Sealdog XOR key holder", docs_url=None, redoc_url=None)
    lock = threading.Lock()
    expected = f"Bearer {token}".encode()

    def authorised(request: Request) -> bool:
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, expected)

    async def call(request: Request, method: Callable[[bytes], bytes]) -> Response:
        if not authorised(request):
            return PlainTextResponse("missing or wrong bearer token", status_code=401)
        try:
            body = await _body(request)
        except _TooLarge:
            return PlainTextResponse(f"body over {MAX_BODY_BYTES} bytes", status_code=413)
        try:
            with lock:
                answer = method(body)
        except (CkksError, SealdogError, ValueError) as exc:
            return PlainTextResponse(str(exc), status_code=400)
        return Response(answer, media_type=OCTETS)

    def final(body: bytes) -> bytes:
        net = keyholder.receive_final(body)
        if on_final is not None:
            on_final(net)
        return b""

    @app.get(f"{PREFIX}/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(f"{PREFIX}/config")
    async def config(request: Request) -> Response:
        if not authorised(request):
            return PlainTextResponse("missing or wrong bearer token", status_code=401)
        public = {k: v for k, v in asdict(keyholder.config).items() if k in PUBLIC_FIELDS}
        return JSONResponse({**public, "key_fingerprint": keyholder.key_fingerprint})

    @app.get(f"{PREFIX}/bundle")
    async def bundle(request: Request) -> Response:
        return await call(request, lambda _: keyholder.server_bundle())

    @app.get(f"{PREFIX}/state")
    async def state(request: Request) -> Response:
        return await call(request, lambda _: keyholder.initial_state())

    @app.post(f"{PREFIX}/refresh")
    async def refresh(request: Request) -> Response:
        return await call(request, keyholder.refresh)

    @app.post(f"{PREFIX}/judge")
    async def judge(request: Request) -> Response:
        return await call(request, keyholder.judge)

    @app.post(f"{PREFIX}/restart")
    async def restart(request: Request) -> Response:
        return await call(request, keyholder.restart)

    @app.post(f"{PREFIX}/final")
    async def final_route(request: Request) -> Response:
        response = await call(request, final)
        return Response(status_code=204) if response.status_code == 200 else response

    return app


class KeyHolderClient:
    """The data holder's side of the wire: each method is one of the trainer's transports."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 300.0) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + PREFIX,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KeyHolderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, body: bytes | None = None) -> httpx.Response:
        try:
            response = self._http.request(
                method, path, content=body, headers={"Content-Type": OCTETS} if body else None
            )
        except httpx.HTTPError as exc:
            raise KeyHolderHttpError(f"key holder unreachable: {exc}") from None
        if response.status_code >= 400:
            raise KeyHolderHttpError(
                f"key holder answered {response.status_code} to {path}: {response.text[:500]}"
            )
        return response

    def config(self, seed: int = 0) -> tuple[MomentumConfig, str]:
        """The public hyperparameters (the seed stays with the key holder: `seed` is a
        placeholder the trainer never reads) and the key fingerprint."""
        data: dict[str, Any] = self._send("GET", "/config").json()
        fields = {k: data[k] for k in PUBLIC_FIELDS if k in data}
        if set(fields) != set(PUBLIC_FIELDS) or not isinstance(data.get("key_fingerprint"), str):
            raise KeyHolderHttpError("the key holder's /config is incomplete")
        return MomentumConfig(seed=seed, **fields), str(data["key_fingerprint"])

    def server_bundle(self) -> bytes:
        return self._send("GET", "/bundle").content

    def initial_state(self) -> bytes:
        return self._send("GET", "/state").content

    def refresh(self, request: bytes) -> bytes:
        return self._send("POST", "/refresh", request).content

    def judge(self, message: bytes) -> bytes:
        return self._send("POST", "/judge", message).content

    def restart(self, request: bytes) -> bytes:
        return self._send("POST", "/restart", request).content

    def final(self, message: bytes) -> None:
        self._send("POST", "/final", message)


@dataclass(frozen=True)
class RemoteTrainingResult:
    drive: DriveResult
    key_fingerprint: str


def train_over_http(
    base_url: str,
    token: str,
    *,
    on_judged: Callable[[Judged], None] | None = None,
    max_iterations: int | None = None,
) -> RemoteTrainingResult:
    """The data holder's whole run: public context and first state from the key holder,
    the training loop, then the final (hardened) weights handed back. No secret key here."""
    with KeyHolderClient(base_url, token) as client:
        config, key_fingerprint = client.config()
        if max_iterations is not None:
            config = MomentumConfig(**{**asdict(config), "max_iterations": max_iterations})
        trainer = CkksXorTrainer(
            client.server_bundle(),
            client.initial_state(),
            config,
            refresh=client.refresh,
            judge=client.judge,
            restart=client.restart,
        )
        if trainer.key_fingerprint != key_fingerprint:
            raise KeyHolderHttpError("the bundle does not match the key holder's fingerprint")
        if trainer.context.is_private():  # load_public refuses it already; the invariant
            raise KeyHolderHttpError("internal: the data holder holds a secret key")
        result = drive(trainer, config, on_judged=on_judged)
        client.final(trainer.final_weights())
    return RemoteTrainingResult(result, key_fingerprint)


def serve_keyholder(
    keyholder: XorKeyHolder,
    token: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    on_final: Callable[[XorNet], None] | None = None,
) -> XorNet | None:
    """Serve until the data holder hands over the final weights; return the trained
    network (None if stopped before). Blocks; uvicorn, one process, access log off."""
    import uvicorn

    trained: list[XorNet] = []
    server: uvicorn.Server | None = None

    def finished(net: XorNet) -> None:
        trained.append(net)
        if on_final is not None:
            on_final(net)
        if server is not None:
            server.should_exit = True

    app = keyholder_app(keyholder, token, on_final=finished)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    server.run()
    return trained[0] if trained else None
