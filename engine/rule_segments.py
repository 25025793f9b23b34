"""Rule segments: the config's declarative segments, and who enters or leaves them.

A customer is in every rule segment whose expression their features match; each
evaluation compares that with the segments they were in and records an entry or an
exit for each difference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from engine.changes import Change, lifetime
from engine.rules import FieldKind, Rule, compile_rule
from engine.state import CustomerState
from schemas.changes import ChangeReason, SegmentRef
from schemas.config import RuleSegmentConfig

__all__ = ["RuleSegments", "number"]

Features = Mapping[str, float | str | None]


class RuleSegments:
    """The compiled rule segments of a config, in config order.

    >>> from schemas.config import RuleSegmentConfig
    >>> from schemas.features import feature_kinds
    >>> rules = RuleSegments(
    ...     [RuleSegmentConfig(id="vip", name="VIP", expression="purchase_count >= 2")],
    ...     feature_kinds((7, 30, 90)),
    ... )
    >>> state, out = CustomerState("c1", purchase_count=2), []
    >>> rules.evaluate(state, {"purchase_count": 2.0}, 0, None, 1, out)
    >>> [(c.reason, c.segment.id) for c in out], state.rule_segments
    ([('entered_rule', 'vip')], ['vip'])
    """

    def __init__(self, configs: Sequence[RuleSegmentConfig], kinds: Mapping[str, FieldKind]):
        self._rules: dict[str, tuple[Rule, SegmentRef]] = {
            rule.id: (
                compile_rule(rule.id, rule.expression, kinds),
                SegmentRef(id=rule.id, name=rule.name, kind="rule"),
            )
            for rule in configs
        }
        self.refs: dict[str, SegmentRef] = {rid: ref for rid, (_, ref) in self._rules.items()}
        self.compiled: tuple[Rule, ...] = tuple(rule for rule, _ in self._rules.values())
        self.fields: frozenset[str] = frozenset().union(
            *(rule.fields for rule, _ in self._rules.values())
        )

    def __bool__(self) -> bool:
        return bool(self._rules)

    def evaluate(
        self, state: CustomerState, x: Features, now_ms: int, trigger: str | None,
        model_version: int, out: list[Change],
    ) -> None:  # fmt: skip
        """Update ``state.rule_segments`` from ``x``; a change for each entry or exit."""
        if not self._rules:
            return
        member = [rid for rid, (rule, _) in self._rules.items() if rule.matches(x)]
        before = set(state.rule_segments)
        for rid, (rule, ref) in self._rules.items():
            entered, left = rid in member and rid not in before, rid in before and rid not in member
            if not (entered or left):
                continue
            snapshot = {name: number(x[name]) for name in sorted(rule.fields)
                        if isinstance(x.get(name), int | float)}  # fmt: skip
            reason: ChangeReason = "entered_rule" if entered else "left_rule"
            previous, segment = (None, ref) if entered else (ref, None)
            out.append(Change(state.customer_id, previous, segment, now_ms, model_version,
                              reason, trigger, snapshot, lifetime(state)))  # fmt: skip
        state.rule_segments = member


def number(value: float | str | None) -> float:
    """A feature as a change's snapshot carries it: numbers as floats, the rest as 0."""
    return float(value) if isinstance(value, int | float) else 0.0
