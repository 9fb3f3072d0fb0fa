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
        for alias, regions in aliases.items():
            self._automaton.add_word(alias, (alias, tuple(regions)))
        self._automaton.make_automaton()

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
