"""S3 for tests: a ``moto`` server on 127.0.0.1 and clients for it (one place for the wiring)."""

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

TEST_KEY = "test"
REGION = "us-east-1"


@contextmanager
def running_moto() -> Iterator[str]:
    """A moto S3 server on an ephemeral loopback port; yields its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str, key: str = TEST_KEY) -> Any:
    """A plain boto3 S3 client for the moto server (setup and assertions)."""
    return boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=key,
    )


def bucket_name_for(request: pytest.FixtureRequest) -> str:
    """A valid bucket name unique to the requesting test."""
    return f"b-{hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:20]}"
