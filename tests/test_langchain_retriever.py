"""The retriever as a LangChain citizen: composed in a user's own LCEL chain over the real seed index."""
from __future__ import annotations

from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from qa.retriever import QaRetriever

META = {"region", "year", "kind", "section", "chunk_id", "doc_id", "score"}


def test_the_retriever_composes_in_a_users_chain(seed_index):
    retriever = QaRetriever(index=seed_index, k=5)
    assert isinstance(retriever, BaseRetriever)

    def join(docs: list[Document]) -> str:
        return "\n\n".join(f"[{d.metadata['region']} {d.metadata['year']}] {d.page_content}" for d in docs)

    prompt = ChatPromptTemplate.from_messages([("system", "只根据资料回答。\n资料:\n{context}"), ("human", "{question}")])
    fake_llm = RunnableLambda(lambda value: value.to_messages()[0].content)  # a user's model: echoes what it was given
    chain = {"context": retriever | join, "question": RunnablePassthrough()} | prompt | fake_llm
    context = chain.invoke("克拉玛依2024年人民调解成功率是多少?")
    assert "99.89%" in context and "[克拉玛依市 2024]" in context

    docs = retriever.invoke("克拉玛依2024年人民调解成功率是多少?")
    assert 0 < len(docs) <= 5 and all(isinstance(d, Document) for d in docs)
    assert all(META <= d.metadata.keys() for d in docs)
    top = docs[0].metadata
    assert top["region"] == "克拉玛依市" and top["year"] == 2024 and top["kind"] == "report"
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True) and [d.metadata["rank"] for d in docs] == list(range(1, len(docs) + 1))
    # Every id is a passage of the catalogue the answer stage can cite, and the unit's text is made of them.
    for d in docs:
        assert d.metadata["chunk_id"] in d.metadata["chunk_ids"]
        parts = seed_index.catalog.chunks(d.metadata["chunk_ids"])
        assert len(parts) == len(d.metadata["chunk_ids"]) and all(p.doc_id == d.metadata["doc_id"] for p in parts)
        assert all(p.text in d.page_content or p.text[-20:] in d.page_content for p in parts)

    batch = retriever.batch(["柳南区2024年存在哪些不足?", "上海市2024年出庭应诉率是多少?"])
    assert batch[0] and any("败诉率较高" in d.page_content for d in batch[0])


def test_filters_are_strict(seed_index):
    docs = QaRetriever(index=seed_index, k=10, region="新疆").invoke("调解成功率")
    assert docs and {d.metadata["region"] for d in docs} <= {"克拉玛依市", "乌鲁木齐市米东区"}
    docs = QaRetriever(index=seed_index, k=10, year=2019).invoke("调解成功率")
    assert docs and {d.metadata["year"] for d in docs} == {2019}
    assert QaRetriever(index=seed_index, region="上海").invoke("调解") == []
