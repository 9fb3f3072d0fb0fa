"""China's administrative divisions (from the table cpca ships): names, aliases and who contains whom."""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import ahocorasick

_PROVINCE_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市")
_CITY_SUFFIXES = ("朝鲜族自治州", "自治州", "地区", "市", "盟")
_DISTRICT_SUFFIXES = ("自治县", "自治旗", "新区", "区", "县", "旗", "市")
_NOT_A_CITY = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划", ""}


@dataclass(frozen=True)
class Region:
    province: str
    city: str = ""
    district: str = ""

    @property
    def level(self) -> str:
        return "县区级" if self.district else "市级" if self.city else "省级"

    @property
    def name(self) -> str:
        """The full name users see: 克拉玛依市, 呼和浩特市赛罕区, 内蒙古自治区."""
        if self.district:
            return f"{self.city}{self.district}" if self.city else self.district
        return self.city or self.province

    def contains(self, other: "Region") -> bool:
        if self.province != other.province:
            return False
        if self.city and self.city != other.city:
            return False
        if self.district and self.district != other.district:
            return False
        return True


def _strip(name: str, suffixes: tuple[str, ...]) -> str:
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


class Gazetteer:
    def __init__(self, rows: list[tuple[str, str]]):
        by_code = {code: name for code, name in rows}
        self.regions: list[Region] = []
        for code, name in rows:
            province = by_code.get(code[:2] + "0" * 10, "")
            if not province:
                continue
            if code.endswith("0" * 10):
                region = Region(province)
            elif code.endswith("0" * 8):
                if name in _NOT_A_CITY:
                    continue
                region = Region(province, name)
            elif code.endswith("0" * 6):
                city = by_code.get(code[:4] + "0" * 8, "")
                region = Region(province, "" if city in _NOT_A_CITY else city, name)
            else:
                continue  # towns and below are not report-level regions
            self.regions.append(region)
        self._automaton = ahocorasick.Automaton()
        aliases: dict[str, list[Region]] = {}
        for region in self.regions:
            for alias in self._aliases(region):
                aliases.setdefault(alias, []).append(region)
        for region in self._renamed():
            for alias in (region.district, f"{region.city}{region.district}" if region.city else region.district):
                aliases.setdefault(alias, []).append(region)
        for alias, regions in aliases.items():
            self._automaton.add_word(alias, (alias, tuple(regions)))
        self._automaton.make_automaton()

    def _renamed(self) -> list[Region]:
        """Counties that became cities or districts after the table was made (cpca's table predates 2017:
        宁乡县 → 宁乡市, 临安市 → 临安区, 即墨市 → 即墨区). The same stem with 市 or 区 for 县, or 区 for a county-level
        市, names the same place; such a name is added only where no region of that name exists anywhere (朝阳区 is
        北京's and 长春's, so 朝阳县 never answers to it). These regions are not in `regions` (they are not listed,
        only recognised when a text names them)."""
        taken = {r.district for r in self.regions} | {r.city for r in self.regions} | {r.province for r in self.regions}
        out = []
        for region in self.regions:
            name = region.district
            # One-character stems (和县, 磁县) would give 和区, 开区, 安市: inside too many words (经开区); their
            # renamings also changed the stem (开县 → 开州区), so a swapped suffix would not find them anyway.
            if not name or name.endswith(("自治县", "自治旗")) or len(name) < 3:
                continue
            swaps = {"县": ("市", "区"), "市": ("区",)}.get(name[-1], ())
            for suffix in swaps:
                new = name[:-1] + suffix
                if new not in taken:
                    out.append(Region(region.province, region.city, new))
        return out

    @staticmethod
    def _aliases(region: Region) -> set[str]:
        if region.district:
            short = _strip(region.district, _DISTRICT_SUFFIXES)
            names = {region.district, f"{region.city}{region.district}"}
            if len(short) >= 2:
                names |= {short, f"{_strip(region.city, _CITY_SUFFIXES)}{short}"}
            return names
        if region.city:
            return {region.city, _strip(region.city, _CITY_SUFFIXES)}
        return {region.province, _strip(region.province, _PROVINCE_SUFFIXES)}

    def mentions(self, text: str) -> list[tuple[str, tuple[Region, ...]]]:
        """Longest non-overlapping alias matches, in order: [(alias, candidate regions)]."""
        found = [(end - len(alias) + 1, end + 1, alias, regions) for end, (alias, regions) in self._automaton.iter(text)]
        found.sort(key=lambda m: (m[0], -(m[1] - m[0])))
        kept, last_end = [], -1
        for start, end, alias, regions in found:
            if start >= last_end:
                kept.append((alias, regions))
                last_end = end
        return kept

    def spans(self, text: str) -> list[tuple[int, int, str, tuple[Region, ...]]]:
        """Every alias match, overlapping ones included: [(start, end, alias, candidate regions)], end exclusive."""
        return [(end - len(alias) + 1, end + 1, alias, regions) for end, (alias, regions) in self._automaton.iter(text)]

    def find(self, name: str) -> Region | None:
        for alias, regions in self.mentions(name):
            if len(regions) == 1:
                return regions[0]
        return None


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    import cpca

    path = Path(cpca.__file__).parent / "resources" / "adcodes.csv"
    with open(path, encoding="utf-8") as fh:
        rows = [(r["adcode"], r["name"]) for r in csv.DictReader(fh)]
    return Gazetteer(rows)


_YEARISH = re.compile(r"\d{4}")


def detect(text: str) -> Region | None:
    """The region an address-like line names (a title, a byline, an opening sentence), via cpca."""
    import cpca

    text = _YEARISH.sub(" ", text)  # cpca reads 2024 as nothing, but digits next to names confuse it
    row = cpca.transform([text]).iloc[0]
    province, city, district = (str(row[k]) if isinstance(row[k], str) else "" for k in ("省", "市", "区"))
    if not province:
        return None
    if city in _NOT_A_CITY:
        city = ""
    return Region(province, city, district)


# ---------------------------------------------------------------- whole-token mentions (attribution by evidence)

_SUFFIX_CHARS = ("省", "市", "区", "县", "旗", "盟", "州")
# A pair of characters that is a common word in jieba's dictionary (frequency ≥ this) is not split by a place name:
# 示范县 is 示范+县 (范县 is not meant), 市委和县委 is 和+县委 (和县 is not meant). 县政 (frequency 7) is no word.
_WORD_FREQ = 50
# District names that are also generic nouns (汕尾市城区 vs 中心城区, 郊区, 矿区): never evidence on their own.
_GENERIC = {"城区", "郊区", "矿区", "新区"}


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    alias: str
    regions: tuple[Region, ...]

    @property
    def weak(self) -> bool:
        """A one-character stem (和县, 范县, 磁县) is a common character: it counts less and must stand alone."""
        return len(self.alias) <= 2


def _is_word(pair: str) -> bool:
    from .lexical import _jieba

    return _jieba().dt.FREQ.get(pair, 0) >= _WORD_FREQ


def _whole_token(text: str, m: Mention) -> bool:
    """Whether a match is a name standing on its own, not the inside of a longer word."""
    regions = m.regions
    if m.alias in _GENERIC:
        return False
    full = m.alias.endswith(_SUFFIX_CHARS) or any(m.alias in (r.province, r.city, r.district) for r in regions)
    if not full:
        # A district's stem without its suffix (朝阳, 城关, 市中, 和平, 新华) is an ordinary word too often;
        # a city's or province's stem (福州, 浙江, 巴彦淖尔) is accepted.
        if any(r.district for r in regions) or len(m.alias) < 2:
            return False
    if m.weak:
        before = text[m.start - 1] if m.start > 0 else ""
        after = text[m.end] if m.end < len(text) else ""
        if before and _is_word(before + m.alias[0]):
            return False
        if after and _is_word(m.alias[-1] + after):
            return False
    return True


def scan(text: str) -> list[Mention]:
    """Place names in the text as whole tokens, longest first, in order (see _whole_token)."""
    g = gazetteer()
    found = [(end - len(alias) + 1, end + 1, alias, regions) for end, (alias, regions) in g._automaton.iter(text)]
    found.sort(key=lambda m: (m[0], -(m[1] - m[0])))
    kept: list[Mention] = []
    last_end = -1
    for start, end, alias, regions in found:
        if start < last_end:
            continue
        mention = Mention(start, end, alias, regions)
        if _whole_token(text, mention):
            kept.append(mention)
            last_end = end
    return kept


def by_name(name: str, near: Region | None = None) -> Region | None:
    """A region from a name a user typed (a correction): exact full names first, then aliases; several candidates
    are narrowed by the region the document had (`near`: the same province or city)."""
    name = name.strip()
    g = gazetteer()
    exact = [r for r in g.regions if name in (r.name, r.province if not r.city and not r.district else "", f"{r.province}{r.name}")]
    candidates = exact or [r for m in scan(name) for r in m.regions]
    if not candidates:
        return None
    if len(set(candidates)) > 1 and near is not None:
        narrowed = [r for r in candidates if r.province == near.province and (not near.city or r.city in ("", near.city))] \
            or [r for r in candidates if r.province == near.province]
        candidates = narrowed or candidates
    unique = list(dict.fromkeys(candidates))
    return unique[0] if len(unique) == 1 or exact else None
