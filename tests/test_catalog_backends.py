"""The catalogue on both backends: SQLite (the embedded default) and a real PostgreSQL server (tests/pgserver.py).

Same schema, same transactions, same version protocol: documents, chunks, facts, corrections, feedback, snapshots,
replicas sharing one database, and a process killed inside a catalogue transaction.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from qa.catalog import Catalog
from qa.feedback import FeedbackStore
from qa.models import Chunk, Document, Fact, SourceText
from qa.settings import PROJECT_ROOT
from tests.pgserver import both_backends


@pytest.fixture
def target(database_url, tmp_path):
    """What a Catalog opens on this backend: the test's PostgreSQL database, or a SQLite file."""
    return database_url or tmp_path / "catalog.sqlite"


def make_source(name: str, region: str, year: int | None, rate: float, pieces: int = 1):
    """A file of `pieces` documents, each with two chunks and one fact."""
    text = "".join(f"{region}{year}年报告{i}。出庭应诉率{rate}%。调解成功率100%。\n" for i in range(pieces))
    src = SourceText(source=name, text=text, format="txt", sha256=f"sha-{name}-{rate}")
    docs, chunks, tokens, facts = [], [], {}, []
    for i in range(pieces):
        doc_id = f"{name}#{i}"
        docs.append(Document(doc_id=doc_id, source=name, ord=i, title=f"{region}{year}年报告{i}", region=region, province="河南省", city=region,
                             district="", level="市级", year=year, kind="report", published=None, start=0, end=len(text),
                             attribution={"region": "title"}))
        for j, part in enumerate((f"出庭应诉率{rate}%。", "调解成功率100%。")):
            cid = f"{doc_id}:{j}:{rate}"
            chunks.append(Chunk(cid, doc_id, j, part, "一、成效 > (一)", 10 * j, 10 * j + len(part)))
            tokens[cid] = ["出庭", "应诉率", str(rate)]
        facts.append(Fact(doc_id=doc_id, chunk_id=f"{doc_id}:0:{rate}", indicator="出庭应诉率", value=rate, unit="%", raw=f"{rate}%",
                          status="result", sentence=f"出庭应诉率{rate}%。", start=0, end=8, scope="全市", measure="rate", context="出庭"))
    return src, docs, chunks, tokens, facts


@both_backends
def test_documents_chunks_and_facts_are_written_replaced_and_deleted(target, catalog_backend):
    catalog = Catalog(target)
    assert catalog.dialect == catalog_backend
    assert catalog.version() == 0 and catalog.stats() == {"files": 0, "documents": 0, "chunks": 0, "facts": 0, "version": 0}

    catalog.replace_source(*make_source("a.txt", "新乡市", 2021, 99.89, pieces=2), fingerprints={"a.txt#0": "fp0"})
    catalog.replace_source(*make_source("b.txt", "克拉玛依市", None, 97.5))
    assert catalog.version() == 2
    assert catalog.stats() == {"files": 2, "documents": 3, "chunks": 6, "facts": 3, "version": 2}
    doc = catalog.document("a.txt#1")
    assert (doc.region, doc.year, doc.title, doc.end, doc.attribution) == ("新乡市", 2021, "新乡市2021年报告1", len(catalog.file_text("a.txt")), {"region": "title"})
    assert [d.doc_id for d in catalog.documents()] == ["a.txt#0", "a.txt#1", "b.txt#0"]
    assert [c.ord for c in catalog.chunks(doc_id="a.txt#0")] == [0, 1]
    assert catalog.chunks(["b.txt#0:1:97.5", "a.txt#0:0:99.89"])[0].text == "调解成功率100%。"  # in the order asked
    assert {f.value for f in catalog.facts("出庭应诉率")} == {99.89, 97.5}  # exact: a double, not a 4-byte real
    assert [f.fact_id for f in catalog.facts()] == sorted(f.fact_id for f in catalog.facts())
    version, ids, tokens = catalog.chunk_tokens()
    assert version == 2 and ids[:2] == ["a.txt#0:0:99.89", "a.txt#0:1:99.89"] and tokens[0] == ["出庭", "应诉率", "99.89"]  # insertion order
    assert catalog.lexical_rows()[1][0][:2] == ("a.txt#0:0:99.89", "a.txt#0")
    assert catalog.file_sha("a.txt") == "sha-a.txt-99.89" and catalog.sources_with_sha("sha-b.txt-97.5") == ["b.txt"]
    assert catalog.last_update() and catalog.file_format("a.txt") == "txt"
    assert catalog.fingerprints("新乡市", 2021) == [("a.txt#0", "a.txt", "fp0")]
    assert catalog.fingerprints("新乡市", 2021, exclude_source="a.txt") == []
    assert catalog.fingerprints("克拉玛依市", None) == []  # year NULL compares as a value; b.txt has no fingerprint
    assert catalog.chunk_ids_for_source("b.txt") == {"b.txt#0:0:97.5", "b.txt#0:1:97.5"}
    assert catalog.chunk_doc_ids(["b.txt#0"]) == [("b.txt#0:0:97.5", "b.txt#0"), ("b.txt#0:1:97.5", "b.txt#0")]

    # Replacing a file swaps its documents, chunks and facts whole.
    catalog.replace_source(*make_source("a.txt", "新乡市", 2022, 88.8, pieces=1))
    assert catalog.version() == 3 and catalog.stats()["documents"] == 2 and catalog.stats()["facts"] == 2
    assert {f.value for f in catalog.facts()} == {88.8, 97.5} and catalog.document("a.txt#1") is None
    catalog.replace_facts([], ["a.txt#0"])
    assert catalog.version() == 4 and [f.value for f in catalog.facts()] == [97.5]

    # Deleting cascades; deleting what is not there changes nothing, not even the version.
    assert catalog.delete_source("a.txt") is True
    assert catalog.version() == 5 and catalog.stats() == {"files": 1, "documents": 1, "chunks": 2, "facts": 1, "version": 5}
    assert catalog.delete_source("a.txt") is False and catalog.version() == 5

    # A failed transaction leaves nothing behind.
    src, docs, chunks, tokens, facts = make_source("b.txt", "克拉玛依市", None, 96.0)
    with pytest.raises(Exception):  # a fact of a document that does not exist: the foreign key refuses it
        catalog.replace_source(src, docs, chunks, tokens, facts + [dataclasses.replace(facts[0], doc_id="nowhere")])
    assert catalog.version() == 5 and catalog.facts()[0].value == 97.5 and catalog.file_sha("b.txt") == "sha-b.txt-97.5"

    # Opening again (a second process, a restart) changes nothing.
    again = Catalog(target)
    assert again.stats() == catalog.stats() and again.documents() == catalog.documents()


@both_backends
def test_corrections_and_settings_are_upserts_kept_across_reingest(target):
    catalog = Catalog(target)
    catalog.set_meta("embedding_model", "m1")
    catalog.set_meta("embedding_model", "m2")
    assert catalog.meta("embedding_model") == "m2" and catalog.meta("nothing") is None
    catalog.replace_source(*make_source("a.txt", "新乡市", 2021, 99.0, pieces=2))
    catalog.add_correction("a.txt", 0, {"year": 2023})
    catalog.add_correction("a.txt", 0, {"region": "新乡县"})  # merged with the first
    catalog.add_correction("a.txt", 1, {"deleted": True})
    assert sorted(catalog.corrections("a.txt"), key=lambda c: c["ord"]) == [
        {"file": "a.txt", "ord": 0, "year": 2023, "region": "新乡县"}, {"file": "a.txt", "ord": 1, "deleted": True}]
    catalog.replace_source(*make_source("a.txt", "新乡市", 2021, 98.0, pieces=2))  # a re-ingest keeps them
    assert len(catalog.corrections("a.txt")) == 2
    catalog.delete_source("a.txt")  # deleting the file forgets them
    assert catalog.corrections("a.txt") == []
    version = catalog.version()
    catalog.clear()
    assert catalog.version() == version + 1 and catalog.stats()["files"] == 0 and catalog.meta("embedding_model") is None


@both_backends
def test_feedback_is_stored_counted_and_exported(database_url, tmp_path):
    store = FeedbackStore(database_url or tmp_path / "feedback.sqlite")
    first = store.add("👍", "出庭应诉率?", "99.89%[1]", [{"n": 1}], backend="extractive", filters={"year": 2024}, channel="api")
    second = store.add(-1, "=1+1", "refused", comment=" 不对 ")
    assert second == first + 1
    store.set_comment(first, "很好")
    rows = store.all()
    assert [(r["id"], r["rating"], r["comment"]) for r in rows] == [(first, 1, "很好"), (second, -1, "不对")]
    assert rows[0]["citations"] == [{"n": 1}] and rows[0]["filters"] == {"year": 2024} and rows[0]["created_at"].endswith("Z")
    assert store.count() == {"up": 1, "down": 1}
    assert "'=1+1" in store.export("csv") and len(store.export("jsonl").splitlines()) == 2
    again = FeedbackStore(database_url or tmp_path / "feedback.sqlite")  # another replica sees the same rows
    assert again.count() == {"up": 1, "down": 1}


@both_backends
def test_a_snapshot_does_not_see_a_concurrent_commit(target):
    reader = Catalog(target)
    writer = Catalog(target)  # another process or replica
    reader.replace_source(*make_source("a.txt", "新乡市", 2021, 99.0))
    with reader.snapshot():
        before = (reader.version(), [d.doc_id for d in reader.documents()], len(reader.chunks()))
        done = threading.Event()

        def write():
            writer.replace_source(*make_source("b.txt", "克拉玛依市", 2024, 97.0))
            done.set()

        t = threading.Thread(target=write)
        t.start()
        assert done.wait(30), "a writer must not wait for a reader"
        assert writer.version() == before[0] + 1
        with reader.snapshot():  # nested: the same snapshot
            assert (reader.version(), [d.doc_id for d in reader.documents()], len(reader.chunks())) == before
        assert reader.facts() and {f.doc_id for f in reader.facts()} == {"a.txt#0"}
        assert reader.lexical_rows()[0] == before[0]
        t.join()
    assert reader.version() == before[0] + 1 and len(reader.documents()) == 2  # after it, the commit shows


@both_backends
def test_writers_queue_and_every_commit_bumps_the_version_once(target):
    catalogs = [Catalog(target) for _ in range(3)]
    errors = []

    def work(i):
        try:
            for j in range(5):
                catalogs[i].replace_source(*make_source(f"{i}-{j}.txt", "新乡市", 2000 + j, float(i * 10 + j)))
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert all(c.version() == 15 for c in catalogs) and catalogs[0].stats()["documents"] == 15


@both_backends
def test_replicas_sharing_one_database_see_each_others_commits(make_settings, copy_seeds, catalog_backend):
    from qa.index import Index
    from qa.ingest import ingest_paths
    from qa.retrieval import search

    settings = make_settings()
    folder = copy_seeds("000")
    a, b = Index(settings), Index(settings)  # two replicas of one catalogue (and one vector store)
    assert a.catalog.dialect == b.catalog.dialect == catalog_backend
    ingest_paths(a, [folder])
    assert b.catalog.version() == a.catalog.version() > 0
    assert [d.region for d in b.catalog.documents()] == ["克拉玛依市"]
    assert "99.89%" in search(b, "克拉玛依调解成功率", k=1)[0].chunk.text
    version = b.catalog.version()

    copy_seeds("004")  # into the same folder
    ingest_paths(a, [folder])
    assert b.catalog.version() > version  # b's caches (documents, BM25) follow the new version
    assert {d.region for d in b.catalog.documents()} == {"克拉玛依市", "乌鲁木齐市米东区"}
    assert "调解成功率100%" in search(b, "米东区调解成功率", k=1)[0].chunk.text
    assert b.lexical()  # rebuilt for the new version from the shared tokens

    assert b.delete_source(next(s for s in b.catalog.sources() if s.split("/")[-1].startswith("004")))
    assert {d.region for d in a.catalog.documents()} == {"克拉玛依市"}


KILLER = r"""
import sys, time
from qa.catalog import Catalog
import qa.catalog as catalog
from tests.test_catalog_backends import make_source

target = sys.argv[1]
c = Catalog(target)

def stall(db, facts):
    print("INSIDE-TRANSACTION", flush=True)  # documents and chunks are written, the transaction is open
    time.sleep(120)

catalog.Catalog._insert_facts = staticmethod(stall)
c.replace_source(*make_source("b.txt", "克拉玛依市", 2024, 55.5, pieces=3))
"""


@both_backends
def test_a_process_killed_inside_a_catalogue_transaction_leaves_no_half_document(target, tmp_path):
    catalog = Catalog(target)
    catalog.replace_source(*make_source("a.txt", "新乡市", 2021, 99.0))
    before = (catalog.stats(), catalog.documents())
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    proc = subprocess.Popen([sys.executable, str(script), str(target)], stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
                            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")})
    deadline, line = time.time() + 120, ""
    while time.time() < deadline and "INSIDE-TRANSACTION" not in line:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
    assert "INSIDE-TRANSACTION" in line
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    reopened = Catalog(target)
    assert (reopened.stats(), reopened.documents()) == before  # nothing of b.txt: no file, documents or chunks
    assert catalog.chunks(doc_id="b.txt#0") == [] and catalog.file_text("b.txt") is None
    reopened.replace_source(*make_source("b.txt", "克拉玛依市", 2024, 55.5, pieces=3))  # the write lock was released
    assert catalog.stats()["documents"] == 4 and catalog.version() == before[0]["version"] + 1


def test_the_api_answers_503_while_the_database_is_down_and_recovers(make_settings, copy_seeds, embed_cache, tmp_path):
    """Over real HTTP: a replica whose PostgreSQL goes away answers a JSON 503 (not a 500), and serves again when
    the server is back, without a restart."""
    import httpx

    from qa.index import Index
    from qa.ingest import ingest_paths
    from qa.web import ServerThread, create_app
    from tests.pgserver import start_or_skip

    server = start_or_skip()  # a server of its own: this test stops it
    try:
        url = server.new_database()
        settings = make_settings(database_url=url, rate_limit=0)
        index = Index(settings)
        ingest_paths(index, [copy_seeds("000")])
        question = {"question": "克拉玛依市调解成功率是多少?"}
        with ServerThread(create_app(settings, index, with_ui=False)) as srv, httpx.Client(base_url=srv.url, timeout=120) as c:
            ok = c.post("/api/ask", json=question)
            assert ok.status_code == 200 and "99.89%" in ok.json()["answer"]
            server.pause()
            for path in ("/api/ask", "/api/documents", "/healthz"):
                down = c.post(path, json=question) if path == "/api/ask" else c.get(path)
                assert down.status_code == 503, (path, down.status_code, down.text)
                body = down.json()
                assert body["error"] == "index_unavailable" and "目录数据库不可用" in body["message"], body
                assert "Traceback" not in down.text
            down = c.post("/api/feedback", json={"rating": 1, "question": "q", "answer": "a"})
            assert down.status_code == 503 and down.json()["error"] == "index_unavailable"
            server.resume()
            again = c.post("/api/ask", json=question)
            assert again.status_code == 200 and "99.89%" in again.json()["answer"]
            assert c.get("/api/documents").status_code == 200
    finally:
        server.stop()
