"""Build the corpus PDFs from their `.pdf.source` sources: `python tests/data/docs/make_pdfs.py`.

Each page carries what published PDFs carry and a reader must not index: a running header (the issuing body's
document banner), a footer with the page number (「— 2 —」) and a page counter (「第 2 页」). Lines with
` | ` become a drawn table. Needs fpdf2 (test extra) and a CJK TrueType font (Debian fonts-droid-fallback, with DejaVu for digits).
The PDFs are committed, so tests do not need fpdf2; only regenerating them does.
"""
from __future__ import annotations

from pathlib import Path

FONT = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"
LATIN = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
HERE = Path(__file__).resolve().parent


def build(src: Path) -> Path:
    from fpdf import FPDF

    lines = [l for l in src.read_text(encoding="utf-8").splitlines() if l.strip()]
    header = lines[-2] + "文件" if lines[-2].endswith("人民政府") else "法治政府建设"

    class Doc(FPDF):
        def header(self):
            self.set_font("cjk", size=9)
            self.cell(0, 6, header, align="C", new_x="LMARGIN", new_y="NEXT")
            self.ln(4)

        def footer(self):
            self.set_y(-15)
            self.set_font("cjk", size=9)
            self.cell(0, 5, f"— {self.page_no()} —", align="C", new_x="LMARGIN", new_y="NEXT")
            self.cell(0, 5, f"第 {self.page_no()} 页", align="R")

    pdf = Doc(format=(105, 148))  # A6: short reports still run over several pages
    pdf.add_font("cjk", fname=FONT)
    pdf.add_font("latin", fname=LATIN)  # the CJK font has no ASCII digits
    pdf.set_fallback_fonts(["latin"])
    pdf.set_auto_page_break(True, margin=22)
    pdf.add_page()
    pdf.set_font("cjk", size=11)
    table: list[list[str]] = []
    for line in lines + [""]:
        if " | " in line:
            table.append([c.strip() for c in line.split("|")])
            continue
        if table:
            with pdf.table(text_align="CENTER", first_row_as_headings=False) as t:
                for row in table:
                    r = t.row()
                    for cell in row:
                        r.cell(cell)
            table = []
        if line:
            pdf.multi_cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    out = src.with_suffix("")  # x.pdf.source -> x.pdf
    pdf.output(str(out))
    return out


if __name__ == "__main__":
    for src in sorted(HERE.glob("*/*.pdf.source")):
        print(build(src))
