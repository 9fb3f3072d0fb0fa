"""Server mode: vectors in a real `chroma run` server on 127.0.0.1, catalogue and BM25 beside the app."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qa.index import Index, IndexUnavailable
from qa.ingest import ingest_paths
from qa.retrieval import search

from .conftest import free_port, wait_for_port


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
