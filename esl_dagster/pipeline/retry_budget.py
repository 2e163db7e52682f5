"""Where each external call is retried, and the most requests one call can send.

One retry layer per call:

- **the client** retries what it can retry safely and fast: 429 after the server's
  ``Retry-After``, 5xx/timeouts/dropped connections with capped exponential backoff (Notion,
  ElevenLabs: ``*_MAX_RETRIES``; S3: botocore's standard mode, ``S3_TOTAL_ATTEMPTS``). When it
  gives up, its error is marked ``retried`` and the op fails at once;
- **the op's RetryPolicy** (``OP_MAX_RETRIES``) retries only transient faults no client retried:
  the remote config provider (one request per call), a Notion write whose outcome is ambiguous and
  that has no recovery, a client configured with no retries, the launch ledger. A crashed run
  process is the relaunch sensor's business, not a retry.

So a call sends at most ``max(client attempts, op attempts)`` requests, never their product:

| service | client attempts | op attempts after the client gave up | worst case per call (defaults) |
| --- | --- | --- | --- |
| Notion | ``NOTION_MAX_RETRIES`` + 1 = 5 | 1 | 5 |
| ElevenLabs | ``ELEVENLABS_MAX_RETRIES`` + 1 = 5 | 1 | 5 |
| S3 (uploads, manifests, lesson sources) | ``S3_TOTAL_ATTEMPTS`` = 3 | 1 | 3 |
| remote config | 1 | ``OP_MAX_RETRIES`` + 1 = 5 | 5 |
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the code location imports this module: it stays free of the settings models
    from esl_dagster.pipeline.settings import Settings

OP_MAX_RETRIES = 4
OP_ATTEMPTS = OP_MAX_RETRIES + 1
S3_TOTAL_ATTEMPTS = 3


def worst_case_requests(settings: "Settings") -> dict[str, int]:
    """The most requests one external call can send with ``settings``, by service."""
    return {
        "notion": max(settings.notion.max_retries + 1, OP_ATTEMPTS),
        "elevenlabs": max(settings.speech.max_retries + 1, OP_ATTEMPTS),
        "s3": S3_TOTAL_ATTEMPTS,
        "config": OP_ATTEMPTS,
    }
