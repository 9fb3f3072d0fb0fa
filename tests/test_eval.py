"""Evaluation: gold file checks, metric unit tests (each with a case that must fail), real metrics on the real
seed index, the CI floors gate on the full gold set, the HTML report, the baseline and the NCPQA runner."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qa.evaluation import metrics as M
from qa.evaluation.gold import GoldError, load_gold, parse_gold, resolve_evidence
from qa.settings import PROJECT_ROOT

GOLD = PROJECT_ROOT / "eval" / "gold.jsonl"
FLOORS = PROJECT_ROOT / "eval" / "floors.json"
CHECKER = PROJECT_ROOT / "eval" / "check_gold.py"
SEEDS = PROJECT_ROOT / "seeds"


def seed_texts() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))}


def line(**kw) -> str:
    item = {"id": "x1", "question": "问题?", "type": "fact", "answer": "答案5件。", "key_facts": ["5件"],
            "evidence": [{"doc": "000", "quote": "受理人民调解案件5360件"}], "regions": ["克拉玛依市"]}
    item.update(kw)
    return json.dumps(item, ensure_ascii=False)


# ================================================================ the gold file

def test_gold_file_passes_the_standalone_checker():
    out = subprocess.run([sys.executable, str(CHECKER), str(GOLD)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK: all checks passed" in out.stdout


def test_standalone_checker_fails_a_broken_file(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([
        line(id="b1", evidence=[{"doc": "000", "quote": "这句话根本不在任何报告里出现过"}]),
        line(id="b2", key_facts=["9999件"]),
        line(id="b2"),
    ]) + "\n", encoding="utf-8")
    out = subprocess.run([sys.executable, str(CHECKER), str(bad)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "not an exact substring" in out.stdout
    assert "key fact '9999件' not found" in out.stdout
    assert "duplicated" in out.stdout


def test_standalone_checker_knows_tags_premises_and_metadata(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([
        line(id="t1", tags=["section", "opinion"]),
        line(id="t2", type="true_premise", answer="对,5件。"),
        line(id="t3", type="false_premise", tags=["premise"]),
        line(id="t4", type="metadata", tags=["metadata"]),
        line(id="t5", type="true_premise", tags=["premise"], answer="是的,5件。", key_facts=["是的", "5件"]),
    ]) + "\n", encoding="utf-8")
    out = subprocess.run([sys.executable, str(CHECKER), str(bad)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "tags ['opinion'] not in" in out.stdout
    assert "true_premise answer starts with '是的'" in out.stdout
    assert "'不是' among its key_facts" in out.stdout
    assert "(t4) evidence[0]: a metadata quote" in out.stdout
    assert "(t5)" not in out.stdout


def test_dev_set_passes_the_checker_over_the_dev_documents():
    dev = PROJECT_ROOT / "eval" / "dev.jsonl"
    docs = PROJECT_ROOT / "tests" / "data" / "docs" / "dev"
    out = subprocess.run([sys.executable, str(CHECKER), str(dev), "--docs", str(docs)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    gold_questions = {i.question for i in load_gold(GOLD)}
    dev_items = load_gold(dev)
    assert len(dev_items) >= 25 and not gold_questions & {i.question for i in dev_items}


def test_every_quote_is_an_exact_substring_and_every_key_fact_is_grounded():
    texts = seed_texts()
    items = load_gold(GOLD)
    assert len(items) >= 80
    for item in items:
        quotes = []
        for ev in item.evidence:
            names = [n for n in texts if n.startswith(ev.doc)]
            assert len(names) == 1, (item.id, ev.doc)
            assert ev.quote in texts[names[0]], (item.id, ev.quote)
            quotes.append(ev.quote)
        for fact in item.key_facts:
            assert any(fact in h for h in quotes + [item.answer]), (item.id, fact)


def test_gold_mix_is_close_to_the_plan():
    counts: dict[str, int] = {}
    for item in load_gold(GOLD):
        counts[item.type] = counts.get(item.type, 0) + 1
    plan = {"fact": 35, "list": 19, "multi_doc": 25, "attribution": 15, "temporal": 12, "unanswerable": 15, "false_premise": 10,
            "true_premise": 4, "metadata": 4}
    for t, n in plan.items():
        assert abs(counts.get(t, 0) - n) <= 3, (t, counts.get(t, 0))


def test_loader_reports_every_problem_with_its_line():
    lines = [
        "{not json",
        line(id="a", type="opinion"),
        line(id="a"),
        json.dumps({"id": "c", "question": "q"}),
        line(id="d", type="unanswerable"),
        line(id="e", evidence=[{"doc": "000"}]),
    ]
    with pytest.raises(GoldError) as err:
        parse_gold(lines, "mine.jsonl")
    text = str(err.value)
    assert "line 1: not valid JSON" in text
    assert "type 'opinion' is not one of" in text
    assert "id 'a' already used on line 2" in text
    assert "missing field 'answer'" in text
    assert "unanswerable item has empty key_facts and evidence" in text
    assert "evidence[0] must be" in text
    assert len(err.value.problems) == 10  # line 4 misses five fields, each named


def test_resolve_evidence_names_missing_docs_and_quotes():
    items = parse_gold([line(id="a", evidence=[{"doc": "9", "quote": "任何一句话都可以"}]),
                        line(id="b", evidence=[{"doc": "000", "quote": "不在报告里的句子啊啊"}])])
    texts = {"seeds/000_a.txt": "受理人民调解案件5360件", "seeds/001_b.txt": "别的"}
    with pytest.raises(GoldError) as err:
        resolve_evidence(items, list(texts), texts.get)
    assert "doc '9' matches 0 indexed files" in str(err.value)
    assert "quote is not an exact substring of seeds/000_a.txt" in str(err.value)
    ok = parse_gold([line()])
    resolve_evidence(ok, list(texts), texts.get)
    assert (ok[0].evidence[0].source, ok[0].evidence[0].start, ok[0].evidence[0].end) == ("seeds/000_a.txt", 0, 13)


# ================================================================ metrics, hand-made cases

def chunk(text, start=0, source="a.txt", meta=""):
    return M.ChunkRef(source, text, start, start + len(text), meta=meta)


def test_quote_in_chunk():
    q = M.QuoteRef("a.txt", "0123456789", 100, 110)
    assert M.quote_in_chunk(q, chunk("xx0123456789yy", 98))  # substring
    assert M.quote_in_chunk(q, chunk("abcdef", 104))  # 6 of 10 characters inside the span
    assert not M.quote_in_chunk(q, chunk("abcde", 105))  # only 5 of 10: fails
    assert not M.quote_in_chunk(q, chunk("xx0123456789yy", 98, source="b.txt"))  # another document: fails
    long = M.QuoteRef("a.txt", "x" * 100, 0, 100)
    assert not M.quote_in_chunk(long, chunk("y" * 30, 10))
    assert M.quote_in_chunk(long, chunk("y" * 30, 10), long_spans=True)  # NCPQA: a short chunk inside a long answer


def test_retrieval_score_recall_all_evidence_and_rr():
    q1, q2 = M.QuoteRef("a.txt", "甲乙丙丁", 0, 4), M.QuoteRef("b.txt", "戊己庚辛", 0, 4)
    chunks = [chunk("无关", 50), chunk("甲乙丙丁。", 0), chunk("戊己庚辛", 0, "c.txt")]
    r = M.retrieval_score([q1, q2], chunks, k=3)
    assert (r.recall, r.all_found, r.rr, r.found) == (0.5, False, 0.5, [True, False])
    r = M.retrieval_score([q1], chunks, k=1)  # the holding chunk is ranked 2nd: outside the top 1
    assert (r.recall, r.rr) == (0.0, 0.0)
    r = M.retrieval_score([q1, q2], chunks + [chunk("戊己庚辛", 0, "b.txt")], k=4)
    assert r.all_found and r.recall == 1.0


def test_key_facts_normalise_width_and_spaces():
    answer = "受理案件５３６０件，成功率 99.89％[1]。"
    assert M.key_facts_found(answer, ["5360件", "99.89%", "5354件"]) == ["5360件", "99.89%"]
    s = M.answer_score("fact", ["5360件", "99.89%", "5354件"], answer, refused=False)
    assert s.key_fact_recall == pytest.approx(2 / 3) and s.missing == ["5354件"] and not s.correct


def test_answer_score_refusals():
    assert M.answer_score("unanswerable", [], "文档中没有找到。", refused=True).correct
    assert not M.answer_score("unanswerable", [], "克拉玛依市:100%[1]", refused=False).correct
    refused = M.answer_score("fact", ["5360件"], "文档中没有5360件", refused=True)  # a refusal earns no key facts
    assert refused.key_fact_recall == 0 and not refused.correct
    fixed = M.answer_score("false_premise", ["第40名"], "问题中的说法与报告不符,报告原文为:位列第40名[1]", refused=False)
    assert fixed.correct


SOURCE = "全市共受理人民调解案件5360件,调解成功5354件,成功率99.89%,将大批矛盾纠纷实质化解在诉讼之前。"


def test_faithfulness_supported_and_unsupported_sentences():
    cites = {1: chunk(SOURCE, meta="克拉玛依市 2024年 工作报告")}
    verdicts = M.faithfulness(
        "克拉玛依市(2024年工作报告):受理人民调解案件5360件,成功率99.89%。[1]\n"
        "受理人民调解案件5361件,成功率99.89%。[1]\n"  # a number the source does not have
        "乌鲁木齐市受理人民调解案件5360件。[1]\n"  # a region the source does not name
        "调解工作取得了明显的成效和长足的进步。[1]\n"  # no numbers, but not what the chunk says
        "受理人民调解案件5360件。\n"  # no citation
        "受理人民调解案件5360件。[7]\n"  # cites nothing that exists
        "文档中没有找到新乡的相关内容。",  # a statement of absence needs no citation
        cites,
    )
    assert [v.supported for v in verdicts] == [True, False, False, False, False, False, True]
    assert "number 5361" in verdicts[1].reason
    assert "乌鲁木齐" in verdicts[2].reason
    assert "bigram overlap" in verdicts[3].reason
    assert verdicts[4].reason == "no citation"


def test_bigram_overlap_threshold_is_the_calibrated_one():
    assert M.SUPPORT_THRESHOLD == 0.45  # docs/eval.md explains the calibration; change both together
    assert M.bigram_overlap("成功率99.89%", SOURCE) == 1.0
    assert M.bigram_overlap("天气晴朗", SOURCE) == 0.0


def test_citation_precision_and_recall():
    q = M.QuoteRef("a.txt", "甲乙丙丁", 0, 4)
    s = M.citation_score([q], [chunk("甲乙丙丁", 0), chunk("无关的段落", 40)])
    assert (s.precision, s.recall) == (0.5, 1.0)
    s = M.citation_score([q], [chunk("无关的段落", 40)])
    assert (s.precision, s.recall) == (0.0, 0.0)
    assert M.citation_score([q], []).precision is None


def test_span_metrics():
    assert M.exact_match("北京北铃专用汽车有限公司。", "北京北铃专用汽车有限公司") == 1.0
    assert M.exact_match("北京北铃", "北京北铃专用汽车有限公司") == 0.0
    assert M.char_f1("甲乙丙", "甲乙丙丁") == pytest.approx(2 * 1 * 0.75 / 1.75)
    assert M.char_f1("戊己", "甲乙") == 0.0
    assert M.lcs_length("ABCBDAB", "BDCABA") == 4
    assert M.rouge_l("甲丙乙丁", "甲乙丙丁") == pytest.approx(0.75)
    assert M.rouge_l("", "甲") == 0.0
    assert M.strip_labels("克拉玛依市(2024年工作报告):受理5360件。[1]\n(原文):其他。[2]") == "受理5360件。\n其他。"


def test_latency_percentiles():
    t = [{"retrieval": x / 10, "total": x / 10 + 0.01} for x in range(1, 11)]
    lat = M.latency(t)
    assert lat["retrieval"]["p50"] == pytest.approx(0.55)
    assert lat["retrieval"]["p95"] == pytest.approx(0.955)
    assert lat["total"]["n"] == 10
    assert M.percentile([], 50) is None


def test_floors_gate_fails_below_a_floor():
    from qa.evaluation.run import check_floors, load_floors

    floors = load_floors(FLOORS)
    # The four gated since the start; eval/floors.json (2026-12-02) gates fully_correct, false premises and citation precision too.
    assert {"evidence_recall@5", "key_fact_recall", "refusal_recall", "supported_rate"} <= set(floors)
    result = {"systems": {"ours": {"metrics": {"evidence_recall@5": 0.99, "key_fact_recall": 0.1, "refusal_recall": 1.0}}}}
    problems = check_floors(result, floors)
    assert any(p.startswith("key_fact_recall: 0.100 < floor") for p in problems)
    assert any(p.startswith("supported_rate: not measured") for p in problems)
    assert not any(p.startswith("evidence_recall@5") for p in problems)


# ================================================================ real index

@pytest.fixture(scope="module")
def gold_items(seed_index):
    items = load_gold(GOLD)
    resolve_evidence(items, seed_index.catalog.sources(), seed_index.catalog.file_text)
    return items


class Oracle:
    """Retrieves exactly the chunks holding the gold evidence and answers with the quotes, citing them."""

    name = "oracle"

    def __init__(self, index, items):
        from qa.evaluation.systems import Ours

        self.all = Ours(index).all_chunks()
        self.items = {i.id: i for i in items}

    def holding(self, item):
        quotes = [M.QuoteRef(e.source, e.quote, e.start, e.end) for e in item.evidence]
        return [c for c in self.all if any(M.quote_in_chunk(q, c) for q in quotes)]

    def retrieve(self, question, k):
        item = next(i for i in self.items.values() if i.question == question)
        return self.holding(item)[:k]

    def answer_item(self, item_id, question):
        from qa.evaluation.systems import Answered

        item = self.items[item_id]
        if not item.evidence:
            return Answered("文档中没有找到能回答该问题的内容。", True)
        lines, cites = [], {}
        for n, e in enumerate(item.evidence, 1):
            q = M.QuoteRef(e.source, e.quote, e.start, e.end)
            cites[n] = next(c for c in self.all if M.quote_in_chunk(q, c))
            lines.append(f"{e.quote}。[{n}]")
        return Answered("\n".join(lines), False, cites, [], {"total": 0.0})


class Liar(Oracle):
    """Retrieves another document's chunks and states a figure none of them holds."""

    name = "liar"

    def retrieve(self, question, k):
        item = next(i for i in self.items.values() if i.question == question)
        sources = {e.source for e in item.evidence}
        return [c for c in self.all if c.source not in sources][:k]

    def answer_item(self, item_id, question):
        from qa.evaluation.systems import Answered

        wrong = self.retrieve(question, 1)
        return Answered("该市受理人民调解案件98765件,成功率12.34%。[1]", False, {1: wrong[0]}, [], {"total": 0.0})


def test_metrics_on_real_gold_items_separate_an_oracle_from_a_liar(seed_index, gold_items):
    from qa.evaluation.runner import evaluate

    picked = [i for i in gold_items if i.id in ("g001", "g003", "g044", "g077")]
    assert len(picked) == 4
    result = evaluate(picked, [Oracle(seed_index, gold_items), Liar(seed_index, gold_items)], k=5)
    good, bad = result["systems"]["oracle"]["metrics"], result["systems"]["liar"]["metrics"]
    assert good["evidence_recall@5"] == 1.0 and good["mrr"] == 1.0
    assert good["key_fact_recall"] == 1.0 and good["citation_precision"] == 1.0
    assert bad["evidence_recall@5"] == 0.0 and bad["mrr"] == 0.0
    assert bad["key_fact_recall"] == 0.0 and bad["supported_rate"] == 0.0 and bad["citation_recall"] == 0.0
    assert good["supported_rate"] == 1.0
    liar_g001 = next(q["liar"] for q in result["questions"] if q["id"] == "g001")
    assert any("number 98765" in f for f in liar_g001["failures"])
    assert result["ratios"]["key_fact_recall"] is None  # the liar scored 0: no ratio


def test_ours_on_a_few_gold_items(seed_index, gold_items):
    from qa.evaluation.runner import evaluate
    from qa.evaluation.systems import Ours

    picked = [i for i in gold_items if i.id in ("g001", "g005", "g071")]
    result = evaluate(picked, [Ours(seed_index, "extractive")], k=5)
    rows = {q["id"]: q["ours"] for q in result["questions"]}
    assert rows["g001"]["retrieval"]["recall"] == 1.0  # a plain fact question: its evidence is retrieved
    assert rows["g001"]["key_facts"]["recall"] == 1.0
    for rec in rows.values():
        assert set(rec["timings"]) >= {"retrieval", "evidence", "composition", "verification", "total"}
        for s in rec["sentences"]:
            assert 0.0 <= s["overlap"] <= 1.0
    lat = result["systems"]["ours"]["latency"]
    assert lat["total"]["p50"] > 0 and lat["total"]["p95"] >= lat["total"]["p50"]


def test_precomputed_answers_score_like_the_live_run(seed_index, gold_items):
    from qa.answer import ask
    from qa.evaluation.runner import evaluate
    from qa.evaluation.systems import Ours, Precomputed

    picked = [i for i in gold_items if i.id in ("g003", "g078")]
    rows = [{"id": i.id, **ask(seed_index, i.question).to_dict()} for i in picked]
    live = evaluate(picked, [Ours(seed_index)], k=5)["systems"]["ours"]["metrics"]
    again = evaluate(picked, [Precomputed(rows, Ours(seed_index))], k=5)["systems"]["input"]["metrics"]
    for key in ("evidence_recall@5", "key_fact_recall", "supported_rate", "citation_precision", "refusal_recall"):
        assert live.get(key) == again.get(key), key


@pytest.fixture(scope="module")
def full_run(seed_index):
    """The CI gate's run: the full gold set through the extractive backend."""
    from qa.evaluation.run import run_seeds

    return run_seeds(seed_index, GOLD, k=5, backend="extractive")


def test_floors_hold_on_the_full_gold_set(full_run):
    from qa.evaluation.run import check_floors, load_floors

    assert full_run["items"] == len(load_gold(GOLD))
    problems = check_floors(full_run, load_floors(FLOORS))
    assert not problems, "metrics fell below eval/floors.json:\n" + "\n".join(problems)


def test_summary_has_every_metric_per_type(full_run):
    ours = full_run["systems"]["ours"]
    for key in ("evidence_recall@5", "all_evidence@5_multi_doc", "mrr", "key_fact_recall", "fully_correct", "refusal_recall",
                "false_refusals", "false_premises_corrected", "supported_rate", "citation_precision", "citation_recall"):
        assert ours["metrics"].get(key) is not None, key
    assert set(ours["by_type"]) == {"fact", "list", "multi_doc", "attribution", "temporal", "unanswerable", "false_premise",
                                    "true_premise", "metadata"}
    assert ours["by_type"]["unanswerable"]["refusal_recall"] == ours["metrics"]["refusal_recall"]
    assert {"retrieval", "total"} <= set(ours["latency"])


def test_report_html_is_self_contained_and_escaped(full_run, tmp_path):
    import copy

    from qa.evaluation import report

    result = copy.deepcopy(full_run)
    result["questions"][0]["question"] = "<script>alert('x')</script> & 克拉玛依"
    result["questions"][0]["ours"]["answer"] = "<img src=x onerror=alert(1)>"
    folder = report.write(result, tmp_path)
    page = (folder / "report.html").read_text(encoding="utf-8")
    data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert data["systems"]["ours"]["metrics"] == full_run["systems"]["ours"]["metrics"]
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; 克拉玛依" in page
    assert "<svg" in page and page.count("<tr") > len(result["questions"])
    assert "<link" not in page and "src=" not in page.replace("&lt;img src=", "")
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page


def test_cli_eval_json_and_floor_gate(seed_index, tmp_path, monkeypatch, embed_cache):
    import typer
    from typer.testing import CliRunner

    from qa.evaluation.cli import register

    app = typer.Typer()
    register(app)

    @app.command()
    def other():  # a second command keeps typer from collapsing the app into `eval`
        pass

    small = tmp_path / "small.jsonl"
    small.write_text("\n".join(l for l in GOLD.read_text(encoding="utf-8").splitlines()
                               if json.loads(l)["id"] in ("g001", "g079")) + "\n", encoding="utf-8")
    too_high = tmp_path / "floors.json"
    too_high.write_text(json.dumps({"floors": {"key_fact_recall": 1.01}}))
    monkeypatch.setenv("QA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QA_EMBED_CACHE", str(embed_cache))
    runner = CliRunner()
    res = runner.invoke(app, ["eval", "--gold", str(small), "--json", "--out", str(tmp_path / "reports")])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["items"] == 2 and "questions" not in summary
    assert Path(summary["report"], "report.html").is_file()
    res = runner.invoke(app, ["eval", "--gold", str(small), "--json", "--out", str(tmp_path / "reports"),
                              "--check-floors", "--floors", str(too_high)])
    assert res.exit_code == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(line(id="z", type="nonsense") + "\n", encoding="utf-8")
    res = runner.invoke(app, ["eval", "--gold", str(bad), "--out", str(tmp_path / "reports")])
    assert res.exit_code == 2 and "nonsense" in res.output


# ================================================================ baseline and NCPQA (small corpora)

def test_baseline_is_a_separate_plain_rag(make_settings, copy_seeds):
    from qa.evaluation.baseline import CHUNK_SIZE, Baseline
    from qa.evaluation.runner import evaluate
    from qa.evaluation.systems import Ours
    from qa.index import Index
    from qa.ingest import ingest_paths

    settings = make_settings()
    index = Index(settings)
    ingest_paths(index, [copy_seeds("002")])
    vectors_before = index.collection.count()
    base = Baseline(index, settings.data_dir / "baseline")
    assert index.collection.count() == vectors_before  # the main collection is untouched
    assert all(len(c.text) <= CHUNK_SIZE for c in base.chunks.values())
    again = Baseline(index, settings.data_dir / "baseline")
    assert again.embedded == 0  # idempotent: nothing embedded twice
    items = parse_gold([line(id="l1", question="柳南区依申请政务服务事项全程网上可办率达到多少?", key_facts=["99.42%"],
                             evidence=[{"doc": "002", "quote": "全程网上可办率达99.42%"}])])
    resolve_evidence(items, index.catalog.sources(), index.catalog.file_text)
    result = evaluate(items, [Ours(index), base], k=5)
    rec = result["questions"][0]["baseline"]
    assert rec["retrieval"]["recall"] == 1.0
    assert not rec["refused"] and "99.42%" in rec["answer"] and rec["citations"]
    assert set(rec["timings"]) == {"retrieval", "evidence", "composition", "verification", "total"}
    assert "key_fact_recall" in result["ratios"]


def test_ncpqa_runner_on_a_tiny_stand_in(make_settings, tmp_path, monkeypatch):
    from qa.evaluation import ncpqa
    from qa.evaluation.run import run_ncpqa

    docs = {
        "d1": ("某市发布通知，自即日起暂停全市所有室内娱乐场所营业，恢复时间另行通知。市场监管部门负责督查落实，"
               "对拒不执行的经营者依法处理。各区要安排专人每日巡查，发现问题及时上报。通知同时要求各单位做好宣传解释工作，"
               "引导市民减少外出和聚集。"),
        "d2": ("某省卫生部门介绍，全省已设立发热门诊三百二十家，定点救治医院四十六家，确保患者及时得到治疗。"
               "各地要加强医疗物资调配，保障一线医务人员防护需要。省里还将组织专家组分赴各地指导救治工作，"
               "提高重症患者救治成功率。"),
    }
    rows = [
        {"id": "q1", "docid": "d1", "context": docs["d1"], "question": "某市暂停了哪些场所营业？",
         "answer": {"text": "所有室内娱乐场所", "span": [docs["d1"].index("所有室内"), docs["d1"].index("所有室内") + 7]}},
        {"id": "q2", "docid": "d2", "context": docs["d2"], "question": "全省设立了多少家定点救治医院？",
         "answer": {"text": "四十六家", "span": [docs["d2"].index("四十六家"), docs["d2"].index("四十六家") + 3]}},
    ]
    folder = tmp_path / "ncpqa"
    folder.mkdir()
    (folder / "train.json").write_text(json.dumps(rows[0], ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "dev.json").write_text(json.dumps(rows[1], ensure_ascii=False) + "\n", encoding="utf-8")
    monkeypatch.setenv("QA_NCPQA_DIR", str(folder))
    loaded = ncpqa.load()
    assert [r["context"][r["start"]:r["end"]] for r in loaded] == ["所有室内娱乐场所", "四十六家"]
    totals, counts = {}, {"docs": 0, "answers": 0}
    result = run_ncpqa(make_settings(), limit=None, k=5, baseline=True, docs_done=lambda n: counts.__setitem__("docs", counts["docs"] + n),
                       progress=lambda n: counts.__setitem__("answers", counts["answers"] + n),
                       totals={name: (lambda n, name=name: totals.__setitem__(name, n)) for name in ("documents", "chunks", "answers")})
    assert result["questions_run"] == 2 and result["ingest"]["failed"] == 0
    # the bars of `qa eval --dataset ncpqa`: documents and answers counted against their totals
    assert totals["documents"] == counts["docs"] == 2 and totals["answers"] == counts["answers"] == 4 and totals["chunks"] > 0
    for name in ("ours", "baseline"):
        m = result["systems"][name]["metrics"]
        assert m["hit@5"] == 1.0, name  # two documents: the right chunk is always in the top 5
        assert 0.0 <= m["char_f1"] <= 1.0 and 0.0 <= m["rouge_l"] <= 1.0
    assert "char_f1" in result["ratios"]


def test_run_eval_for_the_web_page(seed_index, tmp_path):
    """qa/web/ui.py's evaluation page finds `run_eval(index, gold_path)` in qa.evaluation and shows its summary."""
    from qa.evaluation import run_eval

    small = tmp_path / "small.jsonl"
    small.write_text("\n".join(l for l in GOLD.read_text(encoding="utf-8").splitlines()
                               if json.loads(l)["id"] in ("g003", "g078")) + "\n", encoding="utf-8")
    out = run_eval(seed_index, small, out=tmp_path / "reports")
    assert out["summary"]["items"] == 2 and "questions" not in out["summary"]
    assert Path(out["report"]).is_file()
    json.dumps(out)  # the page renders it as JSON


def test_evaluation_index_is_rebuilt_when_ingestion_code_changes(make_settings, monkeypatch):
    """An index skips unchanged files, so after a change to chunking the eval index must re-ingest (force)."""
    from qa.evaluation import run
    from qa.index import Index

    index = Index(make_settings())
    assert run.stale(index)
    run.mark_fresh(index)
    assert not run.stale(index)
    monkeypatch.setattr(run, "INGEST_MODULES", run.INGEST_MODULES + ("retrieval",))  # as if the code had changed
    assert run.stale(index)


def test_a_sample_of_the_gold_set_is_fixed_and_covers_every_type():
    from collections import Counter

    from qa.evaluation.gold import TYPES
    from qa.evaluation.run import DEFAULT_GOLD, sample

    items = load_gold(DEFAULT_GOLD)
    chosen = sample(items, 22)
    assert [i.id for i in chosen] == [i.id for i in sample(load_gold(DEFAULT_GOLD), 22)]  # the same every run
    counts = Counter(i.type for i in chosen)
    assert set(counts) == set(TYPES) & {i.type for i in items} and min(counts.values()) >= 2
    assert [i.id for i in chosen] == [i.id for i in items if i in chosen]  # in gold order
    assert sample(items, 10_000) == items


def test_an_llm_backend_is_scored_beside_the_extractive_answer_with_its_drafts_counted():
    from qa.evaluation.runner import summarize

    rec = lambda t, kept, s: {"id": "x", "type": t, "key_facts": {"total": 1, "missing": []}, "refused": False,
                              "correct": True, "timings": {"total": s}, "llm": {"kept": kept, "repaired": False, "lost": [], "removed": 0}}
    out = summarize([rec("fact", True, 10.0), rec("fact", False, 30.0), rec("list", True, 5.0)])
    assert out["by_type"]["fact"]["llm_drafts"] == 2 and out["by_type"]["fact"]["llm_drafts_kept"] == 0.5
    assert out["by_type"]["fact"]["seconds_p50"] == 20.0 and out["metrics"]["llm_drafts_kept"] == 2 / 3
