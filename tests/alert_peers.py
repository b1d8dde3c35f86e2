"""Real peers for the delivery tests: an aiosmtpd SMTP server and an HTTP webhook receiver, both
started by the test on 127.0.0.1 (ports 8191–8198), plus a small wait helper."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from wastewater.alerts import verify_webhook

SMTP_PORT = 8192
HOOK_PORT = 8193
HOOK_SECRET = "receiver-secret-123"


class SmtpSink:
    """aiosmtpd handler keeping every accepted message; ``refuse`` answers RCPT with 550."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.messages: list[email.message.EmailMessage] = []
        self.rcpt_attempts = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        self.rcpt_attempts += 1
        if self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content,
                                                      policy=email.policy.default))
        return "250 Message accepted"


class SmtpServer:
    def __init__(self, refuse: bool = False, port: int = SMTP_PORT) -> None:
        from aiosmtpd.controller import Controller

        self.sink = SmtpSink(refuse)
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self.sink

    def __exit__(self, *exc) -> None:
        self.controller.stop()


class HookReceiver:
    """HTTP receiver that checks each request's signature and remembers idempotency keys.

    ``hold_first_seconds``: the first request is answered only after this pause (a worker can
    be killed while it waits). ``requests`` lists every request; ``unique_keys`` what a
    receiver that de-duplicates by ``Idempotency-Key`` would act on.
    """

    def __init__(self, port: int = HOOK_PORT, secret: str = HOOK_SECRET,
                 hold_first_seconds: float = 0.0) -> None:
        self.port = port
        self.secret = secret
        self.hold = hold_first_seconds
        self.requests: list[dict] = []
        self.first_arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ok = verify_webhook(receiver.secret, self.headers.get("X-Wastewater-Timestamp"),
                                    body, self.headers.get("X-Wastewater-Signature", ""))
                receiver.requests.append({"key": self.headers.get("Idempotency-Key"),
                                          "signature_ok": ok, "json": json.loads(body)})
                if len(receiver.requests) == 1 and receiver.hold:
                    receiver.first_arrived.set()
                    time.sleep(receiver.hold)
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/wastewater"

    @property
    def unique_keys(self) -> set[str]:
        return {r["key"] for r in self.requests}

    def __enter__(self) -> HookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(pred: Callable[[], bool], timeout: float = 30.0, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()
