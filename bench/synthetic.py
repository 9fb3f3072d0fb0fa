"""A synthetic corpus for scale tests: the seeds' paragraphs re-attributed to other regions and years.

Each synthetic file is one 法治政府建设情况报告 (or 工作计划) whose title names a real division from the
gazetteer (cpca's table) and a year. Its body is an opener plus outline sections (「一、…」 headings
renumbered, (一)/一是 kept) sampled from the seed documents of the same kind, with the source's region
names replaced by the new region's and its years shifted by the same offset. Sizes and vocabulary are
therefore the seeds'; only the attribution is new.

Generation is deterministic (one seeded RNG, reports drawn in order), so the first 200 reports of a
2,000-report corpus are exactly the 200-report corpus. Every report is checked with the real segmenter:
one document, attributed to the intended region, year and kind; a draw that fails is redrawn.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from qa import gazetteer as gz
from qa.loaders import load_path
from qa.models import SourceText
from qa.segment import TOP_HEADING, Para, segment
from qa.settings import PROJECT_ROOT

# Body size in characters: the seeds average ~118 characters per chunk, so ~1,800 characters make the
# ~15 chunks per report that put 2,000 reports at 100× the seed corpus (306 chunks).
BODY_CHARS = (1100, 1950)
SECTION_CHARS = (450, 950)
REPORT_YEARS = range(2019, 2025)
PLAN_SHARE = 0.1
CITY_SHARE = 0.35  # the rest are counties/districts, as among real report publishers
_CN = "一二三四五六七八九十"


@dataclass
class SeedSection:
    """One 「一、…」 block of a seed document: its heading and the paragraphs under it."""

    heading: str
    paras: list[str]


@dataclass
class SeedDoc:
    region: gz.Region
    year: int
    kind: str
    opener: str | None
    sections: list[SeedSection]


@dataclass
class SyntheticReport:
    """What the generator wrote, so benchmarks can ask about it and check attribution."""

    file: str
    region: str
    province: str
    city: str
    district: str
    year: int
    kind: str
    title: str
    topics: list[str] = field(default_factory=list)  # top-level headings without their numbers
    chars: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------- seed material


@lru_cache(maxsize=1)
def seed_docs(seeds_dir: Path = PROJECT_ROOT / "seeds") -> tuple[SeedDoc, ...]:
    """The seed documents (as the real segmenter finds them) that have outline sections to sample."""
    docs = []
    for path in sorted(Path(seeds_dir).glob("*.txt")):
        src = load_path(path, path.name)
        for doc, paras in segment(src):
            if not doc.year or not doc.province:
                continue
            opener, sections = _sections(paras)
            sections = [s for s in sections if s.paras and "走进" not in s.heading]  # 「走进赛罕」 is a travelogue
            if sections:
                kind = "plan" if doc.kind == "plan" else "report"  # articles read as report sections
                docs.append(SeedDoc(gz.Region(doc.province, doc.city, doc.district), doc.year, kind, opener, sections))
    return tuple(docs)


def _sections(paras: list[Para]) -> tuple[str | None, list[SeedSection]]:
    opener, sections = None, []
    for para in paras:
        if TOP_HEADING.match(para.text):
            sections.append(SeedSection(para.text, []))
        elif sections:
            sections[-1].paras.append(para.text)
        elif opener is None and len(para.text) >= 60:
            opener = para.text
    return opener, sections


# ---------------------------------------------------------------- re-attribution


def _short(name: str, suffixes: tuple[str, ...]) -> str:
    short = gz._strip(name, suffixes)
    return short if len(short) >= 2 else name


def _roles(region: gz.Region) -> dict[str, str]:
    """The names a report uses for itself, its city and its province, full and short."""
    own = region.district or region.city or region.province
    own_suffixes = gz._DISTRICT_SUFFIXES if region.district else gz._CITY_SUFFIXES if region.city else gz._PROVINCE_SUFFIXES
    city = region.city or region.province
    return {
        "name": region.name,
        "own": own,
        "own_short": _short(own, own_suffixes),
        "city": city,
        "city_short": _short(city, gz._CITY_SUFFIXES if region.city else gz._PROVINCE_SUFFIXES),
        "province": region.province,
        "province_short": _short(region.province, gz._PROVINCE_SUFFIXES),
    }


def region_replacer(source: gz.Region, target: gz.Region):
    """A function that rewrites the source region's names (longest first) as the target's."""
    src, dst = _roles(source), _roles(target)
    mapping: dict[str, str] = {}
    for role in ("name", "own", "city", "province", "own_short", "city_short", "province_short"):
        mapping.setdefault(src[role], dst[role])  # the first role a name plays wins (内蒙古 is own and province)
    pattern = re.compile("|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True)))
    return lambda text: pattern.sub(lambda m: mapping[m.group()], text)


# Spans such as 《纲要(2021—2025年)》 or 2015-2020 are planning periods, not the year reported on.
_PROTECTED = re.compile(r"(?:19|20)\d{2}\s*[-—–~至到]+\s*(?:19|20)\d{2}")
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")


def shift_years(text: str, source_year: int, delta: int) -> str:
    """Move the years a report speaks about (its own, a few before, the next one) by delta; keep names and spans."""
    if not delta:
        return text

    def shift(m: re.Match) -> str:
        year = int(m.group(1))
        return str(year + delta) if source_year - 6 <= year <= source_year + 2 else m.group(1)

    out, pos = [], 0
    for m in _PROTECTED.finditer(text):
        out += [_YEAR.sub(shift, text[pos : m.start()]), m.group()]
        pos = m.end()
    out.append(_YEAR.sub(shift, text[pos:]))
    return "".join(out)


# ---------------------------------------------------------------- one report


def _renumber(heading: str, n: int) -> str:
    return TOP_HEADING.sub(f"{_number(n)}、", heading, count=1)


def _number(n: int) -> str:
    if n <= 10:
        return _CN[n - 1]
    return "十" + (_CN[n - 11] if n > 10 else "")


def _title(region: gz.Region, year: int, kind: str) -> str:
    return f"{region.name}{year}年法治政府建设" + ("工作计划" if kind == "plan" else "情况报告")


def _excerpt(rng: random.Random, section: SeedSection, budget: int) -> list[str]:
    """A contiguous run of a section's paragraphs, starting at a sub-heading when there is one."""
    starts = [i for i, p in enumerate(section.paras) if re.match(r"^[(（][一二三四五六七八九十]+[)）]", p)] or [0]
    start = rng.choice(starts)
    taken, chars = [], 0
    for para in section.paras[start:]:
        taken.append(para)
        chars += len(para)
        if chars >= budget:
            break
    return taken


def compose(rng: random.Random, docs: list[SeedDoc], target: gz.Region, year: int, kind: str) -> tuple[str, list[str]]:
    """The text of one report and its topics (top-level headings)."""
    pool = [d for d in docs if d.kind == kind] or list(docs)
    opener_doc = rng.choice([d for d in pool if d.opener] or pool)
    lines = [_title(target, year, kind)]
    if opener_doc.opener:
        lines.append(_reattribute(opener_doc.opener, opener_doc, target, year))
    budget, chars, topics = rng.randint(*BODY_CHARS), 0, []
    used: set[tuple[int, int]] = set()
    while chars < budget and len(used) < sum(len(d.sections) for d in pool):
        d = rng.randrange(len(pool))
        s = rng.randrange(len(pool[d].sections))
        if (d, s) in used:
            continue
        used.add((d, s))
        doc, section = pool[d], pool[d].sections[s]
        heading = _renumber(_reattribute(section.heading, doc, target, year), len(topics) + 1)
        body = [_reattribute(p, doc, target, year) for p in _excerpt(rng, section, min(rng.randint(*SECTION_CHARS), budget - chars))]
        lines += [heading, *body]
        topics.append(TOP_HEADING.sub("", heading).rstrip("。"))
        chars += len(heading) + sum(map(len, body))
    return "\n".join(lines) + "\n", topics


def _reattribute(text: str, doc: SeedDoc, target: gz.Region, year: int) -> str:
    return shift_years(region_replacer(doc.region, target)(text), doc.year, year - doc.year)


def attributed_as(text: str, region: gz.Region, year: int, kind: str) -> bool:
    """The real segmenter reads the text as exactly one document of this region, year and kind."""
    found = segment(SourceText("synthetic.txt", text, "txt", "-"))
    if len(found) != 1:
        return False
    doc = found[0][0]
    return (doc.province, doc.city, doc.district, doc.year, doc.kind) == (region.province, region.city, region.district, year, kind)


# ---------------------------------------------------------------- the corpus


def _regions() -> tuple[list[gz.Region], list[gz.Region]]:
    regions = gz.gazetteer().regions
    cities = [r for r in regions if r.level == "市级"]
    districts = [r for r in regions if r.level == "县区级" and r.city]  # with a city, so the title is unambiguous
    return cities, districts


def generate(folder: Path, n: int, seed: int = 20240601, seeds_dir: Path | None = None) -> list[SyntheticReport]:
    """Write n synthetic reports into folder (syn_00000.txt, …) and return what each one is."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    docs = list(seed_docs(Path(seeds_dir)) if seeds_dir else seed_docs())
    cities, districts = _regions()
    rng = random.Random(seed)
    used: set[tuple[str, int, str]] = set()
    out: list[SyntheticReport] = []
    while len(out) < n:
        kind = "plan" if rng.random() < PLAN_SHARE else "report"
        region = rng.choice(cities if rng.random() < CITY_SHARE else districts)
        year = rng.choice(REPORT_YEARS) + (1 if kind == "plan" else 0)  # a plan is for the year after a report
        if (region.name, year, kind) in used:
            continue
        text, topics = compose(rng, docs, region, year, kind)
        if not attributed_as(text, region, year, kind):
            continue  # e.g. a county name cpca reads as another place: draw again
        used.add((region.name, year, kind))
        name = f"syn_{len(out):05d}.txt"
        (folder / name).write_text(text, encoding="utf-8")
        out.append(SyntheticReport(name, region.name, region.province, region.city, region.district, year, kind,
                                   text.split("\n", 1)[0], topics, len(text)))
    return out


def write_manifest(reports: list[SyntheticReport], path: Path) -> None:
    path.write_text("\n".join(json.dumps(r.to_dict(), ensure_ascii=False) for r in reports) + "\n", encoding="utf-8")


def read_manifest(path: Path) -> list[SyntheticReport]:
    return [SyntheticReport(**json.loads(line)) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
