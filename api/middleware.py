"""Pure-ASGI middleware limiting request bodies (413 in the error envelope)."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException


class BodyTooLarge(HTTPException):
    """Raised while reading the body; FastAPI re-raises HTTPExceptions, so it ends as 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body exceeds the limit of {max_bytes} bytes")


def _413(max_bytes: int) -> tuple[dict, bytes]:
    body = {
        "ok": False,
        "status": 413,
        "error": "upload too large",
        "errors": [
            {
                "line": None,
                "column": None,
                "code": "too_large",
                "message": f"the request body exceeds the limit of {max_bytes} bytes "
                f"({max_bytes / 1048576:.1f} MiB); split the file or ask the admin to raise "
                "WASTEWATER_MAX_UPLOAD_BYTES",
                "limit_bytes": max_bytes,
            }
        ],
    }
    return body, json.dumps(body).encode()


class BodySizeLimit:
    """Refuse bodies larger than ``max_bytes``: first by ``Content-Length``, then by counting
    the bytes actually received (chunked uploads or a lying header)."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # multipart framing adds a few hundred bytes around the file itself
        self.slack = 64 * 1024

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes + self.slack
        headers = dict(scope.get("headers") or [])
        cl = headers.get(b"content-length")
        if cl is not None:
            try:
                too_big = int(cl) > limit
            except ValueError:
                too_big = False
            if too_big:
                await self._reply(send)
                return
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reply(send)

    async def _reply(self, send) -> None:
        _, raw = _413(self.max_bytes)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()),
                            (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": raw})


#: Content-Security-Policy of every response: scripts and everything else only from this server
#: (plotly.js and the figure script are static files, no inline script); inline *styles* are
#: allowed because plotly.js writes its own style rules; no framing (clickjacking of the login
#: and upload forms), no plugins, forms post only here.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")
#: The interactive API docs (Swagger UI, ReDoc) are served from this server's own copies of their
#: bundles (fastapi-offline) with FastAPI's inline bootstrap script, so only that inline script
#: is added; no script or style comes from another host (ReDoc's hard-wired "powered by" logo
#: image is the one exception allowed, from cdn.redoc.ly).
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: https://cdn.redoc.ly; font-src 'self' data:; worker-src 'self' blob:; "
            "connect-src 'self'; "
            "object-src 'none'; base-uri 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"no-referrer",
    b"cross-origin-opener-policy": b"same-origin",
    b"permissions-policy": b"camera=(), microphone=(), geolocation=()",
}


class SecurityHeaders:
    """Add the security headers to every response (a route may set its own CSP, e.g. the report
    with the hashes of its inline scripts; it is then kept)."""

    def __init__(self, app, docs_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = (DOCS_CSP if scope.get("path", "") in self.docs_paths else CSP).encode()

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {k.lower() for k, _ in headers}
                for k, v in ((b"content-security-policy", csp), *SECURITY_HEADERS.items()):
                    if k not in present:
                        headers.append((k, v))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
