"""Files in, text out: txt/md/html/pdf/docx, in whatever encoding Chinese government sites use.

Every parser is bounded: a file over the limits below (unpacked size, paragraphs, pages, time) is refused with a
LoadError that says which limit, before the expensive parse where possible, so a hostile upload costs seconds and
megabytes, not minutes and gigabytes. The limits sit 10-100x above the largest real report seen (a 300-page
provincial compilation: ~6,000 paragraphs, 4 MB of document.xml).
"""
from __future__ import annotations

import hashlib
import io
import re
import time
import zipfile
from functools import lru_cache
from pathlib import Path

from .errors import QaError
from .models import SourceText

FORMATS = {".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".pdf": "pdf", ".docx": "docx"}


class LoadError(QaError, ValueError):
    """A file that cannot be read as a report. The message says why, in words a user can act on."""

    code, status = "unreadable_file", 400


MAX_UNPACKED_BYTES = 100 * 2**20  # a DOCX's members together, uncompressed
MAX_MEMBER_BYTES = 50 * 2**20  # any one member (word/document.xml)
MAX_RATIO = 100  # uncompressed/compressed of a member over 1 MB; real document.xml compresses 5-15x
MAX_PARAGRAPHS = 50_000
MAX_PDF_PAGES = 500
MAX_HTML_BYTES = 20 * 2**20
MAX_HTML_TAGS = 500_000
MAX_TEXT_CHARS = 20_000_000
TIME_BUDGET_S = 120.0  # per file, checked between paragraphs' blocks and pages (OCR takes ~1-3 s a page)


class _Budget:
    def __init__(self, filename: str, seconds: float | None = None):
        seconds = TIME_BUDGET_S if seconds is None else seconds
        self.filename, self.deadline, self.seconds = filename, time.monotonic() + seconds, seconds

    def check(self, where: str = "") -> None:
        if time.monotonic() > self.deadline:
            raise LoadError(f"{self.filename}: 读取超时,超过 {self.seconds:.0f} 秒{where} (file takes too long to read; limit {self.seconds:.0f} s)")


def supported(path: Path) -> bool:
    return path.suffix.lower() in FORMATS


def load_path(path: Path, source: str | None = None, progress=None) -> SourceText:
    path = Path(path)
    if not path.is_file():
        raise LoadError(f"{path}: 文件不存在 (file not found)")
    return load_bytes(path.read_bytes(), path.name, source or str(path), progress=progress)


def load_bytes(data: bytes, filename: str, source: str, progress=None) -> SourceText:
    """`progress(done, total, message)` is called per page of a PDF that needs OCR (slow: seconds a page)."""
    fmt = FORMATS.get(Path(filename).suffix.lower())
    if fmt is None:
        raise LoadError(f"{filename}: 不支持的文件类型 (supported: {', '.join(sorted(set(FORMATS)))})")
    if not data.strip():
        raise LoadError(f"{filename}: 文件为空 (empty file)")
    if fmt == "pdf":
        text = _normalise(_read_pdf(data, filename, progress))
    else:
        reader = {"txt": _read_text, "md": _read_text, "html": _read_html, "docx": _read_docx}[fmt]
        text = _normalise(reader(data, filename))
    if len(text) > MAX_TEXT_CHARS:
        raise LoadError(f"{filename}: 文字过多 ({len(text):,} 字,上限 {MAX_TEXT_CHARS:,}) (text too long)")
    if len(re.sub(r"\s", "", text)) < 10:
        raise LoadError(f"{filename}: 没有可读的文字 (no readable text)")
    return SourceText(source=source, text=text, format=fmt, sha256=hashlib.sha256(data).hexdigest())


def decode(data: bytes, filename: str = "") -> str:
    """UTF-8 (with or without BOM), UTF-16, GB18030/GBK; refuses binary data."""
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(enc, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if _looks_utf16(data):
        enc = "utf-16-le" if data[1:2] == b"\x00" else "utf-16-be"
        return data.decode(enc, errors="replace")
    if b"\x00" in data[:4096]:
        raise LoadError(f"{filename}: 看起来是二进制文件,不是文本 (binary data)")
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise LoadError(f"{filename}: 无法识别文字编码 (unknown encoding or binary data)")
    return str(best)


def _looks_utf16(data: bytes) -> bool:
    head = data[:2000]
    if len(head) < 4:
        return False
    even_nul = head[0::2].count(0) / len(head[0::2])
    odd_nul = head[1::2].count(0) / len(head[1::2])
    return max(even_nul, odd_nul) > 0.3 and min(even_nul, odd_nul) < 0.05


def _read_text(data: bytes, filename: str) -> str:
    text = decode(data, filename)
    controls = sum(1 for ch in text[:5000] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > 0.05 * min(len(text), 5000) or text.count("\ufffd") > 0.05 * max(len(text), 1):
        raise LoadError(f"{filename}: 看起来是二进制文件,不是文本 (binary data)")
    return text


def _read_html(data: bytes, filename: str) -> str:
    import trafilatura

    if len(data) > MAX_HTML_BYTES:
        raise LoadError(f"{filename}: 网页过大 ({len(data) / 2**20:.0f} MB,上限 {MAX_HTML_BYTES // 2**20} MB) (page too large)")
    if data.count(b"<") > MAX_HTML_TAGS:
        raise LoadError(f"{filename}: 网页标签过多 (over {MAX_HTML_TAGS:,} tags)")
    html = decode(data, filename)
    text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True, deduplicate=False) or ""
    from lxml import html as lxml_html

    try:
        tree = lxml_html.fromstring(html)
        for bad in tree.xpath("//script|//style"):
            bad.drop_tree()
    except Exception as exc:  # lxml raises several types on garbage
        if text:
            return text
        raise LoadError(f"{filename}: 无法解析 HTML ({exc})") from exc
    if not text:
        # A bare page with no <article>-like block: fall back to its visible text.
        return "\n".join(t.strip() for t in tree.itertext() if t.strip())
    head = _html_head(tree, text)
    return "\n".join(head + [text]) if head else text


_META_CELL = re.compile(r"^(标题|索引号|发布机构|成文日期|发布日期|发文字号|文号|发文机关|主题分类)[:：]?$")
_TITLE_LIKE = re.compile(r"(报告|总结|要点|计划|方案|安排|通知|情况)([(（][^)）]{0,16}[)）])?$")
_INFO = re.compile(r"(发布时间|发布日期|更新时间|成文日期|日期|时间)\s*[:：]\s*(19|20)\d{2}")


def _html_head(tree, text: str) -> list[str]:
    """What a page states about itself and the main-text extractor drops: the metadata table (标题, 发布机构, 成文日期,
    发布日期), the headline, the 发布时间 line. Returned as lines to put above the text; the segmenter reads them
    as evidence and drops them as chrome. On the corpus pages trafilatura kept the table on one page of three and
    the <h1> on one of three."""
    squeezed = re.sub(r"\s+", "", text)
    out: list[str] = []
    for tr in tree.iter("tr"):
        cells = [re.sub(r"\s+", "", c.text_content()) for c in tr if isinstance(c.tag, str)]
        if cells and _META_CELL.match(cells[0]) and not any(c and c in squeezed and len(c) > 12 for c in cells[1:2]) \
                and "|" not in text[:2000]:
            out.append(" | ".join(cells))
    headline = ""
    for tag in ("h1", "h2", "h3"):
        for el in tree.iter(tag):
            candidate = " ".join(el.text_content().split())
            if 6 <= len(candidate) <= 90 and _TITLE_LIKE.search(candidate):
                headline = candidate
                break
        if headline:
            break
    if not headline:
        for el in tree.iter("title"):
            candidate = re.split(r"[_|｜]|\s-\s", el.text_content().strip())[0].strip()
            if 6 <= len(candidate) <= 90 and _TITLE_LIKE.search(candidate):
                headline = candidate
    if headline and re.sub(r"\s+", "", headline) not in squeezed:
        out.append(headline)
    seen = set()
    for el in tree.iter("div", "p", "span", "td", "li"):
        own = " ".join(el.text_content().split())
        if len(own) <= 150 and _INFO.search(own) and own not in seen and re.sub(r"\s+", "", own) not in squeezed:
            if not any(own in s or s in own for s in seen):
                seen.add(own)
                out.append(own)
    return out


def _read_pdf(data: bytes, filename: str, progress=None) -> str:
    """Pages as published: running headers, footers and page numbers removed, tables as rows of cells joined by
    " | ", pages without a text layer (scans) read by OCR."""
    import pdfplumber

    budget = _Budget(filename)
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            if len(pdf.pages) > MAX_PDF_PAGES:
                raise LoadError(f"{filename}: PDF 页数过多 ({len(pdf.pages)} 页,上限 {MAX_PDF_PAGES}) (too many pages)")
            pages = []
            for i, page in enumerate(pdf.pages):
                budget.check(f"(第 {i + 1} 页)")
                pages.append(_page_lines(page))
                page.flush_cache()
    except LoadError:
        raise
    except Exception as exc:  # pdfminer raises many types on corrupt input
        raise LoadError(f"{filename}: PDF 文件损坏或无法读取 ({type(exc).__name__})") from exc
    scanned = [i for i, lines in enumerate(pages) if len(re.sub(r"\s", "", "".join(lines))) < 10]
    if scanned:
        for i, lines in _ocr_pages(data, filename, scanned, budget, progress).items():
            pages[i] = lines
    return _reflow("\n".join("\n".join(lines) for lines in _drop_running(pages)))


def _page_lines(page) -> list[str]:
    """A page's text lines top to bottom, each table replaced by its rows (cells joined by " | ")."""
    tables = [t for t in page.find_tables() if len(t.rows) >= 2 or len(t.columns) >= 2]
    boxes = [t.bbox for t in tables]

    def inside(line) -> bool:
        mid = (line["top"] + line["bottom"]) / 2
        return any(x0 - 1 <= line["x0"] and line["x1"] <= x1 + 1 and top - 1 <= mid <= bottom + 1 for x0, top, x1, bottom in boxes)

    items = [(line["top"], line["text"]) for line in page.extract_text_lines() if not inside(line)]
    for table in tables:
        for n, row in enumerate(table.extract()):
            cells = [re.sub(r"\s+", "", c or "") for c in row]
            if any(cells):
                items.append((table.bbox[1] + n * 0.01, " | ".join(cells)))
    return [text for _, text in sorted(items, key=lambda item: item[0])]


_PAGE_NUMBER = re.compile(r"^[-—–\s]*\d{1,4}[-—–\s]*$|^第\s*\d+\s*页(\s*[,，/]?\s*共\s*\d+\s*页)?$|^\d+\s*/\s*\d+$|^[Pp]age\s*\d+")


def _drop_running(pages: list[list[str]]) -> list[list[str]]:
    """Remove page numbers and running headers/footers: a line among a page's first or last three that recurs
    (digits aside) on at least half the pages of a document of two or more pages."""
    def key(line: str) -> str:
        return re.sub(r"\d+", "#", re.sub(r"\s+", "", line))

    counts: dict[str, int] = {}
    for lines in pages:
        for k in {key(l) for l in lines[:3] + lines[-3:]}:
            counts[k] = counts.get(k, 0) + 1
    running = {k for k, n in counts.items() if len(pages) >= 2 and n >= max(2, len(pages) / 2)}
    out = []
    for lines in pages:
        edge = set(range(min(3, len(lines)))) | set(range(max(0, len(lines) - 3), len(lines)))
        out.append([l for i, l in enumerate(lines) if not (_PAGE_NUMBER.match(l.strip()) or (i in edge and key(l) in running))])
    return out


@lru_cache(maxsize=1)
def _ocr_engine():
    from rapidocr_onnxruntime import RapidOCR  # PP-OCRv4 models inside the wheel: no download

    return RapidOCR()


def _ocr_pages(data: bytes, filename: str, indices: list[int], budget: _Budget, progress=None) -> dict[int, list[str]]:
    """Render each page (pypdfium2, 2x = 144 dpi: small print stays legible) and read it with rapidocr."""
    try:
        import numpy as np
        import pypdfium2
        engine = _ocr_engine()
    except ImportError as exc:
        raise LoadError(f"{filename}: 扫描版 PDF(无文字层),需要 OCR 组件 rapidocr-onnxruntime 和 pypdfium2 ({exc.name} not installed)") from exc
    out: dict[int, list[str]] = {}
    unreadable = []
    pdf = pypdfium2.PdfDocument(data)
    try:
        for n, i in enumerate(indices):
            budget.check(f"(OCR 第 {i + 1} 页)")
            if progress:
                progress(n, len(indices), f"OCR 第 {i + 1} 页")
            image = pdf[i].render(scale=2).to_pil().convert("RGB")
            result, _ = engine(np.asarray(image))
            lines = _ocr_lines(result or [])
            if not lines:
                unreadable.append(i + 1)
            out[i] = lines
        if progress:
            progress(len(indices), len(indices), "OCR 完成")
    finally:
        pdf.close()
    if unreadable and len(unreadable) == len(indices) and len(indices) == len(out) and not any(out.values()):
        pages = "、".join(map(str, unreadable[:10]))
        raise LoadError(f"{filename}: 扫描页无法识别文字 (第 {pages} 页) (scanned pages could not be read)")
    for page in unreadable:  # said in the text's place, so the reader sees the gap instead of a silent hole
        out[page - 1] = [f"〔第 {page} 页无法识别〕"]
    return out


def _ocr_lines(result: list) -> list[str]:
    """rapidocr's boxes ([corners, text, score]) grouped into lines: boxes whose vertical centres are within half a
    line height of each other are one line, read left to right."""
    boxes = []
    for corners, text, score in result:
        ys = [p[1] for p in corners]
        xs = [p[0] for p in corners]
        boxes.append(((min(ys) + max(ys)) / 2, max(ys) - min(ys), min(xs), text))
    boxes.sort()
    lines: list[list] = []
    for mid, height, x, text in boxes:
        if lines and abs(lines[-1][0] - mid) <= height / 2:
            lines[-1][1].append((x, text))
        else:
            lines.append([mid, [(x, text)]])
    return ["".join(t for _, t in sorted(parts)) for _, parts in lines]


_PARA_TAG = re.compile(rb"<(?:\w+:)?p[\s/>]")


def _check_docx(data: bytes, filename: str, budget: _Budget) -> None:
    """Refuse a zip bomb before parsing: member sizes from the zip directory, then paragraphs counted while
    streaming word/document.xml (1 MB at a time), so an 80 KB file holding millions of empty paragraphs is refused
    after reading MAX_PARAGRAPHS of them, in well under a second and a few MB."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise LoadError(f"{filename}: DOCX 文件损坏或无法读取 ({type(exc).__name__})") from exc
    with zf:
        infos = zf.infolist()
        total = sum(i.file_size for i in infos)
        if len(infos) > 5000 or total > MAX_UNPACKED_BYTES:
            raise LoadError(f"{filename}: DOCX 解压后过大 ({total / 2**20:.0f} MB,{len(infos)} 个部件;上限 {MAX_UNPACKED_BYTES // 2**20} MB) (unpacked size over limit)")
        for info in infos:
            if info.file_size > MAX_MEMBER_BYTES or (info.file_size > 2**20 and info.file_size > MAX_RATIO * max(info.compress_size, 1)):
                raise LoadError(f"{filename}: DOCX 部件 {info.filename} 解压后 {info.file_size / 2**20:.0f} MB,压缩比 "
                                f"{info.file_size / max(info.compress_size, 1):.0f} 倍,疑似压缩炸弹 (unpacked size or ratio over limit)")
        if "word/document.xml" not in zf.namelist():
            raise LoadError(f"{filename}: DOCX 文件损坏或无法读取 (no word/document.xml)")
        count, tail = 0, b""
        with zf.open("word/document.xml") as fh:
            while block := fh.read(2**20):
                buf = tail + block
                count += len(_PARA_TAG.findall(buf))
                tail = buf[-8:] if not _PARA_TAG.search(buf[-8:]) else b""  # a tag split across blocks is counted once
                if count > MAX_PARAGRAPHS:
                    raise LoadError(f"{filename}: DOCX 段落过多 (超过 {MAX_PARAGRAPHS:,} 段) (too many paragraphs)")
                budget.check()


def _read_docx(data: bytes, filename: str) -> str:
    import docx

    budget = _Budget(filename)
    _check_docx(data, filename, budget)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # zipfile/lxml errors on corrupt input
        raise LoadError(f"{filename}: DOCX 文件损坏或无法读取 ({type(exc).__name__})") from exc
    budget.check()
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n".join(lines)


_SENTENCE_END = "。！？；：!?;:”」）)"
_HEADING_START = re.compile(r"^\s*([一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[)）]|\d+[.．、])")


_TITLE_LINE = re.compile(r"^[^,，。；;]{4,}(报告|总结|要点|计划|方案|安排|通知)([(（][^)）]{0,16}[)）])?$")


def _reflow(text: str) -> str:
    """PDF text breaks lines mid-sentence; join a line to the next unless it ends a sentence, the next is a heading,
    or it is short of the page's full line width (the last line of a paragraph). Full width is the 75th percentile of
    line lengths: ~35-40 characters on A4, ~24 on A6."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    lengths = sorted(len(line) for line in lines if " | " not in line)
    full = lengths[int(0.75 * (len(lengths) - 1))] if lengths else 0
    threshold = min(25, 0.8 * full)
    out: list[str] = []
    for line in lines:
        if out and out[-1] and out[-1][-1] not in _SENTENCE_END and not _HEADING_START.match(line) and len(out[-1]) >= threshold \
                and " | " not in line and " | " not in out[-1] and not _TITLE_LINE.search(out[-1]):  # rows and titles stay lines
            out[-1] += line
        else:
            out.append(line)
    return "\n".join(out)


def _normalise(text: str) -> str:
    # Offsets are into this string, so every later stage reads it unchanged.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u3000", " ").replace("\x00", "")
    return text
