"""Deterministic interleavings of real, synchronous code: one thread runs at a time.

Each `Actor` runs a function (the real drainer, a real transfer job) on its own thread, but only
when the test resumes it; it runs until it reaches a pause point — `Scheduler.pause`, called by
the fakes it talks to (a Twilio call, a store transition) — and hands control back. The test
decides, step by step, which actor goes on, what a pending call answers, how far the clock
moves: every interleaving is a sequence of choices (drawn by hypothesis, or written out), and the
same choices replay the same run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STEP_TIMEOUT = 30.0  # seconds a resumed actor may take to reach its next pause (a hang, not a race)


class Aborted(BaseException):
    """Raised inside an actor that the test stops early (an example that already failed)."""


class SimClock:
    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


@dataclass
class Actor:
    name: str
    scheduler: Scheduler
    function: Callable[[], Any]
    pause_label: Any = None
    done: bool = False
    result: Any = None
    error: BaseException | None = None
    _go: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    _value: Any = None
    _abort: bool = False

    def __repr__(self) -> str:
        return f"Actor({self.name!r}, paused at {self.pause_label!r}, done={self.done})"

    def _run(self) -> None:
        self._go.acquire()
        self.scheduler._local.actor = self
        try:
            if self._abort:
                raise Aborted(self.name)
            self.result = self.function()
        except BaseException as error:
            self.error = error
        finally:
            self.done = True
            self.pause_label = None
            self.scheduler._back.release()


class Scheduler:
    def __init__(self) -> None:
        self._back = threading.Semaphore(0)
        self._local = threading.local()
        self.actors: list[Actor] = []

    def spawn(self, name: str, function: Callable[[], Any]) -> Actor:
        """A new actor, not yet started: the first `resume` runs it to its first pause."""
        actor = Actor(name, self, function)
        actor.pause_label = ("start",)
        thread = threading.Thread(target=actor._run, name=f"actor-{name}", daemon=True)
        thread.start()
        self.actors.append(actor)
        return actor

    def resume(self, actor: Actor, value: Any = None) -> Actor:
        """Let `actor` run until its next pause (or its end); `value` is what its pause returns."""
        assert not actor.done, f"{actor.name} has finished"
        actor._value = value
        actor._go.release()
        if not self._back.acquire(timeout=STEP_TIMEOUT):
            raise AssertionError(f"{actor.name} neither paused nor finished within {STEP_TIMEOUT}s")
        return actor

    def pause(self, label: Any) -> Any:
        """Called by the fakes: hand control back to the test (a no-op outside an actor)."""
        actor: Actor | None = getattr(self._local, "actor", None)
        if actor is None:
            return None
        actor.pause_label = label
        self._back.release()
        actor._go.acquire()
        if actor._abort:
            raise Aborted(actor.name)
        return actor._value

    def paused(self) -> list[Actor]:
        return [actor for actor in self.actors if not actor.done]

    def finish(self, actor: Actor, answer: Callable[[Actor], Any] = lambda _actor: None) -> Actor:
        """Resume `actor` until it ends, each pause answered by `answer(actor)`."""
        while not actor.done:
            self.resume(actor, answer(actor))
        return actor

    def abort_all(self) -> None:
        """Stop every actor still paused (their threads end with `Aborted`)."""
        for actor in self.paused():
            actor._abort = True
            self.resume(actor)
