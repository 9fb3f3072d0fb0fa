"""The answerer as a LangChain citizen: composed in a user's own chain over the real seed index."""
from __future__ import annotations

from langchain_core.runnables import RunnableLambda

from qa.answer import Answerer
from qa.models import Answer


def test_the_answerer_composes_in_a_users_chain(seed_index):
    chain = RunnableLambda(lambda row: {"question": row["q"]}) | Answerer(seed_index) | RunnableLambda(lambda a: (a.refused, a.text, a.citations))
    refused, text, citations = chain.invoke({"q": "克拉玛依2024年人民调解成功率是多少?"})
    assert not refused and "99.89%" in text and citations
    outs = chain.batch([{"q": "柳南区2024年存在哪些不足?"}, {"q": "上海市2024年出庭应诉率是多少?"}])
    assert not outs[0][0] and "败诉率较高" in outs[0][1]
    assert outs[1][0]  # no report for 上海市: refused, in the same batch


def test_the_answerer_streams_tokens_then_the_verified_answer(seed_index):
    events = list(Answerer(seed_index).stream({"question": "哪些地区行政机关负责人出庭应诉率达到100%?", "filters": {"region": None}}))
    assert events[0]["type"] == "token" and events[-1]["type"] == "answer"
    answer = events[-1]["answer"]
    assert isinstance(answer, Answer) and answer.answer_type == "which"
    assert {r.region for r in answer.table} >= {"克拉玛依市", "呼伦贝尔市"}
    assert all(r.n in {c.n for c in answer.citations} for r in answer.table)
    csv = answer.table_csv()
    assert csv.startswith("\ufeff地区,年份") and "克拉玛依市" in csv
