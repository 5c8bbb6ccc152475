"""The README's Worker (examples/workers-rag), unmodified, under `kumo workers dev`: notes embedded into
Vectorize, a question answered from the closest ones."""

from __future__ import annotations

import uuid

import httpx

from tests.workers.conftest import HERE, Worker

EXAMPLE = HERE.parent.parent / "examples" / "workers-rag" / "wrangler.jsonc"


def test_rag_worker_from_the_readme(node_tools, server, tmp_path):
    account = "rag-" + uuid.uuid4().hex[:8]
    created = httpx.post(f"{server.url}/client/v4/accounts/{account}/vectorize/v2/indexes",
                         headers={"authorization": "Bearer dev-token"},
                         json={"name": "notes-index", "config": {"dimensions": 384, "metric": "cosine"}})
    assert created.status_code in (200, 201), created.text
    worker = Worker(EXAMPLE, server.url, account, tmp_path / "worker.log")
    try:
        notes = ["kumo serves Workers AI and Vectorize on your own machine.",
                 "Sourdough needs a starter, flour, water and salt."]
        for note in notes:
            stored = httpx.post(f"{worker.url}/notes", json={"text": note}, timeout=60)
            assert stored.status_code == 200 and stored.json()["text"] == note
        answer = httpx.get(worker.url, params={"q": "Where do my Workers AI calls run?"}, timeout=120)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["notes"][0] == notes[0]
        assert isinstance(body["answer"], str) and body["answer"].strip()
    finally:
        worker.stop()
