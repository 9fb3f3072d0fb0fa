"""The load benchmark's own checks, run small: concurrent clients and uploads against a real server process."""
from __future__ import annotations

import pytest

from bench.load import run_load, start_server, verify

pytestmark = pytest.mark.slow


def test_concurrent_queries_and_uploads_lose_nothing(make_settings):
    report = run_load(make_settings(), clients=4, seconds=8, upload_every=2)
    assert report["errors"] == 0, (report["ask"]["first_errors"], report["search"]["first_errors"], report["upload"]["first_errors"])
    assert report["ask"]["ok"] > 0 and report["search"]["ok"] > 0
    assert report["uploads"] >= 2 and report["lost_writes"] == []
    assert report["checks"]["integrity"] == "ok" and report["checks"]["consistent"]
    assert report["checks"]["documents_after"] == report["checks"]["expected_after"]
    assert report["ok"]


def test_verify_notices_a_write_that_never_landed(make_settings, tmp_path):
    import httpx

    settings = make_settings()
    proc, url = start_server(tmp_path / "data", settings, tmp_path / "server.log")
    try:
        before = httpx.get(f"{url}/healthz").json()
        ghost = {"region": "阿勒泰市", "year": 2024, "marker": 4321, "doc_ids": ["never-uploaded"]}
        checks = verify(url, tmp_path / "data", before, [ghost])
        assert checks["lost"] == [ghost] and not checks["consistent"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
