"""Which transfer requests make sense, and who may set what (issue 12, defect 7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.settings import sid
from worker.domain.errors import Forbidden, InvalidInput
from worker.domain.transfer import TransferRequested
from worker.domain.transfer_policy import Requester, TransferPolicy

ALICE, BOB = sid("WK", 1), sid("WK", 2)
QUEUE = sid("WQ", 3)
AGENT = Requester(ALICE, is_supervisor=False)
SUPERVISOR = Requester(sid("WK", 9), is_supervisor=True)
POLICY = TransferPolicy(timeout_seconds=120, priority_max=10, workflow_sids=frozenset({sid("WW", 1)}))


def request(target: str = QUEUE, **options: object) -> TransferRequested:
    return TransferRequested(task_sid=sid("WT", 1), target_sid=target, mode="WARM", token="t", **options)


def test_the_agent_on_the_task_gets_the_configured_timeout():
    assert POLICY.admit(request(), AGENT, holder=ALICE) == 120
    assert POLICY.admit(request(BOB, timeout=30), AGENT, holder=ALICE) == 30


@pytest.mark.parametrize("holder", [BOB, None])
def test_someone_not_on_the_task_may_not_transfer_it(holder):
    with pytest.raises(Forbidden):
        POLICY.admit(request(), AGENT, holder=holder)


@pytest.mark.parametrize(("requester", "holder"), [(AGENT, ALICE), (SUPERVISOR, ALICE), (SUPERVISOR, None)])
def test_a_transfer_to_the_worker_on_the_task_is_refused(requester, holder):
    target = holder or requester.worker_sid
    with pytest.raises(InvalidInput) as refused:
        POLICY.admit(request(target), requester, holder=holder)
    assert refused.value.field == "targetSid"


@pytest.mark.parametrize("requester", [AGENT, SUPERVISOR])
def test_the_timeout_may_shorten_never_lengthen(requester):
    assert POLICY.admit(request(timeout=120), requester, holder=ALICE) == 120
    with pytest.raises(InvalidInput) as refused:
        POLICY.admit(request(timeout=121), requester, holder=ALICE)
    assert refused.value.field == "timeout"


@given(priority=st.integers(0, 2**31 - 1), workflow=st.sampled_from([None, sid("WW", 1), sid("WW", 2)]))
def test_an_agent_sets_routing_only_within_what_is_configured_a_supervisor_anything(priority, workflow):
    asked = request(priority=priority, workflow_sid=workflow)
    assert POLICY.admit(asked, SUPERVISOR, holder=ALICE) == 120
    allowed = priority <= POLICY.priority_max and workflow in (None, sid("WW", 1))
    if allowed:
        assert POLICY.admit(asked, AGENT, holder=ALICE) == 120
        return
    with pytest.raises(Forbidden) as refused:
        POLICY.admit(asked, AGENT, holder=ALICE)
    assert refused.value.field == ("priority" if priority > POLICY.priority_max else "workflowSid")
