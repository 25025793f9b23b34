"""Readers of input logs, one module per format, found by file suffix.

:func:`read_log` picks the reader from :data:`FORMATS` (``registry.py``); each format
module (``json_lines``, ``csv_file``, ``parquet_file``) has a ``read`` function that
checks the file at once and returns an iterator over its :class:`Record` and
:class:`Reject` rows. ``tabular`` holds what the CSV and Parquet readers share.
"""

from replay.readers.base import LogFormat, Reader, Record, Reject
from replay.readers.registry import FORMATS, format_of, log_format, read_log

__all__ = [
    "FORMATS",
    "LogFormat",
    "Reader",
    "Record",
    "Reject",
    "format_of",
    "log_format",
    "read_log",
]
