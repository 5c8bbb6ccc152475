"""`kumo aisearch create|ingest|sync|search|ask` against a running `kumo serve`, with readable output."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.aisearch.helpers import ON_SQLITE_ONLY

pytestmark = ON_SQLITE_ONLY


def kumo(server, account, *args, timeout=180):
    result = subprocess.run([sys.executable, "-m", "kumo", "aisearch", *args, "--url", server.url, "--account", account],
                            capture_output=True, text=True, timeout=timeout, env={**os.environ, "COLUMNS": "160"})
    return result


def test_cli_round_trip(server, account, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "otters.md").write_text("# Otters\n\nSea otters hold hands while they sleep so they do not drift apart.")
    (folder / "bad.pdf").write_bytes(b"%PDF-1.4 nope")

    created = kumo(server, account, "create", "zoo", "--source", str(folder))
    assert created.returncode == 0, created.stderr
    assert "Created AI Search instance zoo" in created.stdout
    assert "sync finished: 1 indexed, 0 unchanged, 0 deleted, 1 errors" in created.stdout
    assert "bad.pdf: not a readable PDF" in created.stdout

    found = kumo(server, account, "search", "zoo", "why do otters hold hands")
    assert found.returncode == 0, found.stderr
    assert "otters.md" in found.stdout and "drift apart" in found.stdout

    (folder / "otters.md").write_text("# Otters\n\nRiver otters slide down muddy banks for fun.")
    synced = kumo(server, account, "sync", "zoo")
    assert synced.returncode == 0 and "1 indexed, 0 unchanged" in synced.stdout, synced.stdout + synced.stderr

    answer = kumo(server, account, "ask", "zoo", "What do river otters do for fun?", "--max-tokens", "16")
    assert answer.returncode == 0, answer.stderr
    assert "Sources" in answer.stdout and "[1] otters.md" in answer.stdout

    other = tmp_path / "upload"
    other.mkdir()
    (other / "a.txt").write_text("Puffins nest in burrows on sea cliffs.")
    (other / "b.html").write_text("<p>Penguins cannot fly but swim well.</p>")
    (other / "c.exe").write_bytes(b"MZ")
    assert kumo(server, account, "create", "birds").returncode == 0
    ingested = kumo(server, account, "ingest", "birds", str(other), "--metadata", '{"kind": "birds"}')
    assert ingested.returncode == 0, ingested.stderr
    assert "Indexed 2 of 3 files: 2 chunks" in ingested.stdout and "unsupported file type .exe" in ingested.stdout

    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "d.exe").write_bytes(b"MZ")
    nothing = kumo(server, account, "ingest", "birds", str(junk))
    assert nothing.returncode == 1 and "Indexed 0 of 1 files" in nothing.stdout, nothing.stdout + nothing.stderr

    listed = kumo(server, account, "list")
    assert "zoo" in listed.stdout and "birds" in listed.stdout

    missing = kumo(server, account, "search", "nope", "x")
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_cli_indexes_an_r2_bucket(server, account):
    import boto3

    s3 = boto3.client("s3", endpoint_url=f"{server.url}/r2/{account}", aws_access_key_id="dev",
                      aws_secret_access_key="dev", region_name="auto")
    s3.create_bucket(Bucket="handbook")
    s3.put_object(Bucket="handbook", Key="hr/leave.md", Body=b"Parental leave lasts sixteen weeks.")
    s3.put_object(Bucket="handbook", Key="it/vpn.md", Body=b"Connect to the VPN before opening the wiki.")
    created = kumo(server, account, "create", "hr", "--bucket", "handbook", "--prefix", "hr/")
    assert created.returncode == 0, created.stderr
    assert "sync finished: 1 indexed, 0 unchanged, 0 deleted, 0 errors" in created.stdout
    found = kumo(server, account, "search", "hr", "parental leave weeks")
    assert found.returncode == 0 and "hr/leave.md" in found.stdout, found.stdout + found.stderr
