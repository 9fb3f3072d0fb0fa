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
    assert 0 < len(hits) <= 5  # fewer when adjacent windows merged and no other candidate is left (a one-document region)
    # A retrieval unit may be adjacent passages merged (merge_adjacent): its text and every part's heading count.
    found = [h for h in hits if item["doc"] in h.doc.source and item["expect"] in " ".join(c.section for c in h.parts) + h.text]
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
    seed_index_single = seed_index.__class__.__new__(seed_index.__class__)
    seed_index_single.__dict__.update(seed_index.__dict__)
    seed_index_single.settings = seed_index.settings.model_copy(update={"merge_max": 0})
    hits = search(seed_index_single, "克拉玛依人民调解成功率", k=5)  # single chunks: fused scores times boosts
    assert all(0 <= h.score <= 1.5 for h in hits)
    assert hits[0].bm25 > 0 and hits[0].dense > 0
    assert all(h.parts == [h.chunk] and h.text == h.chunk.text for h in hits)


def _hit(doc, ord_, start, end, score, text_of):
    from qa.models import Chunk, Hit

    return Hit(chunk=Chunk(f"c{ord_}", doc.doc_id, ord_, text_of[start:end], f"s{ord_}", start, end), doc=doc, score=score)


def test_adjacent_passages_merge_into_one_unit():
    from qa.models import Document
    from qa.retrieval import merge_adjacent

    text = "甲" * 100 + "乙" * 100 + "丙" * 100 + "丁" * 100 + "戊" * 100
    a = Document("a", "a.txt", 0, "", "", "", "", "", "", None, "notice", None, 0, len(text))
    b = Document("b", "b.txt", 0, "", "", "", "", "", "", None, "notice", None, 0, len(text))
    hits = [_hit(a, 1, 100, 200, 0.9, text), _hit(b, 1, 100, 200, 0.8, text), _hit(a, 0, 0, 100, 0.5, text),
            _hit(a, 3, 300, 400, 0.4, text), _hit(a, 2, 200, 300, 0.1, text)]
    units = merge_adjacent(hits, 1100, 0.5, lambda source: text)
    assert len(units) == 2
    top, other = units
    assert [c.ord for c in top.parts] == [0, 1, 2, 3] and top.chunk.ord == 1  # the best part is the one to cite
    assert top.text == text[:400] and (top.start, top.end) == (0, 400) and top.chunk_ids == ["c0", "c1", "c2", "c3"]
    assert abs(top.score - (0.9 + 0.5 * (0.5 + 0.4 + 0.1))) < 1e-9
    assert other.doc is b and other.parts == [other.chunk] and other.text == text[100:200]
    # A unit never grows past merge_max characters of source; without the source, overlaps are not repeated.
    units = merge_adjacent(hits, 250, 0.0)
    assert [[c.ord for c in u.parts] for u in units] == [[0, 1], [1], [2, 3]]
    assert units[0].score == 0.9 and units[0].text == text[:200]
    overlap = [_hit(a, 0, 0, 150, 0.5, text), _hit(a, 1, 100, 250, 0.6, text)]
    assert merge_adjacent(overlap, 1100, 0.5)[0].text == text[:250]


def test_search_merges_adjacent_windows_and_each_part_stays_citable(seed_index):
    hits = search(seed_index, "克拉玛依2024年人民调解成功率是多少", k=8)
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    merged = [h for h in hits if len(h.parts) > 1]
    for h in merged:
        assert h.chunk in h.parts and len({c.doc_id for c in h.parts}) == 1
        assert [c.ord for c in h.parts] == list(range(h.parts[0].ord, h.parts[-1].ord + 1))
        assert h.end - h.start <= seed_index.settings.merge_max
        assert all(c.text in h.text for c in h.parts)
        assert h.to_dict()["chunk_ids"] == h.chunk_ids


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


def test_dense_search_within_documents_ranks_from_the_matrix_as_chroma_does(seed_index, monkeypatch):
    """A big index ranks the chunks of a few documents exactly from its in-memory matrix instead of a filtered Chroma
    query (100-500 ms at 2,000 reports): on the seeds, where Chroma's filtered search finds them all, the same
    chunks with the same similarities."""
    import qa.index

    docs = seed_index.catalog.documents()
    q = seed_index.embeddings.embed_query("行政机关负责人出庭应诉率")
    for chosen in ([docs[0].doc_id], [d.doc_id for d in docs[:3]], [d.doc_id for d in docs]):
        from_chroma = seed_index.dense_search(q, 20, chosen)
        monkeypatch.setattr(qa.index, "MATRIX_ABOVE", 0)
        from_matrix = seed_index.dense_search(q, 20, chosen)
        given = seed_index.dense_search(q, 20, chosen, [cid for cid, _ in seed_index.chunk_doc_ids(chosen)])
        monkeypatch.undo()
        assert list(from_matrix) == list(given)
        assert set(from_matrix) == set(from_chroma) and len(from_matrix) == min(20, len(seed_index.chunk_doc_ids(chosen)))
        assert max(abs(from_matrix[c] - from_chroma[c]) for c in from_chroma) < 1e-5
        assert list(from_matrix.values()) == sorted(from_matrix.values(), reverse=True)


def test_doc_regions_inverse_names_the_same_documents_as_the_loop(seed_index):
    """DocRegions.naming(regions) is exactly the documents whose text names a place inside one of the regions."""
    from qa.gazetteer import Region

    regions_of = seed_index.doc_regions()
    places = {m for _, named in regions_of.values() for m in named}
    asked = sorted(places, key=lambda r: (r.province, r.city, r.district))
    asked += [Region(r.province) for r in asked] + [Region(r.province, r.city) for r in asked if r.city] + [Region("北京市")]
    for region in asked:
        expected = {d for d, (_, named) in regions_of.items() if any(region.contains(m) for m in named)}
        assert regions_of.naming([region]) == expected, region
    assert regions_of.naming(asked[:3]) == set().union(*(regions_of.naming([r]) for r in asked[:3]))


def test_which_search_over_arrays_kept_per_version_gives_the_same_hits(seed_index, monkeypatch):
    """search(per_doc=n) over every chunk uses arrays kept per catalogue version (Index.chunk_arrays) once the index
    is big; the hits, scores and ranks are those of the per-question lists."""
    import qa.index

    question = "哪些地区行政机关负责人出庭应诉率达100%?"
    lists = [(h.chunk_ids, h.score, h.dense, h.rank) for h in search(seed_index, question, per_doc=2)]
    monkeypatch.setattr(qa.index, "MATRIX_ABOVE", 0)
    assert seed_index.chunk_arrays(seed_index.lexical()) is seed_index.chunk_arrays(seed_index.lexical())  # kept
    arrays = [(h.chunk_ids, h.score, h.dense, h.rank) for h in search(seed_index, question, per_doc=2)]
    assert [a[0] for a in arrays] == [b[0] for b in lists] and [a[3] for a in arrays] == [b[3] for b in lists]
    assert max(abs(a[1] - b[1]) + abs(a[2] - b[2]) for a, b in zip(arrays, lists)) < 1e-6
