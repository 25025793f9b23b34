"""``segment-engine topics create`` / ``topics check``: every topic the project reads and
writes (``brokers.topics.declaration``), made or compared on any Kafka.

Both print one line per topic, then one line per difference (indented), then a summary:

    behaviour-events: ok (input; 4 partitions, replication 1)
    customer-segments: differs (current segments, compacted; 4 partitions, ...)
      customer-segments: cleanup.policy=delete, declared compact
    segment-changes: missing (output, kept output_retention_days; ...)

``create`` makes the missing topics and compares the existing ones; ``check`` only
compares. Either exits 1 when a topic is missing (``check``) or differs: a topic that
exists is never changed, its differences are for its owner to settle (recreate it, or
``kafka-configs.sh --alter`` for its configs; partitions can only be added, and adding
them moves customers to other partitions than their state's).
"""

from __future__ import annotations

from collections.abc import Callable

from brokers.topics import (
    PARTIAL_CONFIGS_NOTE,
    Described,
    TopicSpec,
    admin_client,
    create,
    declaration,
    describe,
    differences,
)
from settings import Settings

__all__ = ["topics_command"]

Print = Callable[[str], None]


def topics_command(settings: Settings, action: str, out: Print = print) -> int:
    """Run ``topics create`` or ``topics check``; the exit status."""
    specs = declaration(settings)
    with admin_client(settings) as admin:
        created = create(admin, settings, specs) if action == "create" else None
        made = created or set()
        described = describe(admin, [spec.name for spec in specs if spec.name not in made])
    return report(specs, described, created, out)


def report(specs: list[TopicSpec], described: Described, created: set[str] | None,
           out: Print) -> int:  # fmt: skip
    """Print the lines for ``specs`` from what the broker says of them (``described``)
    and, for ``topics create``, the names it ``created`` (None: ``topics check``); 1 if
    one of them is missing or differs, else 0.

    >>> from brokers.topics import Found
    >>> specs = [TopicSpec("a", 2, 1, {"cleanup.policy": "compact"}, "state"),
    ...          TopicSpec("b", 2, 1, what="input"), TopicSpec("c", 1, 1, what="input")]
    >>> found = {"a": Found("a", 2, frozenset({1}), {"cleanup.policy": "delete"}),
    ...          "b": Found("b", 2, frozenset({1}), {})}
    >>> report(specs, Described(found), None, print)
    a: differs (state; 2 partitions, replication 1, cleanup.policy=compact)
      a: cleanup.policy=delete, declared compact
    b: ok (input; 2 partitions, replication 1)
    c: missing (input; 1 partition, replication 1)
    2 of 3 topics missing or not as declared
    1
    >>> report(specs[1:], Described({"b": found["b"]}), {"c"}, print)
    b: exists (input; 2 partitions, replication 1)
    c: created (input; 1 partition, replication 1)
    all 2 topics as declared (created 1)
    0
    """
    wrong = 0
    for spec in specs:
        shape = f"({spec.what}; {spec.summary()})"
        found = described.topics.get(spec.name)
        if created is not None and spec.name in created:
            out(f"{spec.name}: created {shape}")
            continue
        if found is None:
            wrong += 1
            out(f"{spec.name}: missing {shape}")
            continue
        phrases = differences(spec, found)
        wrong += bool(phrases)
        status = "differs" if phrases else "ok"
        if created is not None:
            status = "exists, differs" if phrases else "exists"
        out(f"{spec.name}: {status} {shape}")
        for phrase in phrases:
            out(f"  {spec.name}: {phrase}")
    if not described.every_config:
        out(PARTIAL_CONFIGS_NOTE)
    made = f" (created {len(created)})" if created else ""
    if wrong:
        out(f"{wrong} of {len(specs)} topics missing or not as declared{made}")
        return 1
    out(f"all {len(specs)} topics as declared{made}")
    return 0
