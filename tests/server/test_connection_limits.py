"""Connection limits on a real `sealdog server run` over loopback: half-open connections
(nothing sent, or a request head trickled a byte at a time) are closed within the
header-read timeout, idle keep-alive connections within the keep-alive timeout, oversized
heads are refused, and the concurrency cap answers 503 instead of queueing without end."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from server_testkit import UvicornProcess

HEADER_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[UvicornProcess]:
    data = tmp_path_factory.mktemp("limits") / "data"
    server = UvicornProcess(
        data,
        extra_env={
            "SEALDOG_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
            "SEALDOG_KEEP_ALIVE_TIMEOUT_SECONDS": "1",
            "SEALDOG_LIMIT_CONCURRENCY": "40",
            "SEALDOG_MAX_HEADER_BYTES": "4096",
        },
    )
    yield server
    server.stop()


def closed_by_server(sock: socket.socket, deadline: float) -> float | None:
    """Seconds until the server closed `sock` (recv gives b"" or a reset), None if not."""
    started = time.monotonic()
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return time.monotonic() - started
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - started
    except TimeoutError:
        return None


def connect(live: UvicornProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", live.port), timeout=5)


def test_silent_and_trickling_connections_are_closed_within_the_header_timeout(
    live: UvicornProcess,
) -> None:
    silent = [connect(live) for _ in range(30)]
    trickle = connect(live)
    trickle.sendall(b"GET /healthz HTTP/1.1\r\n")
    started = time.monotonic()
    # keep trickling one header byte every 0.2 s: it never completes the head
    for byte in b"X-Slow: aaaaa":
        time.sleep(0.2)
        try:
            trickle.sendall(bytes([byte]))
        except OSError:
            break
    deadline = started + HEADER_TIMEOUT + 3
    for sock in [*silent, trickle]:
        assert closed_by_server(sock, deadline) is not None
        sock.close()
    assert time.monotonic() - started < HEADER_TIMEOUT + 3
    # a well-behaved client is served meanwhile and afterwards
    assert httpx.get(live.url + "/healthz", timeout=5).status_code == 200


def test_a_complete_head_is_not_cut_and_idle_keep_alive_is_closed(live: UvicornProcess) -> None:
    sock = connect(live)
    started = time.monotonic()
    for _ in range(3):  # requests on one connection, over longer than the header timeout
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = b""
        while not reply.endswith(b"}"):  # head and JSON body may come in separate reads
            chunk = sock.recv(4096)
            assert chunk, reply
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200"), reply
        time.sleep(0.6)
    assert time.monotonic() - started > HEADER_TIMEOUT
    # then idle: closed by the keep-alive timeout (1 s)
    assert closed_by_server(sock, time.monotonic() + 4) is not None
    sock.close()


def test_oversized_request_head_is_refused_but_a_large_body_is_not(
    live: UvicornProcess,
) -> None:
    for size in (8000, 200_000):  # one read, or many
        r = httpx.get(live.url + "/healthz", headers={"X-Big": "a" * size}, timeout=5)
        assert r.status_code == 431, (size, r.status_code)
    # a body far larger than the head cap, sent with its head in the same reads, is fine
    r = httpx.post(
        live.url + "/v1/models/" + "0" * 32 + "/score",
        content=b'{"emails": [{"raw": "' + b"a" * 100_000 + b'"}]}',
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert r.status_code == 401, r.text  # reached the app (no token), not cut at the head


def test_concurrency_cap_answers_503(live: UvicornProcess) -> None:
    idle = [connect(live) for _ in range(45)]
    try:
        time.sleep(0.2)
        r = httpx.get(live.url + "/healthz", timeout=5)
        assert r.status_code == 503
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if httpx.get(live.url + "/healthz", timeout=5).status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError("the server did not recover after the connections closed")
