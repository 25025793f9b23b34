"""Which Kafka partition a customer's events land on, computed as Kafka's producers do.

Replay routes customers to the same partitions a live topic would give them, so each
partition's event time (and the timers it fires) agrees between the two.
"""

from __future__ import annotations

__all__ = ["kafka_partition", "murmur2"]

_MASK = 0xFFFFFFFF
_M, _R, _SEED = 0x5BD1E995, 24, 0x9747B28C


def murmur2(data: bytes) -> int:
    """MurmurHash2 as Kafka's Java client computes it (``Utils.murmur2``), unsigned.

    >>> murmur2(b"")
    275646681
    >>> murmur2(b"customer-1")
    1939597761
    """
    length = len(data)
    h = (_SEED ^ length) & _MASK
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> _R
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length % 4
    if tail:
        h ^= int.from_bytes(data[length - tail :], "little")
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def kafka_partition(customer_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a record keyed ``customer_id``.

    >>> kafka_partition("customer-1", 4)
    1
    """
    return (murmur2(customer_id.encode()) & 0x7FFFFFFF) % partitions
