"""Thin wrappers over confluent-kafka: client configuration and a publisher that never loses silently."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Iterator
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
    """Common configuration of every confluent-kafka client LEAP creates, TLS and SASL included."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "logger": _librdkafka_log,
        **security_config(settings),
        **extra,
    }


def security_config(settings: Settings) -> dict[str, Any]:
    """librdkafka's settings for the cluster's TLS and SASL (none for PLAINTEXT)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    config: dict[str, Any] = {"security.protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        if settings.kafka_ssl_ca_file:
            config["ssl.ca.location"] = str(settings.kafka_ssl_ca_file)
        if settings.kafka_ssl_cert_file:
            config["ssl.certificate.location"] = str(settings.kafka_ssl_cert_file)
        if settings.kafka_ssl_key_file:
            config["ssl.key.location"] = str(settings.kafka_ssl_key_file)
    if protocol.startswith("SASL_"):
        secret = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
        config["sasl.mechanisms"] = settings.kafka_sasl_mechanism
        if settings.kafka_sasl_mechanism == "OAUTHBEARER":
            config.update({
                "sasl.oauthbearer.method": "oidc",
                "sasl.oauthbearer.client.id": settings.kafka_sasl_username,
                "sasl.oauthbearer.client.secret": secret,
                "sasl.oauthbearer.token.endpoint.url": settings.kafka_oauth_token_url,
            })  # fmt: skip
            if settings.kafka_oauth_scope:
                config["sasl.oauthbearer.scope"] = settings.kafka_oauth_scope
        else:
            config.update({"sasl.username": settings.kafka_sasl_username, "sasl.password": secret})
    return config


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of LEAP's Python (aiokafka) Kafka clients; None unless the cluster uses TLS."""
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(cafile=str(settings.kafka_ssl_ca_file) if settings.kafka_ssl_ca_file else None)
    if settings.kafka_ssl_cert_file:
        context.load_cert_chain(str(settings.kafka_ssl_cert_file), str(settings.kafka_ssl_key_file) if settings.kafka_ssl_key_file else None)
    return context


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

    def _on_delivery(self, err: KafkaError | None, msg: Message, then: Callable[[Message], None] | None = None) -> None:
        if err is not None:
            self._failures.append(f"{msg.topic()} key={msg.key()!r}: {err.str()}")
        else:
            self.delivered += 1
            if then is not None:
                then(msg)

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
        on_delivery: Callable[[Message], None] | None = None,
    ) -> None:
        """Queue one message; blocks (serving delivery reports) while the local queue is full.

        ``on_delivery`` is called with the message once Kafka has it (its partition and offset
        known), from the thread serving the reports (``send`` or ``flush``); a failed message
        is reported as every other one is, not to it.
        """
        extra = {} if partition is None else {"partition": partition}
        report = self._on_delivery if on_delivery is None else (lambda err, msg: self._on_delivery(err, msg, on_delivery))
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers, on_delivery=report, **extra)
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

    def init_transactions(self, timeout: float = 30.0) -> None:
        """Make this a transactional producer (needs ``transactional.id``); fences off an older one with the same id."""
        self._producer.init_transactions(timeout)

    def begin(self) -> None:
        """Start a transaction: what is sent until ``commit`` becomes visible all together, or not at all."""
        self._producer.begin_transaction()

    def commit(self, timeout: float = 60.0) -> None:
        """Commit the transaction (delivering everything in it); ``DeliveryError`` after aborting it when that fails."""
        try:
            self._producer.commit_transaction(timeout)
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is not None and error.retriable():
                try:
                    self._producer.commit_transaction(timeout)
                    return
                except KafkaException:
                    pass
            try:
                self._producer.abort_transaction(timeout)
            except KafkaException:
                pass  # a fenced or fatal producer cannot abort; the broker aborts it on timeout
            raise DeliveryError(f"transaction not committed: {error.str() if error else exc}") from None
        finally:
            self._failures.clear()  # failures inside a transaction are its commit's, reported above

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


def read_to_end(settings: Settings, topic: str, timeout: float = 30.0, **config: Any) -> Iterator[Message]:
    """Every message of ``topic`` from the oldest kept to the end as it was when called.

    For compacted topics read whole (the latest value per key wins when applied in order).
    No consumer group offsets are committed, so reading never hides a message from anyone.
    ``config`` adds consumer settings (``isolation.level="read_committed"`` to see only
    committed transactions). ``TimeoutError`` when the broker stops answering for ``timeout`` seconds.
    """
    consumer = Consumer(client_config(settings, **{"group.id": f"leap-reader-{topic}", "enable.auto.commit": False, "enable.partition.eof": True, **config}))
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
                if msg.partition() not in pending:
                    continue
                error = msg.error()
                if error is not None:
                    # The end of a partition; with read_committed it can come before the high
                    # watermark (open or aborted transactions, their markers).
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(msg.partition())
                    continue
                if msg.offset() < ends[msg.partition()][1]:
                    yield msg
                if msg.offset() + 1 >= ends[msg.partition()][1]:
                    pending.discard(msg.partition())
    finally:
        consumer.close()


class AsyncPublisher:
    """A ``Publisher`` for asyncio servers: ``await send_all(...)`` returns once Kafka acknowledged those messages.

    One thread serves librdkafka's delivery reports and resolves each message's future on the
    event loop, so a request waits for its own messages only (not for everyone's, as a flush
    would). Same producer settings as ``Publisher``: idempotent, acks=all, murmur2 keys.
    """

    def __init__(self, settings: Settings, *, client_id: str = "leap-ingest", timeout: float = 30.0) -> None:
        import threading

        self._publisher = Publisher(settings, client_id=client_id, **{"message.timeout.ms": int(timeout * 1000)})
        self._producer = self._publisher._producer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve_reports, name="kafka-delivery-reports", daemon=True)
        self._thread.start()

    def _serve_reports(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)

    async def send_all(self, messages: list[tuple[str, bytes | None, str]]) -> None:
        """Queue ``(topic, value, key)`` messages and wait for all their acknowledgements; ``DeliveryError`` if any failed."""
        import asyncio

        loop = asyncio.get_running_loop()
        futures = []
        for topic, value, key in messages:
            future: asyncio.Future[None] = loop.create_future()

            def report(err: KafkaError | None, msg: Message, future: asyncio.Future[None] = future) -> None:
                result = None if err is None else DeliveryError(f"{msg.topic()}: {err.str()}")
                loop.call_soon_threadsafe(lambda: future.done() or (future.set_result(None) if result is None else future.set_exception(result)))

            while True:
                try:
                    self._producer.produce(topic, value=value, key=key, on_delivery=report)
                    break
                except BufferError:
                    await asyncio.sleep(0.05)
            futures.append(future)
        await asyncio.gather(*futures)

    def close(self, timeout: float = 30.0) -> None:
        """Deliver what is queued (up to ``timeout`` seconds) and stop the report thread."""
        self._producer.flush(timeout)
        self._stop.set()
        self._thread.join(timeout=5)
