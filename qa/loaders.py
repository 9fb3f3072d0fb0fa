"""Files in, text out: txt/md/html/pdf/docx, in whatever encoding Chinese government sites use."""
from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

from .errors import QaError
from .models import SourceText

FORMATS = {".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".pdf": "pdf", ".docx": "docx"}


class LoadError(QaError, ValueError):
    """A file that cannot be read as a report. The message says why, in words a user can act on."""

    code, status = "unreadable_file", 400


def supported(path: Path) -> bool:
    return path.suffix.lower() in FORMATS


def load_path(path: Path, source: str | None = None) -> SourceText:
    path = Path(path)
    if not path.is_file():
        raise LoadError(f"{path}: 文件不存在 (file not found)")
    return load_bytes(path.read_bytes(), path.name, source or str(path))


def load_bytes(data: bytes, filename: str, source: str) -> SourceText:
    fmt = FORMATS.get(Path(filename).suffix.lower())
    if fmt is None:
        raise LoadError(f"{filename}: 不支持的文件类型 (supported: {', '.join(sorted(set(FORMATS)))})")
    if not data.strip():
        raise LoadError(f"{filename}: 文件为空 (empty file)")
    reader = {"txt": _read_text, "md": _read_text, "html": _read_html, "pdf": _read_pdf, "docx": _read_docx}[fmt]
    text = _normalise(reader(data, filename))
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

    html = decode(data, filename)
    text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True, deduplicate=False)
    if not text:
        # A bare page with no <article>-like block: fall back to its visible text.
        from lxml import html as lxml_html

        try:
            tree = lxml_html.fromstring(html)
            for bad in tree.xpath("//script|//style"):
                bad.drop_tree()
            text = "\n".join(t.strip() for t in tree.itertext() if t.strip())
        except Exception as exc:  # lxml raises several types on garbage
            raise LoadError(f"{filename}: 无法解析 HTML ({exc})") from exc
    return text


def _read_pdf(data: bytes, filename: str) -> str:
    import pdfplumber

    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            pages = [page.extract_text() or "" for page in pdf.pages]
    except Exception as exc:  # pdfminer raises many types on corrupt input
        raise LoadError(f"{filename}: PDF 文件损坏或无法读取 ({type(exc).__name__})") from exc
    return _reflow("\n".join(pages))


def _read_docx(data: bytes, filename: str) -> str:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # zipfile/lxml errors on corrupt input
        raise LoadError(f"{filename}: DOCX 文件损坏或无法读取 ({type(exc).__name__})") from exc
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n".join(lines)


_SENTENCE_END = "。！？；：!?;:”」）)"
_HEADING_START = re.compile(r"^\s*([一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[)）]|\d+[.．、])")


def _reflow(text: str) -> str:
    """PDF text breaks lines mid-sentence; join a line to the next unless it ends a sentence or the next is a heading."""
    out: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        if out and out[-1] and out[-1][-1] not in _SENTENCE_END and not _HEADING_START.match(line) and len(out[-1]) > 25:
            out[-1] += line
        else:
            out.append(line)
    return "\n".join(out)


def _normalise(text: str) -> str:
    # Offsets are into this string, so every later stage reads it unchanged.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u3000", " ").replace("\x00", "")
    return text
