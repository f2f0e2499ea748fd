"""Connection limits uvicorn lacks: a header-read timeout and a hard cap on a request head.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`), but a connection that
sends nothing, or a request head one byte at a time (slowloris), is kept forever; and
h11's `max_incomplete_event_size` caps only a head that arrives in pieces (one read of up
to 256 KiB is parsed whatever its size). `HeaderTimeoutH11Protocol` arms a timer when a
connection opens and again at the first byte of each following request; unless the
request head is complete when it fires, the connection is closed. It also counts the bytes
of each head (up to its blank line) and answers 431 and closes past the cap.

uvicorn builds the protocol itself (in every worker process), so the limits travel in the
environment (`SEALDOG_HEADER_TIMEOUT_SECONDS`, `SEALDOG_MAX_HEADER_BYTES`, exported by
`sealdog server run`).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_ENV = "SEALDOG_HEADER_TIMEOUT_SECONDS"
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0
MAX_HEADER_BYTES_ENV = "SEALDOG_MAX_HEADER_BYTES"
DEFAULT_MAX_HEADER_BYTES = 16 * 1024
_END_OF_HEAD = b"\r\n\r\n"
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: 34\r\n"
    b"\r\nrequest head is larger than allowed"
)


def header_timeout_seconds() -> float:
    """The configured header-read timeout (environment, else the documented default)."""
    value = os.environ.get(HEADER_TIMEOUT_ENV)
    return float(value) if value else DEFAULT_HEADER_TIMEOUT_SECONDS


def max_header_bytes() -> int:
    """The configured cap on one request head, in bytes."""
    value = os.environ.get(MAX_HEADER_BYTES_ENV)
    return int(value) if value else DEFAULT_MAX_HEADER_BYTES


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline for each request head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout_seconds()
        self.max_header_bytes = max_header_bytes()
        self._header_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._head_tail = b""  # the last bytes seen, for a blank line split across reads

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _waiting_for_head(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def _head_too_large(self, data: bytes) -> bool:
        """Count this read's bytes up to the end of the head; True past the cap."""
        window = self._head_tail + data
        end = window.find(_END_OF_HEAD)
        self._head_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._head_tail))
        self._head_tail = window[-3:]
        return self._head_bytes > self.max_header_bytes

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_head():
            self._arm_header_timer()  # from the first byte of this head; never re-armed by more
            if self._head_too_large(data):
                self._disarm_header_timer()
                if not self.transport.is_closing():
                    self.transport.write(_TOO_LARGE)
                    self.transport.close()
                return
        super().data_received(data)
        if not self._waiting_for_head():
            self._disarm_header_timer()
            self._head_bytes = 0
            self._head_tail = b""

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)
