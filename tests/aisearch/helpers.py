"""Small documents in every format AI Search reads, made here (no fixtures on disk), and SDK shortcuts."""

from __future__ import annotations

import io
import json
import time

import pytest

# for a module whose tests cost LLM time and touch storage as parametrized tests do (see conftest.py)
ON_SQLITE_ONLY = pytest.mark.parametrize("backend_server", ["sqlite"], indirect=True)


def make_pdf(text: str) -> bytes:
    """A one-page PDF whose text layer holds `text` (Helvetica), with a correct cross-reference table."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def make_docx(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def upload(cf, account: str, instance: str, key: str, data: bytes, metadata: dict | None = None,
           namespace: str = "default"):
    file = {"file": (key, data), "wait_for_completion": True}
    if metadata is not None:
        file["metadata"] = json.dumps(metadata)
    return cf.aisearch.namespaces.instances.items.upload(instance, account_id=account, name=namespace, file=file)


def search(cf, account: str, instance: str, query: str, namespace: str = "default", **retrieval):
    return cf.aisearch.namespaces.instances.search(instance, account_id=account, name=namespace, query=query,
                                                   aisearch_options={"retrieval": retrieval})


def wait_for_job(cf, account: str, instance: str, job_id: str, namespace: str = "default", timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = cf.aisearch.namespaces.instances.jobs.get(job_id, account_id=account, name=namespace, id=instance)
        if job.ended_at:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not end in {timeout} s")


def latest_job(cf, account: str, instance: str, namespace: str = "default"):
    jobs = cf.aisearch.namespaces.instances.jobs.list(instance, account_id=account, name=namespace)
    return jobs.result[0]
