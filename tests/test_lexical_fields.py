"""The retrieval mechanisms for outside documents, on hand-built objects: character bigrams, the bigram and
document BM25 fields and their snapshots, region mentions as whole words, and the NCPQA dev/test split."""
from __future__ import annotations

import numpy as np

from qa.evaluation import ncpqa
from qa.lexical import FIELDS_VERSION, LexicalIndex, char_bigrams
from qa.query import region_mentions


def test_char_bigrams_cover_cjk_runs_and_keep_figures_whole():
    assert char_bigrams("北铃专用汽车") == ["北铃", "铃专", "专用", "用汽", "汽车"]
    # Punctuation ends a run; a one-character run stays; Latin and figures are one token each, lowercased.
    assert char_bigrams("调用1.4万件，APP首页。市") == ["调用", "1.4", "万件", "app", "首页", "市"]
    assert char_bigrams("５０％") == ["50%"]  # NFKC: full-width figures match half-width ones
    assert char_bigrams("，。！") == []


def _index() -> LexicalIndex:
    texts = {"a": "武汉调用防护服", "b": "北京展会补贴政策", "c": "北京中小微企业", "d": "上海交通银行绿色通道"}
    docs = {"a": "d1", "b": "d2", "c": "d2", "d": "d3"}
    ids = list(texts)
    return LexicalIndex(ids, [[t] for t in texts.values()], [char_bigrams(t) for t in texts.values()], [docs[i] for i in ids])


def test_bigram_field_matches_names_jieba_would_split():
    lex = _index()
    scores = lex.bigram_scores("北京的展会有何补贴？")
    assert int(np.argmax(scores)) == lex.position["b"]
    assert scores[lex.position["a"]] == 0


def test_document_field_scores_every_chunk_of_the_document_alike():
    lex = _index()
    scores = lex.parent_scores("北京展会与中小微企业")
    assert scores[lex.position["b"]] == scores[lex.position["c"]] > 0
    assert scores[lex.position["a"]] == scores[lex.position["d"]] == 0


def test_fields_survive_a_snapshot_and_old_snapshots_are_rebuilt(tmp_path):
    lex = _index()
    lex.save(tmp_path, 7)
    again = LexicalIndex.load(tmp_path, 7)
    assert again is not None
    np.testing.assert_allclose(again.bigram_scores("北京展会"), lex.bigram_scores("北京展会"))
    np.testing.assert_allclose(again.parent_scores("北京展会"), lex.parent_scores("北京展会"))
    # A snapshot from before the fields (no "fields" marker) is not trusted: the caller rebuilds it.
    meta = tmp_path / "v7" / "ids.json"
    meta.write_text(meta.read_text().replace(f'"fields": {FIELDS_VERSION}', '"fields": 1'))
    assert LexicalIndex.load(tmp_path, 7) is None


def test_seed_index_built_from_consumed_fields_scores_as_one_built_from_lists(seed_index):
    """Index.lexical builds with LexicalIndex.consume (each input freed once its field is built): the same index."""
    _, fields = seed_index._lexical_fields()
    args = {k: list(v) for k, v in fields.items()}
    built = LexicalIndex(args["ids"], args["tokens"], args["bigrams"], args["parents"], args["passages"])
    consumed = LexicalIndex.consume(fields)
    assert fields == {}
    assert consumed.ids == built.ids and consumed.idf == built.idf and consumed.parent_of == built.parent_of
    assert (consumed.passages == built.passages).all()
    from qa.lexical import tokenize

    for q in ("克拉玛依人民调解成功率", "行政机关负责人出庭应诉率达100%", "下一步 重点工作"):
        np.testing.assert_array_equal(consumed.scores(tokenize(q)), built.scores(tokenize(q)))
        np.testing.assert_array_equal(consumed.bigram_scores(q), built.bigram_scores(q))
        np.testing.assert_array_equal(consumed.parent_scores(q), built.parent_scores(q))


def test_without_bigrams_the_new_fields_score_zero():
    lex = LexicalIndex(["a"], [["武汉"]])
    assert lex.bigram_scores("武汉").tolist() == [0.0] and lex.parent_scores("武汉").tolist() == [0.0]


def names(text: str) -> list[tuple[str, list[str]]]:
    return [(alias, [r.name for r in regions]) for alias, regions in region_mentions(text)]


def test_region_mentions_are_whole_words_in_context():
    assert names("示范县创建情况如何") == []  # not 范县
    assert names("区委和县委的分工") == []  # not 和县
    assert names("范县法治政府建设") == [("范县", ["濮阳市范县"])]
    assert names("和县的报告") == [("和县", ["马鞍山市和县"])]
    assert names("内蒙古和新疆的出庭应诉率") == [("内蒙古", ["内蒙古自治区"]), ("新疆", ["新疆维吾尔自治区"])]


def test_a_region_written_with_its_parent_is_one_region():
    assert names("天津市静海区的法治政府建设") == [("天津市静海区", ["静海区"])]
    assert names("甘肃省平凉市政务服务中心") == [("甘肃省平凉市", ["平凉市"])]
    assert names("呼和浩特市赛罕区") == [("呼和浩特市赛罕区", ["呼和浩特市赛罕区"])]


def test_ncpqa_split_is_a_fixed_disjoint_half():
    rows = [{"id": str(i), "docid": str(i % 7)} for i in range(100)]
    dev, test = ncpqa.split(rows, "dev"), ncpqa.split(rows, "test")
    assert len(dev) == 50 and len(test) == 50
    assert {r["id"] for r in dev}.isdisjoint(r["id"] for r in test)
    assert dev == ncpqa.split(list(reversed(rows)), "dev")[::-1] or {r["id"] for r in dev} == {r["id"] for r in ncpqa.split(rows[::-1], "dev")}
    assert ncpqa.split(rows, "all") == rows


def test_ncpqa_answer_text_rule_counts_a_long_answer_in_any_document_and_a_short_one_only_in_place():
    from qa.evaluation.metrics import ChunkRef

    text = "各地要对受疫情影响较大的困难行业企业，亏损最长结转年限由5年延长至8年。"
    answer = "亏损最长结转年限由5年延长至8年"
    row = {"docid": "gold", "answer": answer, "start": text.index(answer), "end": text.index(answer) + len(answer)}
    repost = ChunkRef("ncpqa/other.txt", "转载：" + text, 0, len(text) + 3)
    assert not ncpqa.credited(row, repost) and ncpqa.holds_answer(row, repost)  # the strict rule wants the gold document
    in_place = ChunkRef("ncpqa/gold.txt", text, 0, len(text))
    assert ncpqa.credited(row, in_place) and ncpqa.holds_answer(row, in_place)
    short = {**row, "answer": "8年", "start": text.index("8年"), "end": text.index("8年") + 2}
    assert not ncpqa.holds_answer(short, repost) and ncpqa.holds_answer(short, in_place)
    assert not ncpqa.holds_answer(row, ChunkRef("ncpqa/other.txt", "亏损结转年限延长", 0, 8))


# ---------------------------------------------------------------- window size by document shape

from qa.chunking import PASSAGE_MAX, chunk_document, is_flat  # noqa: E402
from qa.models import Document  # noqa: E402
from qa.segment import Para  # noqa: E402


def _doc(doc_id="d", region="未知地区", province="", city="", title=None, kind="article", year=None) -> Document:
    from qa.segment import compose_title

    return Document(doc_id=doc_id, source=f"{doc_id}.txt", ord=0, title=title or compose_title(region, year, kind), region=region,
                    province=province, city=city, district="", level="省级" if province else "", year=year, kind=kind,
                    published=None, start=0, end=0)


SENTENCE = "为支持疫情防控工作，对参与防控的一线医务人员给予临时性工作补助。"  # 33 characters


def test_a_block_of_text_without_paragraphs_gets_passages_a_report_gets_windows():
    block = SENTENCE * 30
    flat = chunk_document(_doc(), [Para(block, 0, len(block))], block)
    assert is_flat([Para(block, 0, len(block))])
    assert all(len(c.text) <= PASSAGE_MAX for c in flat) and min(len(c.text) for c in flat[:-1]) >= 300
    # The same text as paragraphs of four sentences: paragraph windows (~120), as before.
    paras, text, pos = [], "", 0
    for i in range(0, 30, 4):
        para = SENTENCE * min(4, 30 - i)
        paras.append(Para(para, pos, pos + len(para)))
        text += para + "\n"
        pos += len(para) + 1
    windows = chunk_document(_doc(), paras, text)
    assert max(len(c.text) for c in windows) <= 220 and len(windows) > len(flat)
    for c in flat + windows:
        assert c.text == (block if c in flat else text)[c.start : c.end]


# ---------------------------------------------------------------- region filters narrow only when certain

from qa.gazetteer import Region  # noqa: E402
from qa.query import QueryInfo, attribution_certain  # noqa: E402
from qa.retrieval import Filters, allowed_docs  # noqa: E402


def test_region_filter_leaves_out_only_documents_certainly_elsewhere():
    beijing = _doc("bj", "北京市", "北京市", title="北京市2020年法治政府建设情况报告")
    shanghai = _doc("sh", "上海市", "上海市", title="上海市2020年法治政府建设情况报告")
    shanghai_names_beijing = _doc("sh2", "上海市", "上海市", title="上海市支援北京市的通知")
    guessed = _doc("xj", "新疆维吾尔自治区", "新疆维吾尔自治区")  # composed title: the region was guessed from the body
    unknown = _doc("u")
    docs = [beijing, shanghai, shanghai_names_beijing, guessed, unknown]
    texts = {"bj": "2020年，北京市坚持依法行政。\n一、主要举措\n正文", "sh": "上海市2020年法治政府建设\n情况报告 正文", "sh2": "上海市支援北京市的通知。",
             "xj": "各省、自治区、直辖市，新疆生产建设兵团：补助标准……", "u": "本市职工医保费率下调。"}
    certain = [attribution_certain(d, texts[d.doc_id]) for d in docs]
    # Lines (a report) or its own title in the text (split over two lines here): read. One block of text: guessed.
    assert certain == [True, True, True, False, False]
    info = QueryInfo("北京市的补贴政策", regions=[Region("北京市")])
    named = {"sh2": frozenset({Region("北京市")}), "sh": frozenset({Region("上海市")}), "xj": frozenset({Region("新疆维吾尔自治区")})}
    mentions = {d.doc_id: (c, named.get(d.doc_id, frozenset())) for d, c in zip(docs, certain)}
    kept = {d.doc_id for d in allowed_docs(docs, Filters(), info, "narrow", mentions)}
    assert kept == {"bj", "sh2", "xj", "u"}
    # Without the text's mentions (answer-side callers), attribution alone decides, as before.
    assert {d.doc_id for d in allowed_docs(docs, Filters(), info)} == {"bj"}
    # "boost"/"off" never narrow; an explicit filter is always strict.
    assert len(allowed_docs(docs, Filters(), info, "boost", mentions)) == len(docs)
    assert {d.doc_id for d in allowed_docs(docs, Filters(region="北京"), info, "narrow", mentions)} == {"bj"}


def test_a_region_without_reports_is_named_while_the_rest_is_answered():
    from qa.answer import note_missing_regions

    both = QueryInfo("克拉玛依市和上海市的调解成功率", regions=[Region("新疆维吾尔自治区", "克拉玛依市")], unknown_regions=["上海市"])
    assert note_missing_regions("克拉玛依市调解成功率98%[1]。", both) == "克拉玛依市调解成功率98%[1]。\n文档中没有找到关于上海市的报告。"
    only_known = QueryInfo("克拉玛依市的调解成功率", regions=[Region("新疆维吾尔自治区", "克拉玛依市")])
    assert note_missing_regions("x[1]。", only_known) == "x[1]。"


def test_an_index_chunked_by_an_older_version_is_rechunked_or_named_for_rebuild(make_settings, copy_seeds, caplog):
    """A chunking change cuts the same files into other chunks; unchanged files must not keep the old cut silently."""
    from qa.chunking import CHUNKING_VERSION
    from qa.index import Index
    from qa.ingest import chunking_stale, ingest_paths

    index = Index(make_settings())
    folder = copy_seeds("004")
    ingest_paths(index, [folder])
    assert index.catalog.meta("chunking") == str(CHUNKING_VERSION) and not chunking_stale(index)
    index.catalog.set_meta("chunking", "1")  # as if written by the previous release
    assert chunking_stale(index)
    results = ingest_paths(index, [folder])
    assert [r.status for r in results] == ["updated"]  # re-read although its bytes are unchanged
    assert not chunking_stale(index)
    # A file outside the paths given (an upload) keeps the old cut: the index stays stale and says `qa rebuild`.
    index.catalog.set_meta("chunking", "1")
    copy_seeds("000")
    with caplog.at_level("WARNING"):
        ingest_paths(index, sorted(folder.glob("000_*")))
    assert chunking_stale(index) and "qa rebuild" in caplog.text


def test_an_unknown_name_is_not_cut_by_jiebas_guesses():
    # jieba's HMM reads 那米|东区; by dictionary words alone 米东区 is whole (not 攀枝花市东区).
    assert names("那米东区呢?") == [("米东区", ["乌鲁木齐市米东区"])]
    assert names("米东2019年") == [("米东", ["乌鲁木齐市米东区"])]


def test_each_kind_of_chunk_has_its_own_weights_summing_to_one(tmp_path):
    from qa.retrieval import weights
    from qa.settings import Settings

    window, passage = weights(Settings(data_dir=tmp_path))
    assert window == [0.6, 0.4, 0.0, 0.0]  # reports' windows: jieba words and dense, as before
    assert abs(sum(passage) - 1) < 1e-9 and passage[0] == 0 and passage[2] > passage[1] > passage[3] > 0
    # Which chunks are passages survives a snapshot; an index without the flag has windows only.
    lex = LexicalIndex(["a", "b"], [["x"], ["y"]], [["北京"], ["上海"]], ["d1", "d2"], [True, False])
    lex.save(tmp_path / "bm25", 3)
    assert LexicalIndex.load(tmp_path / "bm25", 3).passages.tolist() == [True, False]
    assert LexicalIndex(["a"], [["x"]]).passages is None
