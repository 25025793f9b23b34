"""No secret in any log record, at any level, whichever logger writes it.

Kafka clients log what they are given: kafka-python's ``KafkaAdminClient`` logs its
whole configuration at DEBUG, ``sasl_plain_password`` included, and both kafka-python
and aiokafka log every request at DEBUG, SASL tokens included (a PLAIN token holds the
password, a SCRAM one a proof that can be attacked offline; aiokafka cuts bytes at 100,
so a long PLAIN token shows a prefix of the password that no search can recognise).

Hence two rules, from the first :func:`protect` on, for the whole process:

1. Records of the Kafka client libraries (the ``kafka`` and ``aiokafka`` loggers and
   their children) below INFO are dropped.
2. Every other record has each protected secret, also as ``repr``, bytes ``repr`` and
   JSON spell it, masked in its message, exception text and stack.

Both are enforced where every record is made (the log record factory), not on handlers
or named loggers: Faust (mode) replaces the root handlers when it sets up logging, a
filter on a logger does not see its children's records, and a level set on a logger
is undone by the next logging configuration. A logger created later is covered too.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

MASK = "**********"
# Their records below INFO print protocol frames and configurations.
CLIENT_LIBRARIES = frozenset({"kafka", "aiokafka"})


class _BelowInfo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.INFO


class LogRedactor:
    """Once installed, and once it has a secret: masks its secrets in every log record of
    the process, and drops the Kafka client libraries' records below INFO.

    >>> import logging
    >>> redactor = LogRedactor()
    >>> redactor.protect("hunter2")
    >>> redactor.install()
    >>> record = logging.getLogger("demo").makeRecord(
    ...     "demo", logging.INFO, __file__, 1, "config: %r", ({"password": "hunter2"},), None)
    >>> record.getMessage()
    "config: {'password': '**********'}"
    >>> redactor.uninstall()
    """

    def __init__(self) -> None:
        self._spellings: tuple[str, ...] = ()
        self._previous: Callable[..., logging.LogRecord] | None = None
        self._drop_debug = _BelowInfo()
        self._lock = threading.Lock()

    def protect(self, secret: str) -> None:
        """Mask ``secret`` (and how ``repr``, bytes and JSON spell it) from now on."""
        if not secret:
            return
        with self._lock:
            # Longest first: one spelling may contain another.
            spellings = set(self._spellings) | set(spellings_of(secret))
            self._spellings = tuple(sorted(spellings, key=len, reverse=True))

    def install(self) -> None:
        """Make every log record of the process through this redactor (once)."""
        with self._lock:
            if self._previous is None:
                self._previous = logging.getLogRecordFactory()
                logging.setLogRecordFactory(self._make_record)

    def uninstall(self) -> None:
        """Back to the record factory found at :meth:`install` (undo in reverse order)."""
        with self._lock:
            if self._previous is not None:
                logging.setLogRecordFactory(self._previous)
                self._previous = None
            for logger in list(logging.root.manager.loggerDict.values()):
                if isinstance(logger, logging.Logger):
                    logger.removeFilter(self._drop_debug)

    def redact(self, text: str) -> str:
        for spelling in self._spellings:
            if spelling in text:
                text = text.replace(spelling, MASK)
        return text

    def _make_record(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        assert self._previous is not None
        record = self._previous(*args, **kwargs)
        if not self._spellings or not isinstance(record.name, str):
            return record
        if record.name.partition(".")[0] in CLIENT_LIBRARIES and record.levelno < logging.INFO:
            # The record is handed to its logger's filters right after it is made.
            logger = logging.getLogger(record.name)
            if self._drop_debug not in logger.filters:
                logger.addFilter(self._drop_debug)
            return record
        self._mask(record)
        return record

    def _mask(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # msg and args do not match: both, as text (both may hold it)
            message = f"{record.msg} (arguments: {record.args!r})"
        record.msg, record.args = self.redact(message), ()
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set, rather than format exc_info.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)


def spellings_of(secret: str) -> Iterable[str]:
    """``secret`` as it appears inside a str, bytes or JSON literal, or as is.

    >>> sorted(set(spellings_of("a'b")))
    ["a'b", "a\\\\'b"]
    """
    raw = secret.encode()
    yield secret
    # repr quotes with ' unless the text holds ' and not ": escaped either way.
    yield repr(secret)[1:-1]
    yield repr(secret + '"')[1:-2]
    yield repr(raw)[2:-1]
    yield repr(raw + b'"')[2:-2]
    yield json.dumps(secret)[1:-1]
    yield json.dumps(secret, ensure_ascii=False)[1:-1]


REDACTOR = LogRedactor()


def protect(secret: str) -> None:
    """From now on no log record of this process shows ``secret``, and the Kafka client
    libraries log nothing below INFO (see the module's docstring)."""
    REDACTOR.protect(secret)
    REDACTOR.install()
