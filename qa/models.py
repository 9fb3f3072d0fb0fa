"""The things that flow through the pipeline: documents → chunks → hits → answers."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class SourceText:
    """A file decoded to text. Every offset in the index points into `text`."""

    source: str  # the key the file is known by (relative path, or the upload's name)
    text: str
    format: str  # txt, md, html, pdf, docx
    sha256: str


@dataclass
class Document:
    """One report, plan or article; a file may hold several (seed 003 holds eight)."""

    doc_id: str
    source: str
    ord: int  # position of the piece in its file
    title: str
    region: str  # full name, e.g. 克拉玛依市, 呼和浩特市赛罕区, 内蒙古自治区
    province: str
    city: str
    district: str
    level: str  # 省级 / 市级 / 县区级
    year: int | None  # the year reported on (or planned for)
    kind: str  # report / plan / article
    published: str | None
    start: int
    end: int
    department: str = ""  # a department's own report or plan (司法局, 税务局); "" for a government's
    year_end: int | None = None  # the last year of a multi-year plan (2021—2025: year 2021, year_end 2025)
    # How each detected field was found: {field: {"confidence": 0..1, "evidence": "…"}}. Fields below
    # LOW_CONFIDENCE are flagged in `qa docs`, /api/documents and the documents page, never silently trusted.
    attribution: dict = field(default_factory=dict)

    def low_confidence(self) -> list[str]:
        return [f for f, a in self.attribution.items() if a.get("confidence", 1.0) < LOW_CONFIDENCE]

    def label(self) -> str:
        year = f"{self.year}年" if self.year else "年份不详"
        return f"{self.region} · {year} · {KIND_LABELS.get(self.kind, self.kind)}"

    def to_dict(self) -> dict:
        return {**asdict(self), "low_confidence": self.low_confidence()}


LOW_CONFIDENCE = 0.6
KIND_LABELS = {"report": "工作报告", "plan": "工作计划", "notice": "通知", "article": "经验文章"}


@dataclass
class Chunk:
    chunk_id: str
    doc_id: str
    ord: int
    text: str  # exact substring source_text[start:end]
    section: str  # heading path, " > " joined
    start: int
    end: int

    def embed_text(self, doc: Document) -> str:
        """What gets embedded: a short context header so a paragraph that never names its region is still found by it."""
        # Region, year and kind say what the title says; the innermost heading says what the path says. A short
        # header keeps the text inside the embedder's cheaper length bucket (indexing is embedding-bound).
        header = f"{doc.region} {doc.year or ''}年{KIND_LABELS.get(doc.kind, doc.kind)}"
        if self.section:
            header += f" · {self.section.split(' > ')[-1]}"
        return f"{header}\n{self.text}"

    def search_text(self, doc: Document) -> str:
        """What BM25 indexes: the full context (title, whole heading path) costs nothing there."""
        return f"{doc.region} {doc.year or ''}年 {KIND_LABELS.get(doc.kind, doc.kind)} {doc.title} {self.section}\n{self.text}"


@dataclass
class Fact:
    """One figure a document states: «受理行政复议申请206件» → indicator 受理行政复议申请, value 206, unit 件.

    `sentence` is the sentence it stands in and [start, end) its offsets in the source text; `status` says whether
    the report claims it happened (result) or sets it as a goal (goal: 力争…, a plan's targets). `scope` is where it
    holds when the sentence says so (全市, 市本级, or a district a city report quotes); `measure` is its kind:
    rate, count, money, duration, rank, change."""

    doc_id: str
    chunk_id: str
    indicator: str
    value: float
    unit: str
    raw: str  # as written: 99.5%, 30余件, 第三名
    status: str  # result / goal
    sentence: str
    start: int
    end: int
    scope: str = ""
    measure: str = "rate"
    context: str = ""  # the clause before the figure, which names what is counted
    fact_id: int = 0


@dataclass
class Hit:
    """A retrieval unit: one chunk, or adjacent chunks of one document merged at query time (qa/retrieval.py).

    `chunk` is the best-scoring chunk of the unit; `parts` every chunk it covers, in document order (each stays
    citable on its own); `text` [start, end) the unit's text and offsets in the source (the chunk's when single)."""

    chunk: Chunk
    doc: Document
    score: float
    rank: int = 0
    bm25: float = 0.0
    dense: float = 0.0
    parts: list[Chunk] = field(default_factory=list)
    text: str = ""
    start: int = -1
    end: int = -1

    def __post_init__(self) -> None:
        if not self.parts:
            self.parts = [self.chunk]
        if not self.text:
            self.text, self.start, self.end = self.chunk.text, self.chunk.start, self.chunk.end

    @property
    def chunk_ids(self) -> list[str]:
        return [c.chunk_id for c in self.parts]

    def to_dict(self) -> dict:
        return {
            "rank": self.rank,
            "chunk_id": self.chunk.chunk_id,
            "chunk_ids": self.chunk_ids,
            "doc_id": self.doc.doc_id,
            "source": self.doc.source,
            "title": self.doc.title,
            "region": self.doc.region,
            "province": self.doc.province,
            "year": self.doc.year,
            "kind": self.doc.kind,
            "section": self.chunk.section,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
            "bm25": round(self.bm25, 4),
            "dense": round(self.dense, 4),
        }


@dataclass
class Citation:
    n: int
    chunk_id: str
    doc_id: str
    source: str
    title: str
    region: str
    province: str
    city: str
    district: str
    year: int | None
    kind: str
    section: str
    text: str  # the whole chunk
    quote: str  # the sentence(s) the answer rests on
    start: int  # offsets of the quote in the source text
    end: int
    quotes: list[str] = field(default_factory=list)  # further sentences of this chunk that other answer sentences cite

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TableRow:
    """One row of an answer across reports: region · year · value · status, with the citation it rests on."""

    region: str
    year: int | None
    indicator: str
    value: float | None  # None for a row that states no figure (a region's measure, or "not reported")
    raw: str  # as written: 99.5%, 30余件, 第三名, 半个工作日
    unit: str
    status: str  # result / goal / plan / missing
    scope: str = ""  # 全市, 市本级, or the district a city report quotes
    n: int = 0  # citation number in the answer ([n]); 0 = no citation
    kind: str = ""  # report / plan / notice / article

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    refused: bool = False
    backend: str = "extractive"
    timings: dict[str, float] = field(default_factory=dict)
    verification: dict = field(default_factory=dict)
    nearest: list[dict] = field(default_factory=list)  # shown when refused
    answer_type: str = "fact"  # fact / number / list / section / which / compare / trend / yesno / metadata
    verdict: str | None = None  # "yes" / "no" for yes/no and premise questions, led by 是的 / 不是 in the text
    table: list[TableRow] = field(default_factory=list)  # aggregation answers, as data
    notes: list[str] = field(default_factory=list)  # partial list, active filter, missing region…

    def table_csv(self) -> str:
        """The aggregation table as CSV (UTF-8 with a BOM so spreadsheet programs read the Chinese): one row per
        region · year, with the citation it rests on written out."""
        import csv
        import io

        by_n = {c.n: c for c in self.citations}
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out)
        writer.writerow(["地区", "年份", "指标", "数值", "原文", "单位", "状态", "范围", "引用", "出处", "原句"])
        status = {"result": "已实现", "goal": "目标", "plan": "计划", "missing": "未提及"}
        for r in self.table:
            c = by_n.get(r.n)
            source = f"{c.region} · {c.year or ''}年 · {c.section}" if c else ""
            writer.writerow([r.region, r.year or "", r.indicator, "" if r.value is None else f"{r.value:g}", r.raw, r.unit,
                             status.get(r.status, r.status), r.scope, f"[{r.n}]" if r.n else "", source, c.quote if c else ""])
        return out.getvalue()

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "backend": self.backend,
            "answer_type": self.answer_type,
            "verdict": self.verdict,
            "table": [r.to_dict() for r in self.table],
            "notes": self.notes,
            "citations": [c.to_dict() for c in self.citations],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "verification": self.verification,
            "nearest": self.nearest,
        }
