"""What `chat-transfer setup --public-url` changes in configuration it shares with others (pure).

A TaskRouter workspace has one `EventCallbackUrl` and one `EventsFilter`; a Conversations service
(or the account) has one post-event URL, one pre-event URL and one `Filters` list that both use.
Whatever else listens there must keep hearing what it heard, so a plan only ever adds:

- filters are merged: what is there keeps its order, the service's events are appended;
  an empty filter on a set callback means "every event" and stays empty (nothing to add);
- a callback URL that is someone else's is replaced only when the operator says so
  (`--replace-callback`), and the plan names what it replaces;
- a Conversations `Method` other than POST is changed only with the same consent when a
  pre-event webhook (someone else's) would follow it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


class ForeignCallback(RuntimeError):
    """The place is someone else's and the operator did not say to take it over."""


def merged(current: Sequence[str], ours: Iterable[str]) -> list[str]:
    """`current` as it is, then each of `ours` it lacks."""
    result = [name for name in current if name]
    result += [name for name in ours if name not in result]
    return result


def split_filter(value: str | None) -> list[str]:
    return [name.strip() for name in (value or "").split(",") if name.strip()]


@dataclass
class Plan:
    """The exact change to one place: each field as (now, wanted) for people, `update` as the
    twilio library's keyword arguments, and `replaces`: the foreign callback it takes over."""

    where: str
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)
    update: dict[str, object] = field(default_factory=dict)
    replaces: str | None = None

    def set(self, name: str, argument: str, now: object, wanted: object, shown: tuple[str, str]) -> None:
        if now != wanted:
            self.changes[name] = shown
            self.update[argument] = wanted

    def lines(self) -> list[str]:
        return [f"  {name}: {now or '(none)'} → {wanted}" for name, (now, wanted) in self.changes.items()]


def _taken_over(where: str, current: str | None, url: str, *, replace: bool) -> str | None:
    """The foreign callback `current` that `url` would replace (None: nothing foreign there)."""
    if not current or current == url:
        return None
    if not replace:
        raise ForeignCallback(
            f"{where} is {current}, which is not this service's: --replace-callback replaces it "
            "(whatever listens there then stops hearing)"
        )
    return current


def plan_workspace_callback(
    current_url: str | None, current_filter: str | None, url: str, events: Iterable[str], *, replace: bool
) -> Plan:
    plan = Plan("workspace event callback")
    plan.replaces = _taken_over(plan.where, current_url, url, replace=replace)
    now = current_filter or ""
    everything = bool(current_url) and not split_filter(now)  # a set callback without a filter
    wanted = "" if everything else ",".join(merged(split_filter(now), events))
    plan.set("EventCallbackUrl", "event_callback_url", current_url or "", url, (current_url or "", url))
    plan.set("EventsFilter", "events_filter", now, wanted, (now, wanted))
    return plan


def plan_conversations_webhook(
    where: str,
    *,
    current_url: str | None,
    current_filters: Sequence[str],
    current_method: str | None,
    pre_url: str | None,
    current_target: str | None,
    url: str,
    events: Iterable[str],
    replace: bool,
) -> Plan:
    """`current_target` is the account-wide webhook's `Target` (None for a service's webhook):
    `flex` there sends the events to Flex itself, which counts as someone else's callback."""
    plan = Plan(where)
    flex_target = current_target not in (None, "webhook")
    foreign = f"Target={current_target}" if flex_target else current_url
    plan.replaces = _taken_over(where, foreign, url, replace=replace)
    method = (current_method or "").upper()
    if method != "POST" and pre_url and not replace:
        raise ForeignCallback(
            f"{where} uses Method {method or '(none)'}, which the pre-event webhook {pre_url} shares; "
            "this service needs POST: --replace-callback changes it for both"
        )
    plan.set("PostWebhookUrl", "post_webhook_url", current_url or "", url, (current_url or "", url))
    now, wanted = list(current_filters), merged(current_filters, events)
    plan.set("Filters", "filters", now, wanted, (", ".join(now), ", ".join(wanted)))
    plan.set("Method", "method", method, "POST", (method, "POST"))
    if current_target is not None:
        plan.set("Target", "target", current_target or "", "webhook", (current_target or "", "webhook"))
    return plan
