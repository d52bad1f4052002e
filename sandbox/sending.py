"""What the sandbox's senders share (the webhook deliverer, Event Streams' sink deliverer): one
background thread each, and an HTTP session that reads its environment once."""

from __future__ import annotations

import os
import threading
import time
from urllib.request import getproxies

import requests


def outgoing_session() -> requests.Session:
    session = requests.Session()
    if not getproxies():  # then read once what requests would read from the environment per call
        session.trust_env = False
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return session


class SenderThread:
    """A sender's thread (running `_run` until `stop`) and the condition its state is kept under."""

    thread_name = "sandbox-sender"
    join_timeout = 5.0

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._running = False
        self._thread: threading.Thread | None = None
        self._session = outgoing_session()

    def _run(self) -> None:
        raise NotImplementedError

    def _waiting(self) -> bool:
        """Whether anything is still to be sent (called under `_cond`)."""
        raise NotImplementedError

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._thread:
            self._thread.join(timeout=self.join_timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until everything so far was sent (or given up) and nothing is being sent; False on
        timeout or when stopped."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._waiting() or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or not self._running:
                    return False
                self._cond.wait(min(left, 0.1))
            return True
