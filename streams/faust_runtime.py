"""Faust, with three per-message costs of its aiokafka driver taken out.

Measured on the worker (``bench/PROFILE.md``); none of them changes which events
the agent sees or in what order:

- Faust hands every fetched message to the conductor through
  ``Service.wait_first(callback(message), suspend_flow.wait())``: four tasks and an
  ``asyncio.wait`` per message, half of a bare agent's CPU. :class:`Consumer` awaits
  the callback directly and checks for a suspended flow (a rebalance) first.
- The worker's consumer has ``fetch_max_wait_ms=1500`` hard-coded. A broker may
  hold a fetch that long when records trickle in (the embedded Tansu does, even
  when some are there), which then floors the latency. It is a setting here.
- Faust's Monitor sensor counts every message and stream event in and out; the
  worker exports its own metrics, so :class:`QuietMonitor` skips those counters.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import faust
from faust.sensors import Monitor
from faust.sensors.base import Sensor
from faust.transport.drivers import aiokafka as driver
from faust.types import TransportT


class QuietMonitor(Monitor):
    """Faust's Monitor without its per-message and per-event bookkeeping."""

    on_message_in = Sensor.on_message_in
    on_stream_event_in = Sensor.on_stream_event_in
    on_stream_event_out = Sensor.on_stream_event_out
    on_message_out = Sensor.on_message_out
    on_table_get = Sensor.on_table_get
    on_table_set = Sensor.on_table_set
    on_send_initiated = Sensor.on_send_initiated
    on_send_completed = Sensor.on_send_completed


class ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads it when the consumer starts; Faust offers no setting for it.
        consumer._fetch_max_wait_ms = self.app.fetch_max_wait_ms  # type: ignore[attr-defined]
        return consumer


class Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:
        # Faust 0.15.3's loop (faust/transport/consumer.py), minus ``wait_first`` per
        # message and the diagnostic flags. What that gives up: a callback blocked on
        # a full stream buffer is no longer cancelled when a rebalance suspends the
        # flow; it finishes first.
        callback, getmany = self.callback, self.getmany
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        consumer_stopped, fetcher_stopped = self._stopped.is_set, fetcher._stopped.is_set
        suspended = self.suspend_flow.is_set
        since_yield = 0
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                batch = getmany(timeout=1.0)
                await asyncio.sleep(0)  # getmany may return at once, forever
                if self.should_stop:
                    continue
                async for tp, message in batch:
                    since_yield += 1
                    if since_yield > 100:
                        await asyncio.sleep(0)
                        since_yield = 0
                    offset, last = message.offset, read_offset[tp]
                    if last is not None and offset < last:
                        continue  # already delivered (seek back on a rebalance)
                    if last and offset - last > 1 and acks_enabled_for(message.topic):
                        await self._add_gap(tp, last + 1, offset)  # compacted away
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                    if not suspended():
                        await callback(message)
                    # As in Faust, a message met while a rebalance suspends the flow
                    # is passed over; it is not acked, and the seek after the
                    # rebalance reads it again.
                    read_offset[tp] = offset
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise


class Transport(driver.Transport):
    Consumer = Consumer


class SegmentApp(faust.App):
    """A ``faust.App`` whose Kafka consumer uses :class:`Consumer`."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int = 500, **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        super().__init__(*args, Monitor=QuietMonitor, **kwargs)

    def _new_transport(self) -> TransportT:
        url = self.conf.broker_consumer[0]
        if url.scheme not in ("kafka", "aiokafka"):
            return super()._new_transport()
        return cast(TransportT, Transport(self.conf.broker_consumer, self))
