import pytest

from sandbox.expressions import ExpressionError, Scope, evaluate, matches_task, matches_worker

TASK = {
    "type": "chat",
    "priority_level": 5,
    "customer": {"tier": "gold", "tags": ["vip", "fr"]},
    "transferTargetType": "queue",
    "transferQueueName": "Sales",
    "ignoreWorkerContactUri": "client:alice",
    "flag": True,
}
ALICE = {"contact_uri": "client:alice", "routing": {"skills": ["sales", "support"]}, "level": 3}
BOB = {"contact_uri": "client:bob", "routing": {"skills": ["support"]}, "level": 1}


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("1==1", True),
        ("1 == 2", False),
        ("0 != 1", True),
        ('"apple" != "orange"', True),
        ("type == 'chat'", True),
        ("task.type == 'chat'", True),
        ("type = 'chat'", True),
        ("priority_level > 4 AND priority_level <= 5", True),
        ("priority_level >= 6 OR type == 'voice'", False),
        ("customer.tier IN ['gold', 'silver']", True),
        ("customer.tier NOT IN ['gold', 'silver']", False),
        ("customer.tags HAS 'vip'", True),
        ("customer.tags[1] == 'fr'", True),
        ("customer.tags CONTAINS 'vi'", True),
        ("transferQueueName CONTAINS 'ale'", True),
        ("missing == 'x'", False),
        ("missing != 'x'", True),
        ("missing == null", True),
        ("flag == true", True),
        ("NOT (flag == true)", False),
        ("!(type == 'voice')", True),
        ("(type == 'voice' || type == 'chat') && flag == true", True),
        ("transferTargetType == 'queue' and transferQueueName == 'Sales'", True),
        ("priority_level == '5'", False),
        ("priority_level == 5.0", True),
    ],
)
def test_task_expressions(expr, expected):
    assert matches_task(expr, TASK) is expected


def test_worker_expressions_read_task_keys():
    expr = "worker.contact_uri != task.ignoreWorkerContactUri"
    assert matches_worker(expr, ALICE, TASK) is False
    assert matches_worker(expr, BOB, TASK) is True
    assert matches_worker("routing.skills HAS 'sales'", ALICE) is True
    assert matches_worker("routing.skills HAS 'sales'", BOB) is False
    assert matches_worker("level > 2 AND routing.skills HAS 'support'", ALICE) is True
    assert matches_worker("", BOB) is True


def test_skip_if_counters():
    assert evaluate("workers.available == 0", Scope(doc={}, counters={"available": 0})) is True
    assert evaluate("workers.available == 0", Scope(doc={}, counters={"available": 2})) is False


@pytest.mark.parametrize("bad", ["", "type ==", "(a == 1", "a == 'x", "a ~ 1", "[1, 2"])
def test_syntax_errors(bad):
    with pytest.raises(ExpressionError):
        evaluate(bad, Scope(doc={}))
