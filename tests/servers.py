"""Real server processes for tests: a free port, waiting until a URL answers, and stopping.

One place for what the browser, clean-install, worker and fault tests each did by hand: a server
that does not come up fails the test with its own log, and a server that does not stop on
SIGTERM within the timeout is killed, so no test leaves a process behind.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, *, timeout_s: float = 60,
                  log: Callable[[], str] = lambda: "") -> None:
    """Poll ``url`` until it answers with a 2xx status.

    Raises ``AssertionError`` with ``log()`` (the server's output) when the process ends or
    ``timeout_s`` passes first; the process is killed in the timeout case.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if 200 <= resp.status < 300:
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            raise AssertionError(f"the server ended with {proc.returncode} before {url} answered:\n{log()}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"{url} did not answer within {timeout_s:.0f} s:\n{log()}")
        time.sleep(0.2)


def stop(proc: subprocess.Popen, *, timeout_s: float = 10) -> None:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL (and reap) if it still runs."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
