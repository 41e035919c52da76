"""Request body guards applied before a body is read: media type (415) and size (413).

FastAPI reads and parses a body before any dependency runs, so the limits live in a route
class (FastAPI's documented ``APIRoute.get_route_handler`` hook). A route with a form body
takes ``max_files`` evidence files of at most ``settings.max_evidence_bytes`` each plus
:data:`FORM_OVERHEAD_BYTES`; a JSON body at most :data:`JSON_MAX_BYTES` (a batch route's
:data:`BATCH_JSON_MAX_BYTES`). A declared
``Content-Length`` above the limit is refused at once; a body without one is counted while
it streams and refused as soon as it passes the limit. (Starlette's own body limit answers a
declared oversize with plain text; this one answers with a problem.) The exact per-file
limit is checked again when each file is hashed or stored; the multipart parser spools at
most the route's limit (its files are closed when the 413 stops it).

Staff routes never get this far without a valid token: ``api.edges.StaffGateMiddleware``
answers 401 before the route (and so before any body byte) is reached.
"""

from __future__ import annotations

import email.message
from typing import Any, Callable, Coroutine

from fastapi import HTTPException, Request, Response, params
from fastapi.routing import APIRoute
from starlette.types import Message, Receive

FORM_OVERHEAD_BYTES = 256 * 1024
"""Room for multipart boundaries, headers and the text fields of a form, bytes."""

JSON_MAX_BYTES = 256 * 1024
"""Largest JSON body, bytes (the longest valid write is about 10 KB of text, escaped)."""

BATCH_JSON_MAX_BYTES = 4 * 1024 * 1024
"""Largest JSON body of a batch route, bytes: 100 items of about 9 KB of text each, with
room for JSON escapes of non-ASCII text."""

FORM_MEDIA_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
"""Media types a form route accepts."""


def media_type_of(request: Request) -> str | None:
    value = request.headers.get("content-type")
    if not value:
        return None
    message = email.message.Message()
    message["content-type"] = value
    return message.get_content_type()


def has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in request.headers


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"The request body exceeds the limit of {limit} bytes.")


def limited_receive(receive: Receive, limit: int) -> Receive:
    received = 0

    async def receive_with_limit() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large(limit)
        return message

    return receive_with_limit


def body_limited_route(max_files: int, json_max_bytes: int = JSON_MAX_BYTES) -> type[APIRoute]:
    """A route class whose form bodies may carry ``max_files`` evidence files and whose JSON
    bodies may be ``json_max_bytes`` long.

    Raises (as problems, before the endpoint runs):
        HTTPException 415: the body's media type is not what the route reads.
        HTTPException 413: the body is larger than the route's limit.
    """

    class BodyLimitedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()
            if self.body_field is None:
                return handler
            is_form = isinstance(self.body_field.field_info, params.Form)

            async def guarded(request: Request) -> Response:
                media_type = media_type_of(request)
                if is_form:
                    limit = max_files * request.app.state.settings.max_evidence_bytes + FORM_OVERHEAD_BYTES
                    if media_type not in FORM_MEDIA_TYPES and (media_type or has_body(request)):
                        raise HTTPException(415, f"Send this as multipart/form-data, not {media_type or 'no media type'}.")
                else:
                    limit = json_max_bytes
                    json_like = media_type is not None and (media_type == "application/json" or media_type.endswith("+json"))
                    if not json_like and (media_type or has_body(request)):
                        raise HTTPException(415, f"Send this as application/json, not {media_type or 'no media type'}.")
                declared = request.headers.get("content-length", "").strip()
                if declared.isdigit() and int(declared) > limit:
                    raise too_large(limit)
                return await handler(Request(request.scope, limited_receive(request.receive, limit)))

            return guarded

    BodyLimitedRoute.__name__ = f"BodyLimitedRoute{max_files}x{json_max_bytes}"
    return BodyLimitedRoute
