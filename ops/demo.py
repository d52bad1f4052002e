"""`chat-transfer demo`: the seed's stories, played against the built-in Twilio sandbox.

Nothing needs configuring: an embedded Redis, the sandbox (with a generated account and auth
token), the receiver under gunicorn, a real Celery worker process and beat start; then each
story runs through signed webhooks exactly as it would with Twilio (agents leave through the
service's `POST /tasks/<WT>/leave`, as the plugin's Leave chat does; once, an agent uses Flex's
own End chat instead), and the demo prints the
chat as the customer sees it — notices as notices, not chat lines — with task states and who
is in the chat. Every rule of CONTRACT §6 that a story touches is checked; any broken rule
makes the exit status non-zero. `--json PATH` writes the same timeline as data.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import requests

from ops.localstack import LocalStack, wait_for

TIMEOUT = 30.0


@dataclass
class Check:
    rule: str
    ok: bool
    detail: str = ""


@dataclass
class Story:
    title: str
    conversation_sid: str = ""
    steps: list[str] = field(default_factory=list)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    tasks: dict[str, str] = field(default_factory=dict)
    agents_in_chat: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


class Demo:
    def __init__(self, stack: LocalStack, out: Any = sys.stdout) -> None:
        self.stack = stack
        self.sb = stack.sandbox
        self.setup = stack.setup
        self.out = out
        self.stories: list[Story] = []
        self.names = {sid: name for name, sid in self.setup.workers.items()}

    # ---- output ------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def step(self, story: Story, text: str) -> None:
        story.steps.append(text)
        self.say(f"  · {text}")

    def check(self, story: Story, rule: str, ok: bool, detail: str = "") -> None:
        story.checks.append(Check(rule, bool(ok), detail))
        mark = "ok " if ok else "BROKEN"
        self.say(f"    [{mark}] {rule}{f' — {detail}' if detail and not ok else ''}")

    # ---- helpers -----------------------------------------------------------------------------

    def notices(self, conversation: str) -> list[dict[str, Any]]:
        return self.stack.notices(conversation)

    def kinds(self, conversation: str) -> list[str]:
        return [n["notificationType"] for n in self.notices(conversation)]

    def wait(self, predicate: Any, what: str) -> Any:
        return wait_for(predicate, TIMEOUT, 0.02, what)

    def accept_offer(self, task_sid: str) -> str:
        offer = self.sb.pending_reservation(task_sid=task_sid, timeout=TIMEOUT)
        self.sb.accept(offer["sid"])
        return self.names[offer["worker_sid"]]

    def transfer(self, agent: str, task_sid: str, target_sid: str, mode: str, **extra: Any) -> dict[str, Any]:
        body = {
            "taskSid": task_sid,
            "targetSid": target_sid,
            "mode": mode,
            "Token": self.setup.tokens[agent],
            **extra,
        }
        response = requests.post(f"{self.stack.base_url}/transfers", json=body, timeout=10)
        response.raise_for_status()
        transfer_id = response.json()["transferId"]

        def settled() -> dict[str, Any] | None:
            status = requests.get(f"{self.stack.base_url}/transfers/{transfer_id}", timeout=10).json()
            return status if status["status"] != "pending" else None

        return self.wait(settled, "the transfer to be set up")

    def leave(self, story: Story, agent: str, task_sid: str) -> None:
        """The agent's Leave chat in the plugin: `POST /tasks/<WT>/leave`; then they complete their
        wrap-up in Flex, as usual."""
        url = f"{self.stack.base_url}/tasks/{task_sid}/leave"

        def answered() -> requests.Response | None:
            response = requests.post(url, json={"Token": self.setup.tokens[agent]}, timeout=10)
            return None if response.status_code == 503 else response  # busy: retried, as a client does

        response = self.wait(answered, "the leave answered")
        self.check(story, f"{agent}'s leave is accepted", response.status_code == 202, response.text)
        self.step(story, f"{agent} leaves the chat (Leave chat)")
        self.wait(lambda: self.sb.task_status(task_sid) in ("wrapping", "completed"), f"{agent}'s task ended")
        self.complete_wrapup(task_sid)

    def complete_wrapup(self, task_sid: str) -> None:
        if self.sb.task_status(task_sid) == "wrapping":
            self.sb.complete(task_sid)

    def snapshot(self, story: Story) -> None:
        conversation = story.conversation_sid
        story.transcript = []
        for message in self.sb.messages(conversation):
            attributes = json.loads(message.get("attributes") or "{}")
            story.transcript.append(
                {
                    "author": message.get("author"),
                    "body": message.get("body"),
                    "notice": bool(attributes.get("notification")),
                    "notificationType": attributes.get("notificationType"),
                }
            )
        state = self.stack.tracked(conversation)
        story.tasks = {sid: self.sb.task_status(sid) or "deleted" for sid in state.get("tasks", {})}
        story.agents_in_chat = [m["name"] for m in state.get("members", []) if m["state"] == "joined"]

    def chat_ended_once(self, story: Story) -> None:
        conversation = story.conversation_sid
        self.wait(lambda: self.sb.conversation(conversation)["state"] == "closed", "the chat to end")
        self.wait(lambda: self.stack.tracked(conversation).get("ended") == "ended", "tracking to finish")
        self.sb.wait_idle()
        closes = [
            r
            for r in self.sb.requests_to(product="conversations", method="POST")
            if r.params.get("State") == "closed" and r.path.endswith(conversation)
        ]
        self.check(story, "the chat ended exactly once (rule 2)", len(closes) == 1, f"{len(closes)} closes")
        self.check(
            story,
            "one chat-ended notice",
            self.kinds(conversation).count("chat-ended") == 1,
            str(self.kinds(conversation)),
        )

    def notices_once(self, story: Story) -> None:
        keys = Counter(n.get("noticeKey") for n in self.notices(story.conversation_sid))
        doubled = [k for k, n in keys.items() if n > 1]
        self.check(story, "every notice posted at most once (rule 6)", not doubled, str(doubled))

    def still_open(self, story: Story, why: str) -> None:
        self.sb.wait_idle()
        state = self.sb.conversation(story.conversation_sid)["state"]
        self.check(story, f"the chat stays open: {why}", state == "active", f"state is {state}")

    # ---- the stories -------------------------------------------------------------------------

    def warm_transfer_story(self) -> Story:
        story = Story("Warm transfer to an agent; B leaves first, then A; the chat ends once")
        chat, agent_a = self.chat_arrives(story, "Maria", "Hi, my order never arrived")
        self.sb.agent_message(chat.conversation_sid, self.setup.workers[agent_a], "Hello Maria, let me look.")
        agent_b = next(n for n in self.setup.workers if n != agent_a)
        result = self.transfer(agent_a, chat.task_sid, self.setup.workers[agent_b], "WARM")
        self.check(
            story, "the transfer task was created (rule 3)", result["status"] == "created", str(result)
        )
        self.step(story, f"{agent_a} starts a warm transfer to {agent_b}: task {result['transferTaskSid']}")
        taker = self.accept_offer(result["transferTaskSid"])
        self.step(story, f"{taker} accepts; {agent_a} stays in the chat")
        self.wait(lambda: self.kinds(chat.conversation_sid).count("joined") == 2, "B joined")
        self.sb.agent_message(
            chat.conversation_sid, self.setup.workers[taker], "Hi Maria, I can refund that."
        )
        self.leave(story, taker, result["transferTaskSid"])
        self.wait(lambda: "left" in self.kinds(chat.conversation_sid), "B's left notice")
        self.still_open(story, f"{agent_a}'s task is still in flight")
        self.check(
            story,
            f"{taker} is out of the chat, {agent_a} still in it",
            self.in_chat(chat.conversation_sid) == {self.identity(agent_a), chat.customer},
            str(self.in_chat(chat.conversation_sid)),
        )
        self.sb.agent_message(chat.conversation_sid, self.setup.workers[agent_a], "Anything else, Maria?")
        self.leave(story, agent_a, chat.task_sid)
        self.chat_ended_once(story)
        self.notices_once(story)
        return self.end(story)

    def cold_transfer_story(self) -> Story:
        story = Story("Cold transfer to a queue: the first agent is out at once")
        chat, agent_a = self.chat_arrives(story, "Kenji", "I want to upgrade my plan")
        result = self.transfer(agent_a, chat.task_sid, self.setup.queues["Sales"], "COLD")
        self.step(story, f"{agent_a} cold-transfers to the Sales queue: task {result['transferTaskSid']}")
        self.wait(lambda: self.sb.task_status(chat.task_sid) in ("wrapping", "completed"), "A in wrap-up")
        self.check(story, "a cold transfer moves the original task to wrap-up (rule 3)", True)
        self.wait(
            lambda: self.identity(agent_a) not in self.in_chat(chat.conversation_sid), "A out of the chat"
        )
        self.check(story, f"{agent_a} is out of the chat at once", True)
        taker = self.accept_offer(result["transferTaskSid"])
        self.check(story, "the queue did not offer the chat back to its sender", taker != agent_a, taker)
        self.step(story, f"{taker} (Sales) accepts")
        self.complete_wrapup(chat.task_sid)
        self.wait(lambda: self.kinds(chat.conversation_sid).count("joined") == 2, "B joined")
        self.still_open(story, f"{taker} is still in the chat")
        self.leave(story, taker, result["transferTaskSid"])
        self.chat_ended_once(story)
        self.notices_once(story)
        return self.end(story)

    def unanswered_transfer_story(self) -> Story:
        story = Story("A transfer nobody takes: the customer is put back in a queue")
        chat, agent_a = self.chat_arrives(story, "Ana", "Can someone help with billing?")
        absent = next(n for n in self.setup.workers if n != agent_a)
        self.sb.set_activity(self.setup.workers[absent], "Offline")
        self.transfer(agent_a, chat.task_sid, self.setup.workers[absent], "COLD", timeout=60)
        self.step(story, f"{agent_a} cold-transfers to {absent}, who is offline")
        self.sb.advance(61)
        self.step(story, "a minute passes: TaskRouter cancels the transfer task (Task TTL Exceeded)")
        self.wait(lambda: "transfer-failed" in self.kinds(chat.conversation_sid), "transfer-failed")
        self.check(story, "the chat says the transfer failed (rule 4)", True)
        requeued = self.wait(
            lambda: self.sb.tasks(
                where=lambda a: a.get("conversationSid") == chat.conversation_sid and "requeueOf" in a
            ),
            "the customer requeued",
        )
        self.check(
            story, "the customer is back in a queue, never alone in an open chat (rule 4)", len(requeued) == 1
        )
        self.sb.set_activity(self.setup.workers[absent], "Available")
        taker = self.accept_offer(requeued[0]["sid"])
        self.step(story, f"{taker} picks the chat up from the queue")
        self.complete_wrapup(chat.task_sid)  # the first agent's wrap-up is done too
        self.leave(story, taker, requeued[0]["sid"])
        self.chat_ended_once(story)
        self.notices_once(story)
        return self.end(story)

    def native_end_chat_story(self) -> Story:
        story = Story("An agent's native End chat while a transfer waits: the chat is closed for everybody")
        chat, agent_a = self.chat_arrives(story, "Lena", "Is my parcel insured?")
        agent_b = next(n for n in self.setup.workers if n != agent_a)
        agent_c = next(n for n in self.setup.workers if n not in (agent_a, agent_b))
        first = self.transfer(agent_a, chat.task_sid, self.setup.workers[agent_b], "WARM")
        self.accept_offer(first["transferTaskSid"])
        self.step(story, f"{agent_a} brings {agent_b} in (warm); {agent_b} accepts")
        self.sb.set_activity(self.setup.workers[agent_c], "Offline")
        try:
            waiting = self.transfer(agent_b, first["transferTaskSid"], self.setup.workers[agent_c], "WARM")
            self.step(story, f"{agent_b} asks {agent_c} (away) to join: the transfer task waits")
            self.wait(lambda: "transfer-started" in self.kinds(chat.conversation_sid), "announced")
            posted = len(self.sb.messages(chat.conversation_sid))
            self.sb.agent_end_chat(first["transferTaskSid"])
            self.step(story, f"{agent_b} uses Flex's own End chat instead of Leave chat")
            conversation = chat.conversation_sid
            self.wait(
                lambda: self.stack.tracked(conversation).get("closed_by") == "agent", "closed by the agent"
            )
            self.wait(lambda: self.sb.task_status(waiting["transferTaskSid"]) == "canceled", "canceled")
            self.check(story, "the waiting transfer task is canceled (rule 5)", True)
            self.complete_wrapup(first["transferTaskSid"])
            self.sb.complete(chat.task_sid)  # A's chat is closed: A completes their task in Flex
            self.step(story, f"{agent_a} completes their task")
            self.wait(lambda: self.stack.tracked(conversation).get("ended") == "ended", "tracking ended")
            self.wait(lambda: not self.stack.tracked(conversation).get("outbox"), "the outbox drained")
            self.sb.wait_idle()
        finally:
            self.sb.set_activity(self.setup.workers[agent_c], "Available")
        state = self.sb.conversation(conversation)["state"]
        self.check(story, "the chat is closed for everybody", state == "closed", state)
        after = len(self.sb.messages(conversation))
        self.check(
            story, "nothing is posted into the closed chat", after == posted, f"{after - posted} posted"
        )
        requeued = self.sb.tasks(
            where=lambda a: a.get("conversationSid") == conversation and "requeueOf" in a
        )
        self.check(story, "nobody is requeued into it", not requeued, str(requeued))
        closed_by = self.stack.tracked(conversation).get("closed_by")
        self.check(story, "the service says an agent closed it", closed_by == "agent", str(closed_by))
        return self.end(story)

    def in_chat(self, conversation: str) -> set[str]:
        return {p["identity"] for p in self.sb.participants(conversation)}

    def identity(self, agent: str) -> str:
        return self.setup.identities[agent]

    def chat_arrives(self, story: Story, customer: str, first_message: str) -> tuple[Any, str]:
        """The opening every story shares: a chat arrives and the first agent offered accepts it."""
        self.say(f"\n▶ {story.title}")
        chat = self.sb.start_chat(customer, first_message=first_message)
        story.conversation_sid = chat.conversation_sid
        agent = self.accept_offer(chat.task_sid)
        self.step(story, f"a chat arrives; {agent} accepts it")
        self.wait(lambda: "joined" in self.kinds(chat.conversation_sid), "the joined notice")
        return chat, agent

    def end(self, story: Story) -> Story:
        self.snapshot(story)
        self.print_transcript(story)
        self.stories.append(story)
        return story

    def print_transcript(self, story: Story) -> None:
        self.say(f"  chat {story.conversation_sid}, as the customer sees it:")
        for line in story.transcript:
            if line["notice"]:
                self.say(f"      ── {line['body']} ──")
            else:
                self.say(f"      {line['author']}: {line['body']}")
        tasks = ", ".join(f"{sid[:10]}… {status}" for sid, status in story.tasks.items())
        self.say(f"  tasks: {tasks}")
        self.say(f"  agents still in the chat: {', '.join(story.agents_in_chat) or 'none'}")

    def run(self) -> bool:
        stories = (
            self.warm_transfer_story,
            self.cold_transfer_story,
            self.unanswered_transfer_story,
            self.native_end_chat_story,
        )
        for play in stories:
            try:
                play()
            except Exception as error:  # a story that could not finish is a broken rule too
                story = Story(play.__doc__ or play.__name__)
                story.checks.append(Check("the story ran to its end", False, repr(error)))
                self.say(f"    [BROKEN] {play.__name__}: {error!r}")
                self.stories.append(story)
        violations = self.sb.violations
        if violations:
            self.say(f"\n[BROKEN] the service sent {len(violations)} request(s) Twilio would reject")
        broken = [c for s in self.stories for c in s.checks if not c.ok]
        total = sum(len(s.checks) for s in self.stories)
        self.say(
            f"\n{total - len(broken)}/{total} checks held" + ("" if not broken else f"; {len(broken)} BROKEN")
        )
        return not broken and not violations

    def as_data(self) -> dict[str, Any]:
        return {
            "stories": [asdict(s) for s in self.stories],
            "violations": [str(v) for v in self.sb.violations],
        }


def run_demo(json_path: str | None = None, web_port: int | None = None) -> int:
    """`web_port` (0: any free port): then keep everything running and serve the customer page."""
    started = time.monotonic()
    print(
        "chat-transfer demo: starting Redis, the Twilio sandbox, the receiver, a worker and beat…", flush=True
    )
    with LocalStack(
        worker_count=1, worker_concurrency=2, beat=True, progress=lambda m: print(f"  {m}", flush=True)
    ) as stack:
        demo = Demo(stack)
        ok = demo.run()
        if json_path:
            text = json.dumps(demo.as_data(), indent=2)
            if json_path == "-":
                print(text)
            else:
                with open(json_path, "w", encoding="utf-8") as handle:
                    handle.write(text)
        print(f"done in {time.monotonic() - started:.1f}s", flush=True)
        if web_port is not None:
            from ops.demo_web import serve_demo_page

            serve_demo_page(demo, port=web_port)
    return 0 if ok else 1
