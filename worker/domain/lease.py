"""How long a lease on work that calls Twilio must last, so no one repeats what may still land.

Assumptions (the HTTP client keeps the first; the second is a setting, since Twilio publishes no
bound): a Twilio request leaves within `http_timeout` of the call starting (a connection made
after that is closed unsent, `worker.adapters.http_client`), and a request that left takes
effect, if ever, within `settle` seconds — also when its answer never reaches us.

So a call started at `t` has landed, or never will, by `t + http_timeout + settle`. A holder
starts a call only when that instant is inside its lease (renewing it first when it is not), and
nobody else can take the work before the lease ends: whoever takes over looks up what was done
(a notice by its key, a task by its marker, the close by the conversation's state) after every
effect of the previous holder has landed. A holder that finds its lease gone writes nothing.
The lease covers `CALLS_PER_ITEM` calls from each renewal, so a usual item needs one renewal.
"""

from __future__ import annotations

from dataclasses import dataclass

CALLS_PER_ITEM = 2  # a notice: the lookup and the post; a mirror: the fetch and the update


@dataclass(frozen=True)
class LeaseTerms:
    http_timeout: float
    settle: float
    calls: int = CALLS_PER_ITEM

    @property
    def ttl(self) -> float:
        """A lease taken or renewed now lasts this long."""
        return self.calls * self.http_timeout + self.settle

    def call_fits(self, now: float, until: float) -> bool:
        """Whether a call started now has landed (or never will) before the lease ends."""
        return now + self.http_timeout + self.settle <= until

    def settled_at(self, gave_up_at: float) -> float:
        """When a call given up on at `gave_up_at` (sent no later) can no longer land."""
        return gave_up_at + self.settle
