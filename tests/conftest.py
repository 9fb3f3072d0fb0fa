"""Shared fixtures: a real index of the seeds (real Chroma, real e5 embedding model, real jieba), built once per session.

Embeddings are cached by content hash in one file for the whole session, so the many small indexes the
tests build embed each text once.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from qa.index import Index
from qa.ingest import ingest_paths
from qa.settings import PROJECT_ROOT, Settings

SEEDS = PROJECT_ROOT / "seeds"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def embed_cache(tmp_path_factory) -> Path:
    # A developer's repeated runs reuse vectors; CI starts empty.
    path = Path(os.environ.get("QA_TEST_EMBED_CACHE", tmp_path_factory.mktemp("cache") / "embed_cache.sqlite"))
    return path


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for the session (tests/pgserver.py); skipped with the reason when it cannot start
    outside CI, failed under CI=true."""
    from tests.pgserver import start_or_skip

    server = start_or_skip()
    yield server
    server.stop()


@pytest.fixture
def catalog_backend(request) -> str:
    """"sqlite" (the default) or "postgres": tests parametrised with tests.pgserver.both_backends run on both."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def database_url(catalog_backend, request) -> str | None:
    """None on SQLite; on PostgreSQL a new empty database of the session's server, shared by this test's settings."""
    if catalog_backend == "postgres":
        return request.getfixturevalue("pg_server").new_database()
    return None


@pytest.fixture
def make_settings(tmp_path, embed_cache, database_url):
    def make(**overrides) -> Settings:
        data = overrides.pop("data_dir", tmp_path / f"data{len(list(tmp_path.iterdir()))}")
        overrides.setdefault("database_url", database_url)
        return Settings(data_dir=data, embed_cache=embed_cache, **overrides)

    return make


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory, embed_cache) -> Settings:
    # Many tests share this index's servers from one address: the limiter has tests of its own.
    return Settings(data_dir=tmp_path_factory.mktemp("seedindex"), embed_cache=embed_cache, rate_limit=0)


@pytest.fixture(scope="session")
def seed_index(seed_settings) -> Index:
    index = Index(seed_settings)
    results = ingest_paths(index, [SEEDS])
    assert all(r.status != "failed" for r in results), [r.error for r in results]
    return index


@pytest.fixture
def copy_seeds(tmp_path):
    def copy(*prefixes: str) -> Path:
        folder = tmp_path / "reports"
        folder.mkdir(exist_ok=True)
        for path in SEEDS.glob("*.txt"):
            if not prefixes or path.name[:3] in prefixes:
                shutil.copy(path, folder / path.name)
        return folder

    return copy




def wait_for_port(port: int, proc, seconds: float = 120) -> None:
    """Until a server subprocess accepts connections on 127.0.0.1:port; fails if it exits or takes too long."""
    import socket
    import time

    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}")
            time.sleep(0.3)
    proc.kill()
    pytest.fail(f"server did not listen on {port} within {seconds}s")
