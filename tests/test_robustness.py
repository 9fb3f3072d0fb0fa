"""Bad input and faults: fuzzed loaders/segmentation/chunking/question analysis, SIGKILL mid-ingest, a corrupt index."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from qa.catalog import Catalog, CatalogError
from qa.chunking import chunk_document
from qa.facts import extract_facts
from qa.index import Index
from qa.ingest import ingest_paths
from qa.loaders import LoadError, load_bytes
from qa.query import analyze
from qa.segment import segment
from qa.settings import PROJECT_ROOT

CHINESE = st.text(alphabet=st.sampled_from(list("一二三、()（）。，,;；:：%0123456789年市区县盟旗报告计划内蒙古克拉玛依新乡出庭应诉率达到\n 　")), max_size=400)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=600), CHINESE.map(lambda s: s.encode("utf-8")), CHINESE.map(lambda s: s.encode("gb18030", errors="ignore"))),
       ext=st.sampled_from(["txt", "md", "html", "docx", "pdf"]))
def test_loaders_and_segmentation_never_crash(data, ext):
    try:
        src = load_bytes(data, f"x.{ext}", f"x.{ext}")
    except LoadError:
        return
    for doc, paras in segment(src):
        chunks = chunk_document(doc, paras, src.text)
        for c in chunks:
            assert src.text[c.start : c.end] == c.text
        extract_facts(doc, chunks, src.text)


@settings(max_examples=200, deadline=None)
@given(question=st.one_of(st.text(max_size=200), CHINESE))
def test_question_analysis_never_crashes(question):
    info = analyze(question, [])
    assert info.qtype in {"fact", "which", "compare", "list", "yesno", "number"}


KILLER = r"""
import sys, time
from pathlib import Path
from qa.index import Index
from qa.settings import Settings
import qa.catalog as catalog

settings = Settings(data_dir=Path(sys.argv[1]), embed_cache=Path(sys.argv[2]))
original = catalog.Catalog.replace_source

def slow(self, *args, **kwargs):
    print("VECTORS-WRITTEN", flush=True)
    time.sleep(60)  # killed here: vectors are in Chroma, the catalogue is not yet swapped
    return original(self, *args, **kwargs)

catalog.Catalog.replace_source = slow
from qa.ingest import ingest_paths
ingest_paths(Index(settings), [Path(sys.argv[3])], force=True)
"""


def test_sigkill_mid_ingest_leaves_old_or_new_never_half(make_settings, copy_seeds, tmp_path, embed_cache):
    folder = copy_seeds("000")
    settings = make_settings()
    index = Index(settings)
    ingest_paths(index, [folder])
    before = {c.chunk_id: c.text for c in index.catalog.chunks()}
    path = next(folder.iterdir())
    path.write_text(path.read_text(encoding="utf-8").replace("99.89%", "66.66%"), encoding="utf-8")
    del index

    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    proc = subprocess.Popen([sys.executable, str(script), str(settings.data_dir), str(embed_cache), str(folder)],
                            stdout=subprocess.PIPE, cwd=PROJECT_ROOT, text=True)
    deadline = time.time() + 300
    line = ""
    while time.time() < deadline and "VECTORS-WRITTEN" not in line:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
    assert "VECTORS-WRITTEN" in line
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    index = Index(settings)
    assert {c.chunk_id: c.text for c in index.catalog.chunks()} == before  # the old version, whole
    from qa.retrieval import search

    assert all("66.66%" not in h.chunk.text for h in search(index, "克拉玛依调解成功率", k=10))
    results = ingest_paths(index, [folder])  # re-running finishes the job
    assert [r.status for r in results] == ["updated"]
    assert "66.66%" in search(index, "克拉玛依调解成功率", k=1)[0].chunk.text
    assert index.gc() == 0  # the killed run's vectors were adopted by the new version, nothing left over


def test_corrupt_catalogue_gives_a_clear_error(tmp_path):
    path = tmp_path / "catalog.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CatalogError, match="qa ingest"):
        Catalog(path)
