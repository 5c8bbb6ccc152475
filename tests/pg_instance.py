"""PostgreSQL for tests and benchmarks: a fresh database on the machine's shared server (`PostgresDatabase`),
or a private server for fault tests (`PrivatePostgres`), stopped and started by the test without touching the
shared one (other tests keep using that)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


class PostgresDatabase:
    """A fresh database on the local PostgreSQL (scripts/test-services.sh makes sure it runs, with pgvector),
    dropped on exit."""

    def __init__(self, prefix: str = "kumo_test"):
        self.name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.url = f"postgresql://postgres@127.0.0.1:5432/{self.name}"

    def __enter__(self) -> PostgresDatabase:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *exc) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (scripts/test-services.sh installs PostgreSQL)")
    return found[-1]


def _as_postgres(args: list[str]) -> list[str]:
    # initdb and the server refuse to run as root
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class PrivatePostgres:
    def __init__(self, port: int):
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="kumo-pg-"))
        self.data = self.dir / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(_as_postgres([_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"]),
                       check=True, capture_output=True)

    def start(self) -> None:
        subprocess.run(_as_postgres([
            _bin("pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "start",
            "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
        ]), check=True, capture_output=True)

    def stop(self) -> None:
        subprocess.run(_as_postgres([_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
