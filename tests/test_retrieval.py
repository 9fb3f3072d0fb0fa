"""Search: query analysis (aliases, hierarchy, years), filters, per-document mode, and top-5 recall on our own questions."""
from __future__ import annotations

import json

import pytest

from qa.index import Index
from qa.ingest import ingest_paths
from qa.query import analyze
from qa.retrieval import Filters, search
from qa.settings import PROJECT_ROOT

QUESTIONS = [json.loads(line) for line in (PROJECT_ROOT / "tests/data/retrieval.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]


def test_question_set_is_big_enough_and_checked():
    assert len(QUESTIONS) >= 30
    seeds = {p.name[:3]: p.read_text(encoding="utf-8") for p in (PROJECT_ROOT / "seeds").glob("*.txt")}
    for q in QUESTIONS:
        assert q["expect"] in seeds[q["doc"]], q


@pytest.mark.parametrize("item", QUESTIONS, ids=[q["question"] for q in QUESTIONS])
def test_answer_paragraph_is_in_top5(seed_index, item):
    hits = search(seed_index, item["question"], k=5)
    assert len(hits) == 5
    found = [h for h in hits if item["doc"] in h.doc.source and item["expect"] in h.chunk.section + h.chunk.text]
    assert found, [(h.doc.region, h.chunk.text[:40]) for h in hits]


def test_region_aliases_and_hierarchy(seed_index):
    docs = seed_index.catalog.documents()
    assert [r.name for r in analyze("克拉玛依的调解成功率", docs).regions] == ["克拉玛依市"]
    assert [r.name for r in analyze("内蒙古出庭应诉率", docs).regions] == ["内蒙古自治区"]
    assert [r.name for r in analyze("赛罕区一网通办", docs).regions] == ["呼和浩特市赛罕区"]
    assert [r.name for r in analyze("米东2019年", docs).regions] == ["乌鲁木齐市米东区"]
    assert [r.name for r in analyze("兴安的执法人员", docs).regions] == ["兴安盟"]
    for ordinary in ("人力资源社会保障部的通知", "延长春节假期", "公安部交通管理局"):  # 资源县, 延长县, 公安县
        assert analyze(ordinary, docs).unknown_regions == [], ordinary
    info = analyze("上海市2023年的法治政府建设", docs)
    assert info.regions == [] and info.unknown_regions == ["上海市"] and info.years == [2023]
    # A province-level name matches its cities and districts too.
    hits = search(seed_index, "内蒙古 一网通办", k=20)
    assert {h.doc.province for h in hits} == {"内蒙古自治区"}
    assert "呼和浩特市赛罕区" in {h.doc.region for h in hits}


def test_explicit_filters(seed_index):
    hits = search(seed_index, "调解成功率", k=10, filters=Filters(region="新疆"))
    assert hits and {h.doc.region for h in hits} <= {"克拉玛依市", "乌鲁木齐市米东区"}
    hits = search(seed_index, "调解成功率", k=10, filters=Filters(year=2019))
    assert hits and {h.doc.year for h in hits} == {2019}
    hits = search(seed_index, "出庭应诉率", k=10, filters=Filters(kind="plan"))
    assert hits and {h.doc.kind for h in hits} == {"plan"}
    assert search(seed_index, "调解", filters=Filters(region="上海")) == []


def test_per_document_mode_looks_at_every_report(seed_index):
    hits = search(seed_index, "行政机关负责人出庭应诉率", per_doc=1)
    assert len({h.doc.doc_id for h in hits}) == len(seed_index.catalog.documents())
    assert len(hits) == len(seed_index.catalog.documents())


def test_hybrid_scores_are_fused(seed_index):
    hits = search(seed_index, "克拉玛依人民调解成功率", k=5)
    assert all(0 <= h.score <= 1.5 for h in hits)
    assert hits[0].bm25 > 0 and hits[0].dense > 0


def test_all_vectors_matrix_agrees_with_chroma_and_follows_the_catalogue(make_settings, copy_seeds, monkeypatch):
    import qa.index

    index = Index(make_settings())
    folder = copy_seeds("000", "004")
    ingest_paths(index, [folder])
    ids = [c.chunk_id for c in index.catalog.chunks()]
    q = index.embeddings.embed_query("米东区调解成功率")
    from_chroma = index.dense_scores(q, ids)
    monkeypatch.setattr(qa.index, "MATRIX_ABOVE", 0)  # every call goes through the matrix
    from_matrix = index.dense_scores(q, ids)
    assert from_matrix.keys() == from_chroma.keys() == set(ids)
    assert max(abs(from_matrix[c] - from_chroma[c]) for c in ids) < 1e-5

    copy_seeds("002")  # a new file: the next call adds only its chunks
    ingest_paths(index, [folder])
    now = [c.chunk_id for c in index.catalog.chunks()]
    position, matrix = index.vector_matrix()
    assert set(position) == set(now) and matrix.shape[0] == len(now) > len(ids)
    removed = next(d for d in index.catalog.documents() if "柳南" in (d.region or ""))
    index.delete_source(removed.source)
    position, _ = index.vector_matrix()
    assert set(position) == set(ids)
