"""TaskRouter's expression language: parser and evaluator.

Covers what real workflow and queue configurations use
(https://www.twilio.com/docs/taskrouter/expression-syntax):

* constants: 'single' or "double" quoted strings, integers and floats, true/false, null;
  lists ``['a', 'b']``;
* keys in dot notation with array indices (``routing.skills``, ``object.array[2]``),
  resolved against a JSON document; a missing key resolves to NULL;
* ``task.`` and ``worker.`` prefixes (``worker.contact_uri != task.ignoreWorkerContactUri``)
  and the ``workers.available`` style counters of ``skip_if``;
* comparison ``== = != > < >= <=``, array operators ``IN``, ``NOT IN``, ``HAS``, ``CONTAINS``,
  logical ``AND``/``&&``, ``OR``/``||``, ``NOT``/``!`` and parentheses (keywords are
  case-insensitive).

Comparisons between different types are false (``!=`` true), as TaskRouter advises
not to rely on them; NULL equals only NULL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


class ExpressionError(ValueError):
    pass


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<op>==|!=|>=|<=|&&|\|\||[=><!(),\[\]])
  | (?P<key>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)
    """,
    re.VERBOSE,
)

_KEYWORDS = {"and", "or", "not", "in", "has", "contains", "true", "false", "null"}


@dataclass(frozen=True)
class Tok:
    kind: str  # str, num, op, key, kw
    value: Any


def _tokenize(text: str) -> list[Tok]:
    pos, out = 0, []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExpressionError(f"unexpected character {text[pos]!r} at {pos} in {text!r}")
        pos = m.end()
        kind = m.lastgroup
        raw = m.group()
        if kind == "ws":
            continue
        if kind == "str":
            out.append(Tok("str", re.sub(r"\\(.)", r"\1", raw[1:-1])))
        elif kind == "num":
            out.append(Tok("num", float(raw) if "." in raw else int(raw)))
        elif kind == "key" and raw.lower() in _KEYWORDS:
            out.append(Tok("kw", raw.lower()))
        else:
            out.append(Tok(kind, raw))
    return out


# AST nodes are tuples: ("const", v) ("key", parts) ("list", [nodes]) ("not", n)
# ("and", a, b) ("or", a, b) ("cmp", op, a, b)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise ExpressionError(f"unexpected end of expression {self.text!r}")
        self.i += 1
        return tok

    def accept(self, kind: str, *values: Any) -> Tok | None:
        tok = self.peek()
        if tok and tok.kind == kind and (not values or tok.value in values):
            self.i += 1
            return tok
        return None

    def parse(self):
        if not self.toks:
            raise ExpressionError("empty expression")
        node = self.or_expr()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek().value!r} in {self.text!r}")
        return node

    def or_expr(self):
        node = self.and_expr()
        while self.accept("kw", "or") or self.accept("op", "||"):
            node = ("or", node, self.and_expr())
        return node

    def and_expr(self):
        node = self.not_expr()
        while self.accept("kw", "and") or self.accept("op", "&&"):
            node = ("and", node, self.not_expr())
        return node

    def not_expr(self):
        if self.accept("kw", "not") or self.accept("op", "!"):
            return ("not", self.not_expr())
        return self.comparison()

    def comparison(self):
        left = self.operand()
        tok = self.peek()
        if tok is None:
            return left
        if tok.kind == "op" and tok.value in ("==", "=", "!=", ">", "<", ">=", "<="):
            self.i += 1
            op = "==" if tok.value == "=" else tok.value
            return ("cmp", op, left, self.operand())
        if tok.kind == "kw" and tok.value in ("in", "has", "contains"):
            self.i += 1
            return ("cmp", tok.value, left, self.operand())
        if tok.kind == "kw" and tok.value == "not":
            nxt = self.toks[self.i + 1] if self.i + 1 < len(self.toks) else None
            if nxt and nxt.kind == "kw" and nxt.value in ("in", "has", "contains"):
                self.i += 2
                return ("not", ("cmp", nxt.value, left, self.operand()))
        return left

    def operand(self):
        tok = self.take()
        if tok.kind in ("str", "num"):
            return ("const", tok.value)
        if tok.kind == "kw" and tok.value in ("true", "false"):
            return ("const", tok.value == "true")
        if tok.kind == "kw" and tok.value == "null":
            return ("const", None)
        if tok.kind == "key":
            return ("key", _split_key(tok.value))
        if tok.kind == "op" and tok.value == "(":
            node = self.or_expr()
            if not self.accept("op", ")"):
                raise ExpressionError(f"missing ')' in {self.text!r}")
            return node
        if tok.kind == "op" and tok.value == "[":
            items = []
            if not self.accept("op", "]"):
                while True:
                    items.append(self.operand())
                    if self.accept("op", "]"):
                        break
                    if not self.accept("op", ","):
                        raise ExpressionError(f"expected ',' or ']' in {self.text!r}")
            return ("list", items)
        raise ExpressionError(f"unexpected {tok.value!r} in {self.text!r}")


@lru_cache(maxsize=1024)
def _split_key(raw: str) -> tuple:
    parts: list = []
    for piece in re.findall(r"[A-Za-z_][A-Za-z0-9_]*|\[\d+\]", raw):
        parts.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    return tuple(parts)


@lru_cache(maxsize=1024)
def parse(text: str):
    """Parse an expression; raises ExpressionError on a syntax error."""
    return _Parser(text).parse()


def validate(text: str) -> None:
    parse(text)


_MISSING = None


def _lookup(doc: Any, parts: tuple) -> Any:
    cur = doc
    for part in parts:
        if isinstance(part, int):
            if isinstance(cur, list) and -len(cur) <= part < len(cur):
                cur = cur[part]
            else:
                return _MISSING
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return _MISSING
    return cur


@dataclass
class Scope:
    """What keys resolve against.

    ``doc`` is the default document (task attributes in a workflow filter, worker
    attributes in a queue or target expression); ``task`` and ``worker`` are what the
    ``task.`` and ``worker.`` prefixes name; ``counters`` holds ``workers.available``
    style values for ``skip_if``.
    """

    doc: dict
    task: dict | None = None
    worker: dict | None = None
    counters: dict | None = None

    def resolve(self, parts: tuple) -> Any:
        if self.counters is not None and len(parts) == 2 and parts[0] == "workers":
            return self.counters.get(parts[1], 0)
        if len(parts) > 1 and parts[0] == "task" and self.task is not None:
            return _lookup(self.task, parts[1:])
        if len(parts) > 1 and parts[0] == "worker" and self.worker is not None:
            return _lookup(self.worker, parts[1:])
        return _lookup(self.doc, parts)


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if _num(a) and _num(b):
        return a == b
    if type(a) is not type(b):
        return False
    return a == b


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    if op in (">", "<", ">=", "<="):
        if not ((_num(a) and _num(b)) or (isinstance(a, str) and isinstance(b, str))):
            return False
        return {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}[op]
    if op == "in":
        if isinstance(b, list):
            if isinstance(a, list):
                return any(_equal(x, y) for x in a for y in b)
            return any(_equal(a, y) for y in b)
        return _equal(a, b)
    if op == "has":
        if isinstance(a, list):
            if isinstance(b, list):
                return any(_equal(x, y) for x in a for y in b)
            return any(_equal(x, b) for x in a)
        return False
    if op == "contains":
        if isinstance(a, str) and isinstance(b, str):
            return b in a
        if isinstance(a, list) and isinstance(b, str):
            return any(isinstance(x, str) and b in x for x in a)
        return False
    raise ExpressionError(f"unknown operator {op}")


def _eval(node, scope: Scope) -> Any:
    kind = node[0]
    if kind == "const":
        return node[1]
    if kind == "key":
        return scope.resolve(node[1])
    if kind == "list":
        return [_eval(n, scope) for n in node[1]]
    if kind == "not":
        return not _truth(_eval(node[1], scope))
    if kind == "and":
        return _truth(_eval(node[1], scope)) and _truth(_eval(node[2], scope))
    if kind == "or":
        return _truth(_eval(node[1], scope)) or _truth(_eval(node[2], scope))
    if kind == "cmp":
        return _compare(node[1], _eval(node[2], scope), _eval(node[3], scope))
    raise ExpressionError(f"bad node {kind}")


def _truth(v: Any) -> bool:
    return v is True


def evaluate(text: str, scope: Scope) -> bool:
    return _truth(_eval(parse(text), scope))


def matches_task(expression: str | None, task_attributes: dict) -> bool:
    """A workflow filter expression against a task's attributes."""
    if expression is None or not expression.strip():
        return True
    return evaluate(expression, Scope(doc=task_attributes, task=task_attributes))


def matches_worker(
    expression: str | None, worker_attributes: dict, task_attributes: dict | None = None
) -> bool:
    """A queue TargetWorkers or target expression against a worker (task. keys read the task)."""
    if expression is None or not expression.strip():
        return True
    return evaluate(
        expression, Scope(doc=worker_attributes, worker=worker_attributes, task=task_attributes or {})
    )
