"""`setup --public-url` plans changes to configuration others share: it only ever adds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ops.shared_config import ForeignCallback, merged, plan_conversations_webhook, plan_workspace_callback

OURS = ("task.created", "task.completed", "task.system-deleted")
URL = "https://cft.example.com/webhooks/taskrouter"
WFM = "https://wfm.example.com/cb"
HOOK = "https://cft.example.com/webhooks/conversations"
names = st.lists(st.sampled_from(["a", "b", "c", "task.created", "onX", "onY"]), unique=True, max_size=6)


@given(names, names)
def test_a_merge_keeps_what_is_there_and_adds_what_is_missing(current: list[str], ours: list[str]) -> None:
    result = merged(current, ours)
    assert result[: len(current)] == current
    assert set(result) == set(current) | set(ours)
    assert len(result) == len(set(result))
    assert merged(result, ours) == result  # a second run adds nothing


def test_a_fresh_workspace_gets_our_callback_and_our_events() -> None:
    plan = plan_workspace_callback(None, None, URL, OURS, replace=False)
    assert plan.update == {"event_callback_url": URL, "events_filter": ",".join(OURS)}
    assert plan.replaces is None


def test_a_foreign_callback_is_refused_without_consent_and_named() -> None:
    with pytest.raises(ForeignCallback, match=r"https://wfm\.example\.com/cb.*--replace-callback"):
        plan_workspace_callback(
            "https://wfm.example.com/cb", "worker.activity.update", URL, OURS, replace=False
        )


def test_a_foreign_callback_replaced_with_consent_keeps_its_events_in_the_filter() -> None:
    plan = plan_workspace_callback(
        "https://wfm.example.com/cb", "worker.activity.update", URL, OURS, replace=True
    )
    assert plan.replaces == "https://wfm.example.com/cb"
    assert plan.update["events_filter"] == "worker.activity.update," + ",".join(OURS)
    assert f"  EventCallbackUrl: {WFM} → {URL}" in plan.lines()


def test_our_callback_with_no_filter_hears_everything_and_keeps_doing_so() -> None:
    plan = plan_workspace_callback(URL, "", URL, OURS, replace=False)
    assert not plan.changes and not plan.update


def test_a_second_plan_after_the_first_is_applied_changes_nothing() -> None:
    first = plan_workspace_callback("https://wfm.example.com/cb", "a, b", URL, OURS, replace=True)
    second = plan_workspace_callback(
        str(first.update["event_callback_url"]), str(first.update["events_filter"]), URL, OURS, replace=False
    )
    assert not second.changes


def conversations(**overrides: object):
    arguments: dict[str, object] = {
        "current_url": None,
        "current_filters": [],
        "current_method": "POST",
        "pre_url": None,
        "current_target": None,
        "url": HOOK,
        "events": ("onParticipantAdded", "onConversationStateUpdated"),
        "replace": False,
    }
    arguments.update(overrides)
    return plan_conversations_webhook("the webhook", **arguments)  # type: ignore[arg-type]


def test_conversations_filters_shared_with_a_pre_event_webhook_are_merged_not_replaced() -> None:
    plan = conversations(
        current_filters=["onMessageAdd", "onMessageAdded"], pre_url="https://mod.example.com"
    )
    assert plan.update == {
        "post_webhook_url": HOOK,
        "filters": ["onMessageAdd", "onMessageAdded", "onParticipantAdded", "onConversationStateUpdated"],
    }


def test_a_method_a_pre_event_webhook_shares_is_changed_only_with_consent() -> None:
    with pytest.raises(ForeignCallback, match=r"GET.*pre-event"):
        conversations(current_method="GET", pre_url="https://mod.example.com")
    assert (
        conversations(current_method="GET", pre_url="https://mod.example.com", replace=True).update["method"]
        == "POST"
    )
    assert conversations(current_method="GET").update["method"] == "POST"  # nobody else uses it


def test_an_account_webhook_that_targets_flex_is_someone_elses() -> None:
    with pytest.raises(ForeignCallback, match="Target=flex"):
        conversations(current_target="flex")
    plan = conversations(current_target="flex", replace=True)
    assert plan.replaces == "Target=flex" and plan.update["target"] == "webhook"
    assert "target" not in conversations(current_target="webhook").update


def test_a_foreign_post_webhook_url_is_refused_then_replaced_with_consent() -> None:
    with pytest.raises(ForeignCallback, match=r"https://bot\.example\.com"):
        conversations(current_url="https://bot.example.com")
    assert (
        conversations(current_url="https://bot.example.com", replace=True).replaces
        == "https://bot.example.com"
    )
