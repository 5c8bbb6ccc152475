"""`kumo.Env`: Workers-style bindings in process, for scripts, notebooks and tests (no HTTP).

    with kumo.Env(data_dir=".kumo") as env:
        env.vectorize.create_index("local", "docs", {"dimensions": 384, "metric": "cosine"})
        index = env.VECTORIZE("docs")
        index.upsert([{"id": "a", "values": [...], "metadata": {"lang": "en"}}])
        index.query([...], {"topK": 3, "returnMetadata": "all"})
        env.AI.run("@cf/baai/bge-small-en-v1.5", {"text": ["hello"]})
        images = env.R2("images", create=True)
        images.put("cat.png", png_bytes, {"httpMetadata": {"contentType": "image/png"}})
        images.get("cat.png").arrayBuffer()

It opens the same data directory `kumo serve` uses; do not point both at one directory at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kumo.ai.binding import AiBinding, EventLoopThread
from kumo.config import Settings
from kumo.platform import Platform
from kumo.r2.binding import R2Bucket
from kumo.vectorize.binding import VectorizeBinding

DEFAULT_ACCOUNT = "local"


class Env:
    def __init__(self, data_dir: str | Path | None = None, account_id: str = DEFAULT_ACCOUNT, **settings: Any):
        if data_dir is not None:
            settings["data_dir"] = Path(data_dir)
        self.account_id = account_id
        self.platform = Platform(Settings(**settings))
        self.platform.start()
        self._loop = EventLoopThread()
        self._loop.call(self.platform.start_async())
        self.AI = AiBinding(self.platform.ai, self.platform.batches, account_id, self._loop,
                            self.platform.custom_models)

    @property
    def vectorize(self):
        """The Vectorize service, for what bindings do not do (creating and deleting indexes)."""
        return self.platform.vectorize

    def VECTORIZE(self, index_name: str) -> VectorizeBinding:  # noqa: N802 (Workers binding name)
        return VectorizeBinding(self.platform.vectorize, self.account_id, index_name)

    @property
    def r2(self):
        """The R2 service, for what bindings do not do (creating and deleting buckets)."""
        return self.platform.r2

    def R2(self, bucket: str, create: bool = False) -> R2Bucket:  # noqa: N802 (Workers binding name)
        """The bucket as a Workers R2 binding; `create=True` makes the bucket first if it is missing."""
        if create:
            from kumo.r2.errors import BucketAlreadyOwnedByYou

            try:
                self._loop.call(self.platform.r2.create_bucket(self.account_id, bucket))
            except BucketAlreadyOwnedByYou:
                pass
        return R2Bucket(self.platform.r2, self.account_id, bucket, self._loop)

    def close(self) -> None:
        self._loop.call(self.platform.stop_async())
        self._loop.stop()
        self.platform.close()

    def __enter__(self) -> Env:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
