"""uvicorn's h11 protocol with a deadline for request headers, so slow or silent clients cannot hold sockets.

uvicorn closes idle keep-alive connections, but a client that opens a connection and sends its headers a byte
at a time (or nothing at all) stays connected for as long as it likes. :func:`timed_h11_protocol` gives every
request ``read_timeout_s`` seconds to complete its headers, counted from the connection's opening or the first
byte of a later request on a kept-alive connection; past it the client gets a 408 in the service's JSON error
form and the connection is closed. The body has its own deadline of the same length, enforced by the app
while it reads the upload (:func:`scenetext.serve.uploads.read_uploads`).
"""

from __future__ import annotations

import asyncio
import json
import logging

from uvicorn.protocols.http.h11_impl import H11Protocol

from scenetext.serve.errors import error_body

log = logging.getLogger("scenetext.serve")


def request_timeout_message(read_timeout_s: float, part: str) -> str:
    return f"the request {part} did not arrive within {read_timeout_s:g} s (the read timeout)"


def _timeout_response(read_timeout_s: float) -> bytes:
    body = json.dumps(error_body("request_timeout", request_timeout_message(read_timeout_s, "headers")))
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return (head + body).encode("ascii")


class _TimedH11Protocol(H11Protocol):
    """H11Protocol plus a header deadline (``read_timeout_s``, set by :func:`timed_h11_protocol`)."""

    read_timeout_s: float = 60.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._awaiting_headers():
            if self._header_timer is None:
                self._arm()
        else:
            self._disarm()

    def _awaiting_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.read_timeout_s, self._headers_timed_out)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._awaiting_headers():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info("%s: request headers not complete within %g s; answered 408", client, self.read_timeout_s)
        self.transport.write(_timeout_response(self.read_timeout_s))
        self.transport.close()


def timed_h11_protocol(read_timeout_s: float) -> type[H11Protocol]:
    """The protocol class for ``uvicorn.run(http=...)``: headers must arrive within ``read_timeout_s``."""
    return type("TimedH11Protocol", (_TimedH11Protocol,), {"read_timeout_s": float(read_timeout_s)})
