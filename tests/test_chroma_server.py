"""Server mode: vectors in a real `chroma run` server on 127.0.0.1, catalogue and BM25 beside the app."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qa.web.testing import free_port
from qa.index import Index, IndexUnavailable
from qa.ingest import ingest_paths
from qa.retrieval import search

from .conftest import wait_for_port


def _chroma_binary() -> str:
    found = Path(sys.executable).parent / "chroma"
    return str(found) if found.exists() else (shutil.which("chroma") or "")


@pytest.fixture
def chroma_server(tmp_path):
    binary = _chroma_binary()
    assert binary, "the chroma CLI ships with the chromadb package"
    port = free_port()
    proc = subprocess.Popen([binary, "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc, 60)
    yield f"http://127.0.0.1:{port}", proc
    proc.terminate()
    proc.wait(timeout=20)


@pytest.mark.server
def test_ingest_and_search_against_a_chroma_server(make_settings, copy_seeds, chroma_server):
    url, proc = chroma_server
    settings = make_settings(chroma_url=url)
    index = Index(settings)
    results = ingest_paths(index, [copy_seeds("000", "004")])
    assert [r.status for r in results] == ["added", "added"]
    assert not (settings.data_dir / "chroma").exists()  # nothing went to the embedded store
    assert index.collection.count() == index.catalog.stats()["chunks"]
    hits = search(index, "米东区调解成功率", k=3)
    assert "调解成功率100%" in hits[0].chunk.text and hits[0].dense > 0

    # A second app process on the same server and catalogue sees the same index.
    other = Index(settings)
    assert search(other, "米东区调解成功率", k=1)[0].chunk.chunk_id == hits[0].chunk.chunk_id

    proc.terminate()
    proc.wait(timeout=20)
    fresh = Index(settings)
    with pytest.raises(IndexUnavailable):
        search(fresh, "米东区调解成功率", k=1)


# ---------------------------------------------------------------- replicas over HTTP

ALTAY = """阿勒泰市2024年法治政府建设情况报告

一、主要工作成效

2024年,阿勒泰市全面推进严格规范公正文明执法,共开展行政执法案卷评查3次,评查案卷126卷。
阿勒泰市深化普法宣传,组织宪法宣传周活动42场。
"""
ADMIN = "admin-replica-key"


def _start_replica(settings, chroma_url: str, tmp_path, name: str):
    import os

    port = free_port()
    env = dict(os.environ, QA_DATA_DIR=str(settings.data_dir), QA_EMBED_CACHE=str(settings.embed_cache), QA_CHROMA_URL=chroma_url,
               QA_ADMIN_KEYS=ADMIN, QA_RATE_LIMIT="0", QA_HOST="127.0.0.1", QA_PORT=str(port))
    log = open(tmp_path / f"{name}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_for_port(port, proc, 180)
    return proc, f"http://127.0.0.1:{port}"


def _restart_chroma(path: Path, port: int):
    proc = subprocess.Popen([_chroma_binary(), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc, 60)
    return proc


@pytest.mark.server
@pytest.mark.slow
def test_two_replicas_share_one_index_and_survive_chroma_restarts(make_settings, copy_seeds, chroma_server, tmp_path):
    import httpx

    url, chroma = chroma_server
    settings = make_settings(chroma_url=url)
    ingest_paths(Index(settings), [copy_seeds("004")])
    a_proc, a = _start_replica(settings, url, tmp_path, "a")
    b_proc, b = _start_replica(settings, url, tmp_path, "b")
    try:
        with httpx.Client(timeout=120, headers={"X-API-Key": ADMIN}) as http:
            def top(base: str, q: str) -> dict:
                r = http.get(f"{base}/api/search", params={"q": q, "k": 3})
                assert r.status_code == 200, r.text
                return r.json()["results"][0]

            assert "阿勒泰" not in top(b, "阿勒泰市行政执法案卷评查")["text"]
            # A write through one replica is seen by the other on its next request (BM25 and vectors alike).
            up = http.post(f"{a}/api/documents", files={"file": ("altay.txt", ALTAY.encode(), "text/plain")})
            assert up.status_code == 201, up.text
            hit = top(b, "阿勒泰市行政执法案卷评查")
            assert "评查案卷126卷" in hit["text"] and hit["dense"] > 0 and hit["bm25"] > 0
            doc_id = up.json()["documents"][0]["doc_id"]
            assert http.delete(f"{b}/api/documents/{doc_id}").status_code == 200
            assert "阿勒泰" not in top(a, "阿勒泰市行政执法案卷评查")["text"]
            health = http.get(f"{a}/healthz").json()
            assert health["vectors"]["consistent"] and health["catalog_version"] == http.get(f"{b}/healthz").json()["catalog_version"]
            # BM25 lives beside the shared catalogue as one immutable snapshot per catalogue version; old ones are pruned.
            assert [p.name for p in settings.lexical_dir.iterdir() if not p.name.startswith(".")] == [f"v{health['catalog_version']}"]

            # The Chroma server goes away: clear 503s, liveness stays up, readiness says not ready.
            chroma.terminate()
            chroma.wait(timeout=20)
            down = http.get(f"{a}/api/search", params={"q": "米东区调解成功率"})
            assert down.status_code == 503 and down.json()["error"] == "index_unavailable"
            assert http.post(f"{b}/api/ask", json={"question": "米东区调解成功率是多少?"}).status_code == 503
            assert http.get(f"{a}/healthz").status_code == 200 and http.get(f"{a}/readyz").status_code == 503

            # It comes back on the same address: both replicas recover without a restart.
            port = int(url.rsplit(":", 1)[1])
            chroma_server_path = tmp_path / "server"
            restarted = _restart_chroma(chroma_server_path, port)
            try:
                for base in (a, b):
                    assert "调解成功率100%" in top(base, "米东区调解成功率")["text"]
                    assert http.get(f"{base}/readyz").status_code == 200
            finally:
                restarted.terminate()
                restarted.wait(timeout=20)
    finally:
        for proc in (a_proc, b_proc):
            proc.terminate()
            proc.wait(timeout=30)


@pytest.mark.server
def test_two_hosts_share_a_postgresql_catalogue_and_a_chroma_server(make_settings, copy_seeds, chroma_server, pg_server, tmp_path):
    """The README's two-host layout: replicas with data folders of their own (nothing shared on disk), one
    PostgreSQL database for the catalogue, one Chroma server for the vectors."""
    from qa.ingest import correct_document

    url, _ = chroma_server
    database = pg_server.new_database()
    a = Index(make_settings(data_dir=tmp_path / "host-a", chroma_url=url, database_url=database))
    b = Index(make_settings(data_dir=tmp_path / "host-b", chroma_url=url, database_url=database))
    folder = copy_seeds("000")
    ingest_paths(a, [folder])
    hit = search(b, "克拉玛依调解成功率", k=1)[0]
    assert "99.89%" in hit.chunk.text and hit.dense > 0  # b's vectors come from the server, its BM25 from the shared tokens

    copy_seeds("004")
    ingest_paths(a, [folder])
    version = b.catalog.version()
    assert "调解成功率100%" in search(b, "米东区调解成功率", k=1)[0].chunk.text
    assert (tmp_path / "host-b" / "bm25" / f"v{version}").is_dir()  # b built this version's BM25 in its own folder

    # A correction made on b reaches a's answers; a's delete reaches b.
    doc = next(d for d in b.catalog.documents() if d.region == "乌鲁木齐市米东区")
    correct_document(b, doc.doc_id, {"year": 2018})
    assert next(d for d in a.catalog.documents() if d.region == "乌鲁木齐市米东区").year == 2018
    assert a.delete_source(doc.source)
    assert {d.region for d in b.catalog.documents()} == {"克拉玛依市"}
    assert all(h.doc.region != "乌鲁木齐市米东区" for h in search(b, "米东区调解成功率", k=5))
