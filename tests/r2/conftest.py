"""A `kumo serve` with API tokens (so SigV4 is verified for real) and S3 clients made the way R2's docs and
the guide make them: Access Key ID = the token's id, Secret Access Key = SHA-256 of the token's value."""

from __future__ import annotations

import json
import uuid

import pytest

from kumo.r2.credentials import s3_credentials
from tests.conftest import Server

TOKEN = "r2-test-token-0123456789"
LIMITED = "r2-limited-token-abcdef"  # limited to the account "limited-acct"
LIMITED_ACCOUNT = "limited-acct"
READER = "r2-read-only-token-123"  # r2_read_only
ONE_BUCKET = "r2-one-bucket-token-456"  # r2_buckets = ["shared-data"]


@pytest.fixture(scope="session")
def r2_server(tmp_path_factory):
    tokens = [{"token": TOKEN}, {"token": LIMITED, "accounts": [LIMITED_ACCOUNT]},
              {"token": READER, "r2_read_only": True}, {"token": ONE_BUCKET, "r2_buckets": ["shared-data"]}]
    srv = Server(tmp_path_factory.mktemp("r2") / "data", env={"KUMO_API_TOKENS": json.dumps(tokens)}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    """One SeaweedFS for the session's engine-backend tests (each uses its own engine bucket or database)."""
    from tests.r2.seaweed import SeaweedFS

    engine = SeaweedFS(tmp_path_factory.mktemp("seaweedfs")).start()
    yield engine
    engine.stop()


@pytest.fixture
def r2_account() -> str:
    return "acct" + uuid.uuid4().hex[:12]


def s3_client(url: str, account: str, token: str = TOKEN, **config):
    import boto3
    from botocore.config import Config

    key_id, secret = s3_credentials(token)
    return boto3.client("s3", endpoint_url=f"{url}/r2/{account}", aws_access_key_id=key_id,
                        aws_secret_access_key=secret, region_name="auto",
                        config=Config(**{"retries": {"max_attempts": 1}, **config}))


@pytest.fixture
def s3(r2_server, r2_account):
    return s3_client(r2_server.url, r2_account)


@pytest.fixture
def bucket(s3) -> str:
    name = "bkt-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=name)
    return name
