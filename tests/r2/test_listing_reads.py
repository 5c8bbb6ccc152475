"""R2 listings with a delimiter over common prefixes that hold many keys: the same answer as S3's rules give,
page by page, while reading a few rows per common prefix from the store rather than a page of its keys."""

from __future__ import annotations

import asyncio

import pytest

from kumo.r2.service import R2Service
from kumo.storage.r2_embedded import EmbeddedObjectStore

PREFIXES = [f"logs/{day:02d}/" for day in range(30)]
KEYS = sorted([p + f"{n:03d}.json" for p in PREFIXES for n in range(100)]
              + [f"logs/{day:02d}.summary" for day in range(30)] + ["logs/readme", "top"])


class CountingStore(EmbeddedObjectStore):
    rows = 0

    async def list_objects(self, bucket, prefix, after, limit):
        batch = await super().list_objects(bucket, prefix, after, limit)
        self.rows += len(batch)
        return batch


def expected(prefix: str, delimiter: str) -> list[str]:
    """S3's listing in order: keys under `prefix`, those with `delimiter` after it rolled up."""
    out: list[str] = []
    for key in KEYS:
        if not key.startswith(prefix):
            continue
        at = key.find(delimiter, len(prefix)) if delimiter else -1
        entry = key[:at + len(delimiter)] if at >= 0 else key
        if not out or out[-1] != entry:
            out.append(entry)
    return out


@pytest.fixture(scope="module")
def r2(tmp_path_factory):
    root = tmp_path_factory.mktemp("r2")
    store = CountingStore(root / "r2", root / "r2.sqlite3")
    service = R2Service(store)
    service.start()

    async def fill() -> None:
        await service.create_bucket("acct", "bkt")
        for key in KEYS:
            await service.put_bytes("acct", "bkt", key, b"x")

    asyncio.run(fill())
    yield service, store
    service.close()


def listed(service: R2Service, prefix: str, delimiter: str, page: int) -> list[str]:
    async def walk() -> list[str]:
        seen: list[str] = []
        after = b""
        while True:
            listing = await service.list_objects("acct", "bkt", prefix, delimiter, after, page)
            entries = sorted([o.key for o in listing.objects] + listing.prefixes)
            assert len(entries) <= page
            seen += entries
            if not listing.truncated:
                return seen
            after = listing.next_after

    return asyncio.run(walk())


@pytest.mark.parametrize("prefix", ["", "logs/", "logs/0", "logs/07/", "nothing/"])
@pytest.mark.parametrize("delimiter", ["/", "", "."])
@pytest.mark.parametrize("page", [1, 7, 1000])
def test_listing_follows_s3s_rules(r2, prefix, delimiter, page):
    service, _ = r2
    assert listed(service, prefix, delimiter, page) == expected(prefix, delimiter)


def test_common_prefixes_read_a_few_rows_each(r2):
    service, store = r2
    store.rows = 0
    assert listed(service, "logs/", "/", 1000) == expected("logs/", "/")  # 30 common prefixes, 31 keys
    # the first page's rows, then a few per common prefix (a page of each one's keys: ~25,000 rows)
    assert store.rows <= 1000 + 30 * 32
