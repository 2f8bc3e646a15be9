"""Thin wrappers over confluent-kafka: client configuration and a publisher that never loses silently."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from leap.settings import Settings

_librdkafka_log = logging.getLogger("leap.kafka.librdkafka")


class _Repeats(logging.Filter):
    """Lets each distinct librdkafka message through once a minute.

    With the broker down librdkafka logs every reconnection attempt, several a second; one
    line a minute says the same and leaves the command's own error readable.
    """

    def __init__(self, every: float = 60.0) -> None:
        super().__init__()
        self.every = every
        self._seen: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        # The text after "after Nms in state X" varies between attempts; the head does not.
        key = record.getMessage().split(" (after ", 1)[0]
        now = time.monotonic()
        if now - self._seen.get(key, -self.every) < self.every:
            return False
        if len(self._seen) > 1000:
            self._seen.clear()
        self._seen[key] = now
        return True


_librdkafka_log.addFilter(_Repeats())


def client_config(settings: Settings, **extra: Any) -> dict[str, Any]:
    """Common configuration of every confluent-kafka client LEAP creates."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "logger": _librdkafka_log,
        **extra,
    }


class DeliveryError(RuntimeError):
    """Kafka did not accept one or more messages; nothing about them is silent."""


class KafkaUnavailable(DeliveryError):
    """No broker answered: nothing was sent."""


class Publisher:
    """An idempotent, acks=all, compressed producer whose every delivery report is checked.

    ``send`` raises ``DeliveryError`` as soon as an earlier message is known to have failed;
    ``flush`` (and leaving the ``with`` block) waits for every report and raises if any failed
    or if some are still outstanding at the deadline.
    """

    def __init__(self, settings: Settings, *, client_id: str = "leap-producer", **extra: Any) -> None:
        config = client_config(
            settings,
            **{
                "client.id": client_id,
                "enable.idempotence": True,
                "acks": "all",
                "compression.type": "lz4",
                # The Java client's and aiokafka's partitioner: a student's events land on the
                # partition Faust expects for their key (librdkafka's default differs).
                "partitioner": "murmur2_random",
                # Batches fill for up to 20 ms: throughput for bulk loads, little latency for feeds.
                "linger.ms": 20,
                "queue.buffering.max.messages": 500_000,
                **extra,
            },
        )
        self._producer = Producer(config)
        self._bootstrap = settings.kafka_bootstrap
        self.delivered = 0
        self._failures: list[str] = []

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failures.append(f"{msg.topic()} key={msg.key()!r}: {err.str()}")
        else:
            self.delivered += 1

    def _raise_failures(self) -> None:
        if self._failures:
            first = self._failures[0]
            raise DeliveryError(f"{len(self._failures)} message(s) not delivered; first: {first}")

    def send(
        self,
        topic: str,
        value: bytes | None,
        key: str | bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        """Queue one message; blocks (serving delivery reports) while the local queue is full."""
        extra = {} if partition is None else {"partition": partition}
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers, on_delivery=self._on_delivery, **extra)
                break
            except BufferError:
                self._producer.poll(0.05)
        self._producer.poll(0)
        self._raise_failures()

    @classmethod
    def for_command(cls, settings: Settings, reachable_within: float = 10.0) -> Publisher:
        """A publisher for a command run by hand or by cron: it fails fast and says why.

        No broker answering in ``reachable_within`` seconds is ``KafkaUnavailable`` before any
        record is read; a message Kafka has not taken within ``LEAP_KAFKA_COMMAND_TIMEOUT``
        is a ``DeliveryError`` (a long-running worker keeps librdkafka's patient default).
        """
        publisher = cls(settings, **{"message.timeout.ms": int(settings.kafka_command_timeout * 1000)})
        publisher.check_reachable(reachable_within)
        return publisher

    def check_reachable(self, timeout: float = 10.0) -> None:
        """Ask the cluster for its metadata; ``KafkaUnavailable`` (in ``timeout`` seconds) if no broker answers."""
        try:
            self._producer.list_topics(timeout=timeout)
        except KafkaException as exc:
            reason = exc.args[0].str() if exc.args and isinstance(exc.args[0], KafkaError) else str(exc)
            raise KafkaUnavailable(f"Kafka at {self._bootstrap} did not answer within {timeout:.0f} s ({reason}), so nothing was published: is it running (make up)?") from None

    def flush(self, timeout: float = 120.0) -> None:
        """Wait for every outstanding delivery report; raise if any message failed."""
        remaining = self._producer.flush(timeout)
        self._raise_failures()
        if remaining:
            raise DeliveryError(f"{remaining} message(s) still undelivered after {timeout:.0f} s")

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.flush()
        else:
            # Deliver what was queued before the error, but let the original error through.
            self._producer.flush(30)


def read_to_end(settings: Settings, topic: str, timeout: float = 30.0) -> Iterator[Message]:
    """Every message of ``topic`` from the oldest kept to the end as it was when called.

    For compacted topics read whole (the latest value per key wins when applied in order).
    No consumer group offsets are committed, so reading never hides a message from anyone.
    ``TimeoutError`` when the broker stops answering for ``timeout`` seconds.
    """
    consumer = Consumer(client_config(settings, **{"group.id": f"leap-reader-{topic}", "enable.auto.commit": False}))
    try:
        partitions = consumer.list_topics(topic, timeout=timeout).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout) for p in partitions}
        pending = {p for p, (low, high) in ends.items() if high > low}
        consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in pending])
        last_message = time.monotonic()
        while pending:
            # consume() waits for all 10,000 or the timeout: keep each wait short.
            batch = consumer.consume(10_000, timeout=0.2)
            if batch:
                last_message = time.monotonic()
            elif time.monotonic() - last_message > timeout:
                raise TimeoutError(f"no messages from {topic} for {timeout:.0f} s")
            for msg in batch:
                if msg.error() is not None or msg.partition() not in pending:
                    continue
                if msg.offset() + 1 >= ends[msg.partition()][1]:
                    pending.discard(msg.partition())
                if msg.offset() < ends[msg.partition()][1]:
                    yield msg
    finally:
        consumer.close()
