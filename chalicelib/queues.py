"""Queue and blob-store clients (SQS and S3 on boto3 clients; the local hub points the same
clients at the embedded server)."""

from __future__ import annotations

import json
import threading
from typing import Any, Protocol

SQS_BATCH_MAX = 10
SQS_MESSAGE_MAX_BYTES = 256 * 1024


class Queue(Protocol):
    def send(self, message: dict[str, Any]) -> None: ...
    def send_many(self, messages: list[dict[str, Any]]) -> None: ...
    def retry_later(self, receipt_handle: str, seconds: float) -> None: ...


class BlobStore(Protocol):
    """Raw deliveries too big for a queue message: S3 on AWS, files locally (store/blobs.py)."""

    def put(self, key: str, data: bytes) -> str: ...
    def get(self, ref: str) -> bytes: ...
    def delete(self, ref: str) -> None: ...


class QueueSendError(Exception):
    """SQS refused some messages of a batch."""


class SqsQueue:
    """An SQS queue by name; the URL is looked up once (or given, to save the call)."""

    def __init__(self, client: Any, name: str, url: str | None = None):
        self._sqs = client
        self.name = name
        self._url = url
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        if self._url is None:
            with self._lock:
                if self._url is None:
                    self._url = self._sqs.get_queue_url(QueueName=self.name)["QueueUrl"]
        return self._url

    def send(self, message: dict[str, Any]) -> None:
        self._sqs.send_message(QueueUrl=self.url, MessageBody=json.dumps(message, separators=(",", ":")))

    def send_many(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), SQS_BATCH_MAX):
            chunk = messages[start : start + SQS_BATCH_MAX]
            reply = self._sqs.send_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(i), "MessageBody": json.dumps(m, separators=(",", ":"))}
                    for i, m in enumerate(chunk)
                ],
            )
            if reply.get("Failed"):
                raise QueueSendError(
                    f"{len(reply['Failed'])} of {len(chunk)} messages refused by {self.name}"
                )

    def retry_later(self, receipt_handle: str, seconds: float) -> None:
        """Make a received message visible again after `seconds` (SQS allows up to 12 hours)."""
        self._sqs.change_message_visibility(
            QueueUrl=self.url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(1, min(43200, int(seconds + 0.999))),
        )


class S3Blobs:
    """Raw deliveries too big for a queue message (the claim-check pattern)."""

    def __init__(self, client: Any, bucket: str):
        self._s3 = client
        self.bucket = bucket

    def put(self, key: str, data: bytes) -> str:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        return f"s3://{self.bucket}/{key}"

    def get(self, ref: str) -> bytes:
        bucket, _, key = ref.removeprefix("s3://").partition("/")
        return self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def delete(self, ref: str) -> None:
        """Erase a stored delivery (privacy erasure); deleting a missing key is not an error."""
        bucket, _, key = ref.removeprefix("s3://").partition("/")
        self._s3.delete_object(Bucket=bucket, Key=key)
