"""Producing in the helper process: records go into the client's batches with as little Python
work a record as the client allows, and ``flush`` reads the outcome of every batch.

What confirms a record, in fluvio 0.21 (its Rust client is Fluvio 0.17.3; docs/architecture.md
gives the evidence, from the client's source and from a real cluster):

- ``TopicProducer.flush()`` sends every queued batch and returns once the SPU answered each, but it
  fails only when an answer did not come (connection, timeout) or an earlier send failed. A batch
  the SPU refuses (too large for the topic's segments, partition gone, storage error) comes back as
  an error code that only ``ProduceOutput.wait`` of one of its records reports; every record of a
  batch shares that one outcome, and after the flush ``wait`` returns at once.
- So one ``wait`` per batch is needed after the flush, and enough. The client decides where its
  batches end: when the next record does not fit in ``CLIENT_BATCH_BYTES``, at a flush, or when
  the batch is older than the linger (here ``CLIENT_LINGER_MS``, a day). Each ``send_all`` call
  here carries records that fit together in one batch (``CALL_BYTES``; ``frames.py`` cuts the
  calls on the caller's side) or a single record, and flushes come between calls. So a batch that
  began during a call cannot end during that call before its last record (its records and the
  one that did not fit would all be the call's), and every batch holds the last record of some
  call: waiting on each call's last output reads the outcome of every batch.
- Batches are per partition: a producer for a one-partition topic writes to partition 0
  explicitly (a partition added later gets nothing from it), and on a topic with more partitions
  every output is waited on.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Any

CLIENT_BATCH_BYTES = 65_536  # 4 times the client's default: half the client's and the SPU's CPU a 550-byte record
CLIENT_LINGER_MS = 86_400_000  # a day: a batch is never sent because of its age (see above)
# Bytes the client's encoding adds to a record's key and value: at most 41 (length, attributes,
# timestamp and offset deltas as varints, key and value lengths, header count), rounded up.
RECORD_OVERHEAD = 64
# The largest record (and request) the client sends: the client's default is 1 MiB, less than one
# MQTT message of 300 KB makes as a record; an SPU of Fluvio 0.18 refuses a batch of 33 MB ("the
# message is too large") and stores one of 16 MB. Reads fetch more than this (session.READ_MAX_BYTES)
# so that a record of this size is read back too.
MAX_REQUEST_BYTES = 16 * 1024 * 1024
CALL_MARGIN = 1_024  # a call fills its batch up to this much less (the batch header needs < 100)
# The client's compressions by the names a config gives them (producer.compression).
COMPRESSIONS = {"gzip": "Gzip", "snappy": "Snappy", "lz4": "Lz4", "zstd": "Zstd"}


def call_bytes(batch_bytes: int | None = None) -> int:
    """The most one ``send_all`` call carries for batches of ``batch_bytes`` (the config's
    ``producer.batch-size``; ``CLIENT_BATCH_BYTES`` without one): a call holds records that fit in
    one batch, or a single record."""
    return max(1, (batch_bytes or CLIENT_BATCH_BYTES) - CALL_MARGIN)


CALL_BYTES = call_bytes()


def producer_config(client_module: Any, *, one_partition: bool, batch_bytes: int | None = None,
                    compression: str = "none") -> Any:
    """The client's producer config for the reasoning above: batches of ``batch_bytes`` (the
    client compresses a whole batch with ``compression`` on its way to the SPU)."""
    builder = client_module.TopicProducerConfigBuilder().batch_size(batch_bytes or CLIENT_BATCH_BYTES)
    builder = builder.linger(CLIENT_LINGER_MS).max_request_size(max(MAX_REQUEST_BYTES, batch_bytes or 0))
    if compression != "none":
        builder = builder.compression(getattr(client_module.Compression, COMPRESSIONS[compression]))
    if one_partition:
        builder = builder.set_specific_partitioner(0)
    return builder.build()


class ClientProducer:
    """One open producer: ``send`` queues records, ``flush`` returns the first error (or None).

    ``send_all`` goes through the client's native producer when the client exposes it (fluvio 0.21:
    ``TopicProducer._inner`` and ``_ProducerBatchRecord``): the public wrapper only adds a Python
    object per record on the way in and per result on the way out.
    """

    __slots__ = ("error", "native", "one_partition", "outputs", "producer", "record")

    def __init__(self, producer: Any, record: Any, *, one_partition: bool) -> None:
        self.producer = producer
        native = getattr(producer, "_inner", None)
        self.native = native if record is not None and hasattr(native, "send_all") else None
        self.record = record
        self.one_partition = one_partition
        self.outputs: list[Any] = []  # what the next flush waits on
        self.error: Exception | None = None  # the first send error since the last flush

    def send(self, keys: Sequence[bytes] | None, values: Sequence[bytes], ends: Sequence[int]) -> None:
        """Queue ``values`` (with ``keys``, or an empty key each) in client calls ending at ``ends``;
        an error waits for ``flush``."""
        if self.error is not None:
            return
        key_list = repeat(b"", len(values)) if keys is None else keys
        try:
            if self.native is not None:
                records: list[Any] = list(map(self.record, key_list, values))
                send_all = self.native.send_all
            else:
                records = list(zip(key_list, values, strict=True))
                send_all = self.producer.send_all
            if not self.one_partition:
                self.outputs.extend(send_all(records))
                return
            start = 0
            for end in ends:
                self.outputs.append(send_all(records[start:end])[-1])
                start = end
        except Exception as exc:
            self.error = exc

    def flush(self) -> Exception | None:
        """Send what is queued and read the outcome of every batch: None, or the first error."""
        outputs, self.outputs = self.outputs, []
        error, self.error = self.error, None
        if error is not None:
            return error
        try:
            self.producer.flush()
            for output in outputs:
                output.wait()
        except Exception as exc:
            return exc
        return None
