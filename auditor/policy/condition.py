"""Evaluate ``condition`` checks: Kleene logic over facts, one outcome per for-each item.

A comparison that needs a fact the audit does not have yields *unknown* (``Unknown``), not
false: ``all`` is false if any part is false, else unknown if any part is unknown; ``any``
is true if any part is true, else unknown if any is. A branch whose condition is unknown
ends the rule for that scope as ``needs_attestation`` (a missing ``evidence.*`` key) or
``insufficient_evidence`` (a missing metric, p-value, attribution...), naming the fact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from auditor.policy.budget import check_budget
from auditor.policy.facts import Facts
from auditor.policy.language import (
    Compare,
    Cond,
    Junction,
    Negation,
    Presence,
    Quantified,
    Ref,
    Source,
)
from auditor.policy.outcome import Outcome, fmt_num, fmt_p, fmt_vs_line
from auditor.policy.patterns import search
from auditor.policy.schema import Condition, Rule
from auditor.result import FindingStatus


@dataclass(frozen=True)
class Unknown:
    """A fact the condition needed was absent or unusable."""

    path: str
    problem: str = "is not set"

    @property
    def status(self) -> FindingStatus:
        """needs_attestation for spec evidence, insufficient_evidence otherwise."""
        return "needs_attestation" if self.path.startswith("evidence.") else "insufficient_evidence"

    @property
    def detail(self) -> str:
        """Which fact, and what to do about it."""
        if self.path.startswith("evidence."):
            return f"{self.path} {self.problem} (set it in the spec)"
        if self.path.startswith("item."):
            return f"its {self.path.removeprefix('item.').replace('_', ' ')} {self.problem}"
        return f"{self.path} {self.problem} for this audit"


Truth = bool | Unknown
_ABSENT = object()


@dataclass(frozen=True)
class Env:
    """What names resolve against: the facts and the current for-each item."""

    facts: Facts
    item: dict[str, Any] | None = None


def lookup(ref: Ref, env: Env) -> Any:
    """The fact's value after ``fn``, or an ``Unknown``."""
    root, _, rest = ref.path.partition(".")
    if root == "item":
        value = (env.item or {}).get(rest, _ABSENT)
    elif root == "evidence":
        value = env.facts.evidence
        for key in rest.split("."):
            value = value.get(key, _ABSENT) if isinstance(value, dict) else _ABSENT
    else:
        value = env.facts.scalar(ref.path)
    if value is _ABSENT or value is None or value == "":
        return Unknown(ref.path)
    return _apply(ref, value, env.facts.audit_date)


def _apply(ref: Ref, value: Any, audit_date: date) -> Any:
    fn = ref.fn
    if fn is None:
        return value
    if fn == "days_since":
        when = as_date(value)
        if when is None:
            return Unknown(ref.path, "must be a date (YYYY-MM-DD)")
        return (audit_date - when).days
    if fn == "abs":
        return abs(value) if isinstance(value, int | float) else Unknown(ref.path, "is no number")
    if fn == "length":
        return (
            len(value)
            if isinstance(value, list | dict | str)
            else Unknown(ref.path, "has no length")
        )
    return str(value).lower()  # lower


def as_date(value: Any) -> date | None:
    """A date from a date, a timestamp (its date) or ISO text; None if it is none of these."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, date) or isinstance(right, date):
        left, right = as_date(left) or left, as_date(right) or right
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if op == "in":
        return left in right
    if op == "not_in":
        return left not in right
    if op in ("contains", "not_contains"):
        if isinstance(left, str):
            found = search(str(right), left)  # RE2: linear time; PatternError if invalid
        else:
            found = right in left if isinstance(left, list | dict | tuple) else False
        return found if op == "contains" else not found
    if op == "has_key":
        return isinstance(left, dict) and str(right) in left
    numbers = (int, float)
    if not (
        (isinstance(left, numbers) and isinstance(right, numbers))
        or (isinstance(left, date) and isinstance(right, date))
        or (isinstance(left, str) and isinstance(right, str))
    ):
        # "two years" < 25 must not quietly be false (and let a rule pass)
        raise TypeError(f"cannot order {type(left).__name__} and {type(right).__name__}")
    return _order(op, left, right)


def _order(op: str, a: Any, b: Any) -> bool:
    return bool({"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op])


def holds(cond: Cond, env: Env) -> Truth:
    """Evaluate a condition (three-valued)."""
    check_budget()
    if isinstance(cond, Compare):
        left = lookup(cond.left, env)
        if isinstance(left, Unknown):
            return left
        right = lookup(cond.right, env) if isinstance(cond.right, Ref) else cond.right
        if isinstance(right, Unknown):
            return right
        try:
            return _compare(cond.op, left, right)
        except TypeError:
            return Unknown(cond.left.path, f"has a value that cannot be compared with '{cond.op}'")
    if isinstance(cond, Presence):
        value = lookup(Ref(cond.ref.path), env)
        if cond.strict:
            return value if isinstance(value, Unknown) else value is not False
        return isinstance(value, Unknown) == cond.negate
    if isinstance(cond, Negation):
        inner = holds(cond.part, env)
        return inner if isinstance(inner, Unknown) else not inner
    if isinstance(cond, Junction):
        return _junction(cond.kind == "all", [holds(p, env) for p in cond.parts])
    return _quantified(cond, env)


def _junction(conjunction: bool, values: list[Truth]) -> Truth:
    decisive = not conjunction  # all: one False decides; any: one True decides
    if any(v is decisive for v in values):
        return decisive
    unknown = next((v for v in values if isinstance(v, Unknown)), None)
    return unknown if unknown is not None else conjunction


def items_of(source: Source, env: Env) -> list[dict[str, Any]]:
    """The source's items that satisfy its ``where`` (unknown counts as not satisfied)."""
    if source.collection == "items":
        items = [{"name": name} for name in source.items]
    else:
        items = env.facts.collection(source.collection)
    if source.where is None:
        return items
    where = source.where
    return [i for i in items if holds(where, Env(env.facts, i)) is True]


def _quantified(cond: Quantified, env: Env) -> Truth:
    values = [holds(cond.where, Env(env.facts, i)) for i in items_of(cond.source, env)]
    if cond.kind == "some":
        return _junction(False, values)
    if cond.kind == "every":
        return _junction(True, values)
    some = _junction(False, values)
    return some if isinstance(some, Unknown) else not some


def condition_check(rule: Rule, check: Condition, facts: Facts) -> list[Outcome]:
    """One outcome per for-each item (or one for the rule): the first branch that holds."""
    if check.source is None:
        return [_judge(check, Env(facts), check.scope_template())]
    items = items_of(check.source, Env(facts))
    if not items:
        what = check.source.collection.replace("_", " ")
        return [
            Outcome(
                check.if_empty,
                check.source.collection,
                fields={"detail": check.if_empty_detail or f"no {what} to check in this audit"},
            )
        ]
    return [
        _judge(check, Env(facts, i), check.scope_template().format_map(_Text(i))) for i in items
    ]


class _Text(dict[str, Any]):
    """Template fields from an item: numbers shortened, absent ones as 'n/a'."""

    def __missing__(self, key: str) -> str:
        return "n/a"

    def __getitem__(self, key: str) -> Any:
        value = super().get(key)
        if value is None:
            return "n/a"
        if isinstance(value, float):
            return fmt_num(value)
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return value


def _judge(check: Condition, env: Env, scope: str) -> Outcome:
    status: FindingStatus = check.otherwise
    detail = check.otherwise_detail
    threshold = check.threshold
    for branch, cond in zip(check.outcomes, check.branches, strict=True):
        verdict = holds(cond, env)
        if isinstance(verdict, Unknown):
            status, detail = verdict.status, verdict.detail
            break
        if verdict:
            status, detail = branch.status, branch.detail
            if branch.threshold is not None:
                threshold = branch.threshold
            break
    item = env.item or {}
    observed = _observed(check, env)
    shown = "n/a" if observed is None else _Text({"v": observed})["v"]
    if isinstance(observed, float) and isinstance(threshold, int | float):
        # 0.7958 against 0.8 prints 0.796: a value never looks equal to the line it is below
        shown = fmt_vs_line(float(observed), float(threshold))
    fields = {
        "scope": scope,
        "threshold": "" if threshold is None else str(threshold),
        "observed": shown,
    }
    for key in ("attribute", "group", "reference", "n"):
        if item.get(key) is not None:
            fields[key] = str(item[key])
    if item.get("p_below_line") is not None:
        # the verdict rule decided (auditor/policy/verdict.py): show the p it used
        fields["p"] = f"{fmt_p(item['p_below_line'])} (one-sided, Holm-adjusted)"
    elif "p_value" in item:
        fields["p"] = _p_text(item.get("p_value"), item.get("p_value_adjusted"))
    fields["detail"] = _quote_evidence(detail, env).format_map(_Text({**item, **fields}))
    return Outcome(status, scope, observed, threshold, fields)


_EVIDENCE_FIELD = re.compile(r"\{(evidence(?:\.[A-Za-z0-9_]+)+)\}")


def _quote_evidence(detail: str, env: Env) -> str:
    """``{evidence.a.b}`` in a detail replaced by that fact's value ('n/a' when absent)."""

    def value(match: re.Match[str]) -> str:
        found = lookup(Ref(match.group(1)), env)
        text = "n/a" if isinstance(found, Unknown) else str(found)
        return text.replace("{", "{{").replace("}", "}}")  # literal in the format step

    return _EVIDENCE_FIELD.sub(value, detail)


def _p_text(p: float | None, adjusted: float | None) -> str:
    """The raw p and, where there is one, the Holm-adjusted p beside it."""
    if p is None or adjusted is None:
        return fmt_p(p)
    return f"{fmt_p(p)}; Holm-adjusted {fmt_p(adjusted).removeprefix('p ')}"


def _observed(check: Condition, env: Env) -> float | str | None:
    if check.observed is None:
        return None
    value = lookup(Ref(check.observed), env)
    if isinstance(value, Unknown):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return value
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
