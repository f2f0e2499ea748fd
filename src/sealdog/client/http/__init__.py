"""A typed HTTP client for the Sealdog API (httpx), synchronous and asynchronous, for every
model kind: `score` sends e-mails, `score_inputs` bit rows.

Split the way httpx splits its client:

- `models`: frozen records of what is sent and answered, each value checked on parsing;
- `endpoints`: one place per API route (request spec + answer parser), pure functions;
- `transport`: retry policy, backoff (Retry-After), problem+json -> `ApiError` mapping;
- `batching`: the one batching algorithm of both clients (`BatchPlan`), pure logic;
- `submission`: one scoring run's bookkeeping (local size check, refusals by name,
  `ScoreRun`), pure logic;
- `client`: `SealdogClient` and `AsyncSealdogClient`, thin shells that do the I/O.
"""

from sealdog.client.http.batching import Batch, BatchPlan, split_batches, split_sizes
from sealdog.client.http.client import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_INPUTS_BATCH_SIZE,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_TIMEOUT,
    AsyncSealdogClient,
    SealdogClient,
)
from sealdog.client.http.endpoints import BitRow, Delivery, SealedArtifact, SupportsToBytes
from sealdog.client.http.models import (
    Ciphertexts,
    DirectResult,
    Email,
    EncryptedOutputs,
    InboxAck,
    InboxEntry,
    InboxPage,
    ModelInfo,
    ScoreResult,
)
from sealdog.client.http.submission import (
    DEFAULT_MAX_EMAIL_BYTES,
    OnError,
    Refusal,
    ScoreRun,
)
from sealdog.client.http.transport import RetryPolicy
from sealdog.protocol import Mode, Role

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_INPUTS_BATCH_SIZE",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_EMAIL_BYTES",
    "DEFAULT_TIMEOUT",
    "AsyncSealdogClient",
    "Batch",
    "BatchPlan",
    "BitRow",
    "Ciphertexts",
    "Delivery",
    "DirectResult",
    "Email",
    "EncryptedOutputs",
    "InboxAck",
    "InboxEntry",
    "InboxPage",
    "Mode",
    "ModelInfo",
    "OnError",
    "Refusal",
    "RetryPolicy",
    "Role",
    "ScoreResult",
    "ScoreRun",
    "SealdogClient",
    "SealedArtifact",
    "SupportsToBytes",
    "split_batches",
    "split_sizes",
]
