"""The ``segment-engine`` command: the top layer, which may import every package below.

Modules are imported where needed, so a command that never starts a worker stays quick.
"""

__all__ = ["demo", "generate", "local", "main", "replay", "replay_arguments"]
