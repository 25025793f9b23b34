"""Wiring of the engine to Kafka through Faust: the app, its agent, topics, table and views.

Modules are imported where needed (``streams.app`` pulls in Faust), so the command
line stays quick for commands that never start a worker.
"""
