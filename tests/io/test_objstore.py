"""The work-state object stores behave alike on S3 (moto's server) and GCS (fake-gcs-server): the
conditional puts the lease relies on, versioned reads, listing under a prefix, deletes."""

from __future__ import annotations

import pickle

import pytest

from curate.io.objstore import GCSStore, PreconditionFailed, S3Store, open_store
from curate.io.storage import StorageError


def test_conditional_puts_and_versions(bucket, tmp_path):
    store = open_store(f"{bucket}/run")
    assert isinstance(store, S3Store if bucket.startswith("s3://") else GCSStore)
    v1 = store.put_bytes("_work/.lease", b"one", if_absent=True)
    with pytest.raises(PreconditionFailed, match=r"_work/\.lease: write: precondition failed"):
        store.put_bytes("_work/.lease", b"two", if_absent=True)  # a second driver's create
    v2 = store.put_bytes("_work/.lease", b"three", if_match=v1)  # renewal by the owner
    assert v2 != v1 and store.get_bytes("_work/.lease") == (b"three", v2)
    with pytest.raises(PreconditionFailed):
        store.put_bytes("_work/.lease", b"four", if_match=v1)  # a stale owner cannot renew
    assert store.get_bytes("_work/.lease")[0] == b"three"

    src = tmp_path / "shard.parquet"
    src.write_bytes(bytes(range(256)) * 1000)
    v = store.upload(src, "data/web/shard.parquet")
    listing = store.list()
    assert sorted(listing) == ["_work/.lease", "data/web/shard.parquet"]
    assert listing["data/web/shard.parquet"].etag == v and listing["data/web/shard.parquet"].size == 256_000
    assert sorted(store.list("data/")) == ["data/web/shard.parquet"]
    store.download("data/web/shard.parquet", tmp_path / "back", etag=v)
    assert (tmp_path / "back").read_bytes() == src.read_bytes()
    store.put_bytes("data/web/shard.parquet", b"newer")
    with pytest.raises(PreconditionFailed):  # the version a cache was keyed by is gone
        store.download("data/web/shard.parquet", tmp_path / "stale", etag=v)
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        store.get_bytes("nothing-here")

    again = pickle.loads(pickle.dumps(store))  # what a worker process receives
    assert again.uri == store.uri and sorted(again.list()) == sorted(listing)
    store.delete(["data/web/shard.parquet", "never-written"])
    assert sorted(store.list()) == ["_work/.lease"]
    store.delete_all()
    assert store.list() == {}


def test_store_prefixes_do_not_leak(bucket):
    a, b = open_store(f"{bucket}/a"), open_store(f"{bucket}/ab")
    a.put_bytes("x", b"1")
    b.put_bytes("x", b"2")
    assert sorted(a.list()) == ["x"] and a.get_bytes("x")[0] == b"1"
    a.delete_all()
    assert b.get_bytes("x")[0] == b"2"


@pytest.mark.parametrize("uri", ["hdfs://h/w", "az://c/w", "file:///tmp/w"])
def test_unbuilt_schemes_are_refused_by_name(uri):
    scheme = uri.split(":")[0]
    with pytest.raises(StorageError, match=rf"{scheme}://.*supports s3://, gs://"):
        open_store(uri)


def test_missing_bucket_is_named(bucket):
    scheme = bucket.split(":")[0]
    store = open_store(f"{scheme}://no-such-bucket-here/w")
    with pytest.raises(StorageError, match="no-such-bucket-here") as e:
        store.put_bytes(".lease", b"{}", if_absent=True)
    assert not isinstance(e.value, FileNotFoundError)  # not "no such object": the bucket is missing
