"""The Faust app: topics, the customer-state table, the agent and the web views."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import faust
from faust.exceptions import SameNode
from faust.types import StreamT

from brokers.clients import sasl_password, ssl_context
from brokers.topics import STATE_TABLE, changelog_topic
from engine.segment_engine import SegmentEngine
from schemas.events import EVENT_TYPES
from schemas.memberships import CustomerSegments
from settings import Settings
from streams.faust_adapters import FaustPublisher, highwater, input_records
from streams.faust_compat import SegmentApp
from streams.live_profiles import LiveProfiles
from streams.metrics import Metrics
from streams.model_checkpoint import (
    ModelCheckpoint,
    ModelCheckpointWriter,
    keeps_model_checkpoints,
    restore_latest,
)
from streams.model_follower import follow_models
from streams.pipeline import Pipeline, sources
from streams.table_store import PartitionIndex, TableStores, decode_state
from streams.web_access import not_ready, refusal

log = logging.getLogger(__name__)

BATCHES_MAX = 20  # RecordBatch events per engine call
# Faust's stream buffer counts events, 4,096 by default: with RecordBatch events of up
# to RUN_MAX records that is 2M records read ahead on a backlog (+160 MB at 500k
# pre-filled events). Two engine calls' worth keeps the worker fed.
STREAM_BUFFER_BATCHES = 2 * BATCHES_MAX
BATCH_WITHIN_SECONDS = 0.01  # bounds the latency a partial batch adds
# Batches changelog and change messages into fewer produce requests (aiokafka
# otherwise sends one per message under load); adds at most 5 ms.
PRODUCER_LINGER_SECONDS = 0.005
# With model epochs: how often caught-up partitions are sealed and held events retried.
NUDGE_INTERVAL_SECONDS = 1.0
KPI_INTERVAL_SECONDS = 60.0  # per-segment KPIs count the customers changed since: not per scrape


def create_app(settings: Settings, metrics: Metrics | None = None) -> faust.App:
    metrics = metrics or Metrics()
    topics = settings.topics
    inputs_by_name = sources(topics)
    app = SegmentApp(
        settings.app_id,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        batched_topics=frozenset(inputs_by_name),
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=broker_credentials(settings),
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        # Faust creates its table changelog and leader topic unless told not to; with
        # create_topics = false they must exist (the worker command checks they do).
        topic_allow_declare=settings.create_topics,
        web_bind=settings.web_bind,
        web_port=settings.web_port,
        web_host=settings.web_bind,
        # Only the project's own routes: Faust's would serve the customer-state table
        # (/table), the cluster's assignment (/router) and internals, unauthenticated.
        web_tables_enabled=False,
        web_router_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        # Tansu has no transactions; idempotent state makes at-least-once safe.
        processing_guarantee="at_least_once",
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=settings.heartbeat_interval_seconds,
        key_serializer="raw",
        value_serializer="raw",
        producer_linger=PRODUCER_LINGER_SECONDS,
        stream_buffer_maxsize=STREAM_BUFFER_BATCHES,
    )
    inputs = app.topic(*inputs_by_name, key_type=bytes, value_type=bytes)
    # Every topic, Faust's included, is declared by the worker command before the app
    # starts (brokers.topics.declare_topics), each in its shape.
    index = PartitionIndex()

    async def stop_on(output: str, error: BaseException) -> None:
        # A batch's output was lost after its input was taken: stop before anything
        # later is committed; the next worker reads that input again.
        metrics.output_failures.labels(output).inc()
        log.critical("stopping: %s could not be written: %s", output, error)
        await app.fail_stop(error)

    def changelog_failed(error: BaseException) -> None:
        app.loop.create_task(stop_on("changelog", error))

    table = app.Table(
        STATE_TABLE,
        default=None,
        key_type=str,
        # JSON bytes (streams.table_store.encode_state), kept as they are: the raw codec.
        value_type=bytes,
        options=settings.table_options(),  # RocksDB's memory bounds; None for memory://
        extra_topic_configs=settings.compacted_topic_configs(),  # erasure: docs/operations.md
        on_changelog_event=index.on_changelog_event,  # rebuilds the index on recovery
    )
    changelog = table.changelog_topic.get_topic_name()
    if changelog != changelog_topic(settings):  # a Faust that names it anew
        raise RuntimeError(f"the table's changelog is {changelog!r}, "
                           f"brokers.topics declares {changelog_topic(settings)!r}")  # fmt: skip
    stores = TableStores(table, index, changelog_failed)
    pipeline = Pipeline(
        SegmentEngine(settings.engine, settings.topic_partitions, settings.trainer == "separate"),
        topics,
        stores,
        FaustPublisher(app),
        metrics,
        EVENT_TYPES | frozenset(settings.engine.extra_event_types),
        highwater=lambda topic, partition: highwater(app, topic, partition),
    )
    app.held_floors = pipeline.held_floors  # read at commits
    live_profiles = LiveProfiles(pipeline.engine, table, index, topics.behaviour)

    @table.on_recover
    async def count_recovered() -> None:
        live_profiles.recovered()
        stores.recent.clear()  # the table now holds what the changelog replayed

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def forget_held(app: Any, revoked: set[Any], **_: Any) -> None:
        await pipeline.drop_held({(tp.topic, tp.partition) for tp in revoked})
        stores.recent.clear()  # another worker may write those states before they return

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def count_assigned(app: Any, assigned: set[Any], **_: Any) -> None:
        inputs = set(inputs_by_name)
        metrics.assigned_partitions.set(sum(1 for tp in assigned if tp.topic in inputs))
        live_profiles.assigned({tp.partition for tp in assigned if tp.topic in inputs})
        stores.recent.clear()  # what the table recovers for the new ones is newer
        app.joined = True

    @app.agent(inputs, name="segment")
    async def segment(stream: StreamT[bytes]) -> None:
        # Each event is a RecordBatch (up to RUN_MAX records of one partition); the
        # batches of one fetch go to the engine together, their partitions taking turns.
        batches = stream.take_events(BATCHES_MAX, within=BATCH_WITHIN_SECONDS)  # type: ignore[attr-defined]
        async for events in batches:
            try:
                await pipeline.handle(input_records(events))
            except Exception as exc:  # a produce failed, or a bug: nothing may be committed
                await stop_on("batch", exc)
                return

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        return web.bytes(metrics.exposition(), content_type="text/plain; version=0.0.4")

    @app.page("/healthz")
    async def alive_view(web: Any, request: Any) -> Any:
        return web.json({"status": "alive"})

    @app.page("/readyz")
    async def ready_view(web: Any, request: Any) -> Any:
        if reasons := not_ready(app):
            return web.json({"status": "not ready", "reasons": reasons}, status=503)
        return web.json({"status": "ready"})

    def refused(web: Any, request: Any) -> Any:
        """The answer to a request for customer data it may not have; None if it may."""
        denied = refusal(settings, request.headers.get("Authorization"))
        return None if denied is None else web.json({"error": denied[1]}, status=denied[0])

    smallest = settings.min_published_segment_size

    @app.page("/segments")
    async def segments_view(web: Any, request: Any) -> Any:
        if (answer := refused(web, request)) is not None:
            return answer
        # Profiles of the customers this worker holds (its partitions), as of the
        # latest event time it has seen.
        status = pipeline.engine.status()
        now = status.watermark_ms
        profiles = [] if now is None else await live_profiles.profiles(now, smallest)
        return web.json(
            {
                "as_of_ms": now,
                "segments": [p.to_dict() for p in profiles],
                "lineage": [asdict(entry) for entry in status.lineage],
            }
        )

    # Routed by the input topic's partitioning (raw customer id): Faust's table_route
    # would hash the changelog's JSON-encoded key and reach the wrong worker.
    routing = app.topic(topics.behaviour, key_type=bytes, value_type=bytes)

    @app.page("/customers/{customer_id}/segments")
    async def customer_segments_view(web: Any, request: Any, customer_id: str) -> Any:
        if (answer := refused(web, request)) is not None:
            return answer
        try:  # answered by the worker that holds the customer's partition
            return await app.router.route_topic_req(routing, customer_id.encode(), web, request)
        except SameNode:
            pass
        value = table.get(customer_id)
        state = None if value is None else decode_state(value)
        if state is None or state.last_seen_ms is None:  # unknown, or erased
            return web.json({"error": f"no customer {customer_id!r}"}, status=404)
        engine = pipeline.engine
        learned, rules = engine.memberships(state)
        body = CustomerSegments(
            customer_id=customer_id, learned=learned, rules=rules,
            model_version=engine.status().model_version,
            as_of=datetime.fromtimestamp(state.last_seen_ms / 1000, UTC),
        )  # fmt: skip
        return web.json(body.model_dump(mode="json"))

    @app.timer(NUDGE_INTERVAL_SECONDS)  # type: ignore[untyped-decorator]
    async def nudge_held() -> None:
        await pipeline.nudge()

    @app.timer(KPI_INTERVAL_SECONDS)  # type: ignore[untyped-decorator]
    async def segment_kpis() -> None:
        now = pipeline.engine.status().watermark_ms
        if now is not None:
            metrics.record_kpis(await live_profiles.profiles(now, smallest))

    if keeps_model_checkpoints(settings):  # the in-worker model, kept across restarts
        writer = ModelCheckpointWriter(settings)

        def restore_model() -> None:  # before the consumer starts: no event meets it first
            if restore_latest(settings, pipeline.engine) is not None:
                metrics.model_version.set(pipeline.engine.status().model_version)

        app.before_start.append(restore_model)

        @app.timer(settings.trainer_checkpoint_seconds)  # type: ignore[untyped-decorator]
        async def checkpoint_model() -> None:
            await writer.write(await pipeline.read_engine(ModelCheckpoint.of))

    if settings.trainer == "separate":

        @app.task  # type: ignore[untyped-decorator]
        async def follow_trainer() -> None:
            await follow_models(settings, pipeline.adopt, pipeline.reject_model)

    app.pipeline = pipeline  # type: ignore[attr-defined]
    app.partition_index = index  # type: ignore[attr-defined]
    return app


def broker_credentials(settings: Settings) -> Any:
    sec = settings.kafka_security
    context = ssl_context(settings)
    if sec.protocol.startswith("SASL"):
        # Faust speaks SASL_SSL only when given an SSL context; otherwise SASL_PLAINTEXT.
        return faust.SASLCredentials(
            username=sec.sasl_username,
            password=sasl_password(settings),  # kept out of every log from here on
            mechanism=sec.sasl_mechanism,
            ssl_context=context,
        )
    return context  # an SSLContext alone means SSL; None means PLAINTEXT
