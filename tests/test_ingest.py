"""Documents in: attribution of every seed document, cleaning, formats and encodings, idempotence, failures."""
from __future__ import annotations

import shutil

import pytest

from qa.index import Index
from qa.ingest import ingest_paths, prune
from qa.loaders import LoadError, load_bytes
from qa.retrieval import search
from qa.segment import segment
from tests.pgserver import both_backends


EXPECTED = {
    # (file prefix, region, province, level, year, kind)
    ("000", "克拉玛依市", "新疆维吾尔自治区", "市级", 2024, "report"),
    ("001", "新乡市", "河南省", "市级", 2021, "report"),
    ("002", "柳州市柳南区", "广西壮族自治区", "县区级", 2024, "report"),
    ("003", "内蒙古自治区", "内蒙古自治区", "省级", 2024, "plan"),
    ("003", "内蒙古自治区", "内蒙古自治区", "省级", 2023, "report"),
    ("003", "呼和浩特市赛罕区", "内蒙古自治区", "县区级", 2023, "article"),
    ("003", "巴彦淖尔市", "内蒙古自治区", "市级", 2021, "article"),
    ("003", "乌兰察布市", "内蒙古自治区", "市级", 2023, "article"),
    ("003", "兴安盟", "内蒙古自治区", "市级", 2021, "article"),
    ("003", "呼伦贝尔市", "内蒙古自治区", "市级", 2023, "article"),
    ("004", "乌鲁木齐市米东区", "新疆维吾尔自治区", "县区级", 2019, "report"),
}


def test_every_seed_document_is_attributed(seed_index):
    docs = seed_index.catalog.documents()
    got = {(d.source.split("/")[-1][:3], d.region, d.province, d.level, d.year, d.kind) for d in docs}
    assert got == EXPECTED
    assert len(docs) == 11  # 003 as seven pieces: its 2023 report once, the footer dropped


def test_titles_and_publication_dates(seed_index):
    docs = {(d.source.split("/")[-1][:3], d.region, d.year): d for d in seed_index.catalog.documents()}
    assert docs[("000", "克拉玛依市", 2024)].title == "克拉玛依市2024年法治政府建设情况"  # composed: 000 has no title
    assert docs[("004", "乌鲁木齐市米东区", 2019)].title == "米东区人民政府2019年度法治政府建设情况报告"
    assert docs[("004", "乌鲁木齐市米东区", 2019)].published == "2020-11-03"
    assert docs[("001", "新乡市", 2021)].published == "2022-02-25"


def test_web_chrome_and_repeats_are_not_indexed(seed_index):
    texts = [c.text for c in seed_index.catalog.chunks()]
    joined = "\n".join(texts)
    for chrome in ("当前位置", "索  引  号", "发布机构", "主办单位", "公网安备", "网站标识码", "联系电话", "联合供稿"):
        assert chrome not in joined, chrome
    # The 2023 Inner Mongolia report is printed twice in 003: each of its paragraphs is indexed once.
    assert sum("行政机关负责人出庭应诉率99.74%" in t for t in texts) == 1


def test_chunks_point_back_into_their_source(seed_index):
    for chunk in seed_index.catalog.chunks():
        doc = seed_index.catalog.document(chunk.doc_id)
        source = seed_index.catalog.file_text(doc.source)
        assert source[chunk.start : chunk.end] == chunk.text
        assert doc.start <= chunk.start and chunk.end <= doc.end + 1


def test_section_paths_follow_the_outline(seed_index):
    chunk = next(c for c in seed_index.catalog.chunks() if "成功率99.89%" in c.text)
    assert chunk.section.startswith("二、法治政府建设主要举措及成效 > (五)不断夯实法治建设基础")
    assert chunk.section.endswith("一是全面加强人民调解工作")


@both_backends
def test_reingest_is_idempotent_and_replaces_changed_files(make_settings, copy_seeds):
    folder = copy_seeds("000", "004")
    index = Index(make_settings())
    first = ingest_paths(index, [folder])
    assert [r.status for r in first] == ["added", "added"]
    stats = index.catalog.stats()
    vectors = index.collection.count()
    again = ingest_paths(index, [folder])
    assert [r.status for r in again] == ["unchanged", "unchanged"]
    assert index.catalog.stats()["chunks"] == stats["chunks"] and index.collection.count() == vectors

    path = folder / next(p.name for p in folder.iterdir() if p.name.startswith("000"))
    path.write_text(path.read_text(encoding="utf-8").replace("成功率99.89%", "成功率88.88%"), encoding="utf-8")
    changed = ingest_paths(index, [folder])
    assert [r.status for r in changed] == ["updated", "unchanged"]
    assert changed[0].embedded <= 3  # only the edited windows are embedded again
    texts = "\n".join(c.text for c in index.catalog.chunks())
    assert "88.88%" in texts and "99.89%" not in texts
    assert index.collection.count() == vectors  # the old vectors are gone, not piled up
    top = search(index, "克拉玛依调解成功率", k=3)
    assert "88.88%" in top[0].chunk.text

    path.unlink()
    assert prune(index, [folder]) == [str(path.resolve())]
    assert len(index.catalog.sources()) == 1


@both_backends
def test_failure_mid_ingest_leaves_previous_version(make_settings, copy_seeds, monkeypatch):
    folder = copy_seeds("000")
    index = Index(make_settings())
    ingest_paths(index, [folder])
    before = {c.chunk_id for c in index.catalog.chunks()}
    path = next(folder.iterdir())
    path.write_text(path.read_text(encoding="utf-8").replace("99.89%", "77.77%"), encoding="utf-8")

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(index.catalog, "replace_source", crash)
    with pytest.raises(RuntimeError):
        ingest_paths(index, [folder])
    monkeypatch.undo()
    assert {c.chunk_id for c in index.catalog.chunks()} == before
    hits = search(index, "克拉玛依调解成功率", k=5)
    assert all("77.77%" not in h.chunk.text for h in hits)  # new vectors exist, but readers trust the catalogue
    assert any("99.89%" in h.chunk.text for h in hits)
    assert [r.status for r in ingest_paths(index, [folder])] == ["updated"]  # re-running finishes the job
    assert index.gc() == 0


REPORT = "米东区人民政府2019年度法治政府建设情况报告\n一、2019年法治政府建设情况\n(一)调解工作。2019年全区各级调解组织共调解各类纠纷1842件,调解成功1842件,调解成功率100%。\n"


def test_gbk_utf16_and_bom_text_are_read(tmp_path):
    for encoding, data in {
        "gbk": REPORT.encode("gbk"),
        "gb18030": REPORT.encode("gb18030"),
        "utf-16": REPORT.encode("utf-16"),
        "utf-8-sig": REPORT.encode("utf-8-sig"),
    }.items():
        src = load_bytes(data, "report.txt", f"{encoding}.txt")
        assert "调解成功率100%" in src.text, encoding
        docs = segment(src)
        assert docs[0][0].region == "乌鲁木齐市米东区" and docs[0][0].year == 2019, encoding


HTML = """<html><head><title>柳南区2024年法治政府建设工作情况报告</title><script>var x=1;</script></head><body>
<div class="nav">当前位置: 首页 > 政务公开 > 正文</div>
<div class="meta">索引号: 000-2025 发布机构: 司法局 发布日期: 2025-01-20</div>
<article><h1>中共柳州市柳南区委员会 柳州市柳南区人民政府关于柳南区2024年法治政府建设工作情况报告</h1>
<p>2024年,我区坚持以习近平新时代中国特色社会主义思想为指导,持续推进法治政府各项任务,现将情况报告如下:</p>
<p>一、推进法治政府建设的主要举措和成效</p>
<p>(一)深化改革。我区依申请政务服务事项的全程网上可办率达99.42%,全年累计受理企业诉求1151件、办结1132件,办结率达98.3%。</p>
</article>
<div class="footer">主办单位:柳州市柳南区人民政府 网站标识码:4502040001 桂公网安备 45020402000123号</div>
</body></html>"""


@both_backends
def test_html_page_is_read_without_its_chrome(make_settings, tmp_path):
    path = tmp_path / "liunan.html"
    path.write_text(HTML, encoding="utf-8")
    index = Index(make_settings())
    [result] = ingest_paths(index, [path])
    assert result.status == "added", result.error
    [doc] = index.catalog.documents()
    assert (doc.region, doc.year, doc.kind) == ("柳州市柳南区", 2024, "report")
    text = "\n".join(c.text for c in index.catalog.chunks())
    assert "99.42%" in text
    for chrome in ("当前位置", "主办单位", "公网安备", "var x"):
        assert chrome not in text


def test_docx_is_read(make_settings, tmp_path):
    import docx

    document = docx.Document()
    document.add_paragraph("新乡市人民政府 关于2021年法治政府建设情况的报告")
    document.add_paragraph("2021年,新乡市政府坚持以习近平新时代中国特色社会主义思想为指导。现将工作情况报告如下。")
    document.add_paragraph("一、持续优化营商环境")
    document.add_paragraph("共收集企业问题2482个,已解决2450个,问题解决率为98.7%。")
    path = tmp_path / "xinxiang.docx"
    document.save(path)
    index = Index(make_settings())
    [result] = ingest_paths(index, [path])
    assert result.status == "added", result.error
    [doc] = index.catalog.documents()
    assert (doc.region, doc.year) == ("新乡市", 2021)
    hits = search(index, "新乡企业问题解决率", k=1)
    assert "98.7%" in hits[0].chunk.text and hits[0].chunk.section == "一、持续优化营商环境"


def test_unreadable_files_fail_clearly_and_lose_nothing(make_settings, copy_seeds):
    folder = copy_seeds("002")
    (folder / "photo.txt").write_bytes(bytes(range(256)) * 40)  # binary renamed .txt
    (folder / "empty.txt").write_bytes(b"")
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    index = Index(make_settings())
    results = {r.source.split("/")[-1]: r for r in ingest_paths(index, [folder])}
    assert results[next(n for n in results if n.startswith("002"))].status == "added"
    for name in ("photo.txt", "empty.txt", "broken.docx", "broken.pdf"):
        assert results[name].status == "failed"
        assert results[name].error and name in results[name].error
    assert len(index.catalog.documents()) == 1
    with pytest.raises(LoadError, match="二进制|binary"):
        load_bytes(bytes(range(256)) * 40, "x.txt", "x.txt")


@both_backends
def test_corrections_survive_reingest_and_reach_search(make_settings, copy_seeds):
    from qa.ingest import correct_document, delete_document

    folder = copy_seeds("003")
    index = Index(make_settings())
    ingest_paths(index, [folder])
    docs = {d.region: d for d in index.catalog.documents()}
    fixed = correct_document(index, docs["巴彦淖尔市"].doc_id, {"year": 2023})
    assert fixed.year == 2023 and fixed.doc_id == docs["巴彦淖尔市"].doc_id
    hit = search(index, "巴彦淖尔办事材料平均减少", k=1)[0]
    assert hit.doc.year == 2023 and "2023年" in hit.chunk.embed_text(hit.doc)
    assert [r.status for r in ingest_paths(index, [folder], force=True)] == ["updated"]
    assert index.catalog.document(fixed.doc_id).year == 2023  # kept across a forced re-ingest

    # Deleting one piece of a compilation keeps the others, and it stays deleted.
    assert delete_document(index, docs["兴安盟"].doc_id) == [docs["兴安盟"].doc_id]
    regions = [d.region for d in index.catalog.documents()]
    assert "兴安盟" not in regions and "呼伦贝尔市" in regions and len(regions) == 6
    ingest_paths(index, [folder], force=True)
    assert "兴安盟" not in {d.region for d in index.catalog.documents()}
    assert all(h.doc.region != "兴安盟" for h in search(index, "兴安盟执法人员", k=10))


@both_backends
def test_the_same_report_in_two_files_is_indexed_once(make_settings, copy_seeds):
    folder = copy_seeds("000")
    original = next(folder.iterdir())
    shutil.copy(original, folder / "reposted.txt")  # a reposted notice: same text under another name
    index = Index(make_settings())
    results = ingest_paths(index, [folder])
    assert [r.status for r in results] == ["added", "duplicate"], [r.error for r in results]
    [doc] = index.catalog.documents()
    assert results[1].duplicates[0]["duplicate_of"] == doc.doc_id and results[1].to_dict()["duplicates"]
    assert [r.status for r in ingest_paths(index, [folder])] == ["unchanged", "duplicate"]  # still not indexed


def test_an_older_catalogue_opens_and_gains_the_new_columns(tmp_path):
    import sqlite3

    from qa.catalog import Catalog

    path = tmp_path / "catalog.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE files (source TEXT PRIMARY KEY, sha256 TEXT NOT NULL, format TEXT NOT NULL, text TEXT NOT NULL,
                            ingested_at TEXT NOT NULL DEFAULT (datetime('now')));
        CREATE TABLE documents (doc_id TEXT PRIMARY KEY, source TEXT NOT NULL REFERENCES files(source) ON DELETE CASCADE,
            ord INTEGER, title TEXT, region TEXT, province TEXT, city TEXT, district TEXT, level TEXT,
            year INTEGER, kind TEXT, published TEXT, start INTEGER, end INTEGER);
        INSERT INTO files VALUES ('a.txt', 'x', 'txt', 'text', '2026-01-01');
        INSERT INTO documents VALUES ('d1', 'a.txt', 0, 't', '新乡市', '河南省', '新乡市', '', '市级', 2021, 'report', NULL, 0, 4);
    """)
    db.commit()
    db.close()
    catalog = Catalog(path)
    [doc] = catalog.documents()
    assert (doc.region, doc.department, doc.year_end, doc.attribution, doc.low_confidence()) == ("新乡市", "", None, {}, [])
    assert Catalog(path).document("d1").to_dict()["low_confidence"] == []  # opening again changes nothing
