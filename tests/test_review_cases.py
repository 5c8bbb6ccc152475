"""Known cases a review of the merged work found (each was a 500 or a wrong answer before its fix)."""

from __future__ import annotations

import pytest

from kumo.errors import KumoError


def test_boost_on_infinite_or_nan_metadata_is_no_boost():
    from kumo.aisearch.boosting import _number

    for value in ("inf", "-inf", "nan", float("inf"), 10**400):
        assert _number("number", value) is None
    assert _number("number", "2.5") == 2.5


@pytest.mark.parametrize("threshold", [["x"], {"a": 1}, 3])
def test_cache_threshold_that_is_not_a_name_is_a_400(threshold):
    from kumo.aisearch.similarity_cache import policy

    with pytest.raises(KumoError) as caught:
        policy({"cache": {"enabled": True, "cache_threshold": threshold}}, {})
    assert caught.value.status == 400


def test_scoring_input_with_a_repeated_column_is_a_400_without_server_paths(tmp_path):
    from kumo.custom_models.scoring.tables import UnreadableDataset, read

    path = tmp_path / "input"
    path.write_text("text,text\na,b\n")
    with pytest.raises(UnreadableDataset, match="more than one column 'text'"):
        read(path, "csv")
    path.write_bytes(b"\x00\x01 not parquet")
    with pytest.raises(UnreadableDataset) as caught:
        read(path, "parquet")
    assert str(tmp_path) not in caught.value.message



def test_a_chunk_whose_worker_keeps_dying_fails_its_job(tmp_path):
    """Each lease that runs out counts as an attempt: a chunk that takes its worker down every time (out of
    memory, say) fails the job instead of being scored forever."""
    from kumo.custom_models.scoring.jobs import ScoringJob
    from kumo.storage.sqlite import SqliteDatabase
    from kumo.storage.sql_scoring import MAX_LOST, SqlScoringStore

    store = SqlScoringStore(SqliteDatabase(tmp_path / "scoring.sqlite3", branch="custom_models"), lease_seconds=-1)
    store.add(ScoringJob("j1", "acct", {"chunk_rows": 10}, "running", 10, 1, "2026-12-04T00:00:00.000Z"))
    for lost in range(MAX_LOST):
        chunk = store.claim_chunk("worker")  # its lease has already run out: the next claim finds it lost
        assert chunk is not None and chunk.attempts == lost
    assert store.claim_chunk("worker") is None
    job = store.job("j1")
    assert job.status == "failed" and f"interrupted {MAX_LOST} times" in job.error
