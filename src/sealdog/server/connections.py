"""Connection limits uvicorn lacks: a header-read timeout.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) and caps request heads
(`h11_max_incomplete_event_size`), but a connection that sends nothing, or a request head
one byte at a time (slowloris), is kept forever. `HeaderTimeoutH11Protocol` arms a timer
when a connection opens and again at the first byte of each following request; unless the
request head is complete when it fires, the connection is closed.

uvicorn builds the protocol itself (in every worker process), so the limit travels in the
environment (`SEALDOG_HEADER_TIMEOUT_SECONDS`, exported by `sealdog server run`).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_ENV = "SEALDOG_HEADER_TIMEOUT_SECONDS"
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0


def header_timeout_seconds() -> float:
    """The configured header-read timeout (environment, else the documented default)."""
    value = os.environ.get(HEADER_TIMEOUT_ENV)
    return float(value) if value else DEFAULT_HEADER_TIMEOUT_SECONDS


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline for each request head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout_seconds()
        self._header_timer: asyncio.TimerHandle | None = None

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

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_head():
            self._arm_header_timer()  # from the first byte of this head; never re-armed by more
        super().data_received(data)
        if not self._waiting_for_head():
            self._disarm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)
