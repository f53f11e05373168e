"""The issued report as Word (python-docx) and its tables as Excel (openpyxl), from the same
context as the HTML template (document.py ``context``): same header blocks, sections, tables,
signer block, recipients and receipt. Document properties are the issue date, never the clock.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import _Cell
from docx.text.paragraph import Paragraph
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

FONT = "Times New Roman"


def _fixed(ctx: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(ctx["created"]).replace(tzinfo=None)


def _para(
    where: Any,
    text: str = "",
    size: float = 14,
    bold: bool = False,
    italic: bool = False,
    underline: bool = False,
    align: Any = WD_ALIGN_PARAGRAPH.CENTER,
    indent: bool = False,
    after: float = 0,
) -> Paragraph:
    p = where.add_paragraph()
    p.alignment = align
    p.paragraph_format.space_after = Pt(after)
    p.paragraph_format.space_before = Pt(0)
    if indent:
        p.paragraph_format.first_line_indent = Mm(10)
    if text:
        run = p.add_run(text)
        run.font.size = Pt(size)
        run.font.bold = bold
        run.font.italic = italic
        run.font.underline = underline
    return p


def _cell(cell: _Cell) -> _Cell:
    """A table cell without its default empty paragraph."""
    for p in list(cell.paragraphs):
        p._element.getparent().remove(p._element)
    return cell


def _page_number(section: Any) -> None:
    """A centred page number in the top margin from the second page (36-HD/VPTW)."""
    section.different_first_page_header_footer = True
    p = section.header.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    p._p.append(field)


def _table(doc: Any, head: list[str], rows: list[list[str]], numeric: set[int]) -> None:
    table = doc.add_table(rows=1, cols=len(head))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for i, h in enumerate(head):
        _para(_cell(table.rows[0].cells[i]), h, size=12, bold=True)
    for row in rows:
        cells = table.add_row().cells
        for i, value in enumerate(row):
            align = WD_ALIGN_PARAGRAPH.RIGHT if i in numeric else WD_ALIGN_PARAGRAPH.LEFT
            _para(_cell(cells[i]), value, size=12, align=align)
    _para(doc, "", after=4)


def docx(ctx: dict[str, Any], qr_png: bytes) -> bytes:
    t = ctx["t"]
    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(14)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(20), Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    _page_number(section)
    props = doc.core_properties
    props.author = ctx["body"].name
    props.last_modified_by = ctx["body"].name
    props.title = f"{t['kind']} {ctx['number']}"
    props.subject = ctx["summary_line"]
    props.created = props.modified = _fixed(ctx)
    props.last_printed = _fixed(ctx)
    props.revision = 1
    props.language = ctx["lang"]

    header = doc.add_table(rows=1, cols=2)
    header.autofit = False
    left, right = (_cell(c) for c in header.rows[0].cells)
    left.width, right.width = Mm(72), Mm(93)
    _para(left, ctx["body"].parent.upper())
    _para(left, ctx["body"].name.upper(), bold=True)
    _para(left, "*")
    _para(left, f"{t['number_prefix']} {ctx['number']}")
    _para(right, t["party"], size=15, bold=True, underline=True)
    _para(right, ctx["date_line"], italic=True)

    _para(doc, "", after=6)
    _para(doc, t["kind"], size=16, bold=True)
    _para(doc, ctx["summary_line"], bold=True)
    _para(doc, "-----", after=12)
    justify = WD_ALIGN_PARAGRAPH.JUSTIFY
    for sentence in ctx["opening"]:
        _para(doc, sentence, align=justify, indent=True, after=6)

    def heading(text: str, upper: bool = False) -> None:
        _para(doc, text.upper() if upper else text, bold=True, align=justify, indent=True, after=6)

    heading(t["part_results"], upper=True)
    heading(f"1. {t['roster']}")
    _table(
        doc,
        [t["role"], t["at_start"], t["at_end"]],
        [[r["label"], r["start"], r["end"]] for r in ctx["roster"]],
        {1, 2},
    )
    heading(f"2. {t['conferences']}")
    _table(
        doc,
        [t["no"], t["date"], t["title"], t["kinds"], t["speakers"], t["attendances"]],
        [
            [str(i), c["date"], c["title"], c["kinds"], c["speakers"], c["attendances"]]
            for i, c in enumerate(ctx["conferences"], 1)
        ]
        + [["", t["total"], "", "", "", ctx["conferences_total"]]],
        {0, 5},
    )
    heading(f"3. {t['attendance']}")
    for line in ctx["attendance"]:
        _para(doc, line, align=justify, indent=True, after=6)
    heading(f"4. {t['awards']}")
    _para(doc, ctx["awards_sentence"], align=justify, indent=True, after=6)
    _table(
        doc,
        [t["no"], t["recipient"], t["recipient_type"], t["award"], t["decision"]],
        [
            [str(i), w["name"], w["type"], w["title"], w["decision"]]
            for i, w in enumerate(ctx["awards"], 1)
        ],
        {0},
    )
    for part in ctx["narrative"]:
        heading(part["heading"], upper=not part["numbered"])
        for para in part["paragraphs"] or [t["not_written"]]:
            _para(doc, para, align=justify, indent=True, after=6)

    closing = doc.add_table(rows=1, cols=2)
    recipients, signer = (_cell(c) for c in closing.rows[0].cells)
    _para(
        recipients,
        t["recipients"],
        bold=True,
        italic=True,
        underline=True,
        align=WD_ALIGN_PARAGRAPH.LEFT,
    )
    last = len(ctx["recipients"]) - 1
    for i, r in enumerate(ctx["recipients"]):
        _para(
            recipients, f"- {r}{'.' if i == last else ','}", size=12, align=WD_ALIGN_PARAGRAPH.LEFT
        )
    if ctx["signer"].authority:
        _para(signer, ctx["signer"].authority.upper(), bold=True)
    _para(signer, ctx["signer"].title.upper(), bold=True, after=72)
    _para(signer, ctx["signer"].name, bold=True)

    receipt = ctx["receipt"]
    _para(doc, "", after=12)
    doc.add_picture(io.BytesIO(qr_png), width=Mm(30))
    _para(doc, f"{t['receipt']} {t['receipt_help']}", size=10, align=WD_ALIGN_PARAGRAPH.LEFT)
    for line in (
        f"{t['events']}: {receipt['events']} · {t['cut']}: {receipt['cut']}",
        f"{t['events_digest']}: {receipt['events_digest_short']}",
        f"{t['figures_digest']}: {receipt['output_digest_short']}",
    ):
        _para(doc, line, size=9, align=WD_ALIGN_PARAGRAPH.LEFT)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


# ------------------------------------------------------------------------ Excel


def _sheet(wb: Workbook, title: str, head: list[str], rows: list[list[Any]]) -> None:
    ws = wb.create_sheet(title)
    ws.append(head)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        ws.append(row)
        # Text from data is text: openpyxl makes a string starting with "=" a formula; a
        # name like "=HYPERLINK(...)" stays the literal name.
        for cell in ws[ws.max_row]:
            if cell.data_type == "f":
                cell.data_type = "s"
    for i, h in enumerate(head, 1):
        longest = max([len(str(h))] + [len(str(r[i - 1])) for r in rows])
        ws.column_dimensions[ws.cell(1, i).column_letter].width = min(60, max(8, longest + 2))
    ws.freeze_panes = "A2"


def xlsx(ctx: dict[str, Any]) -> bytes:
    """The report's tables as numbers (not text), one sheet each."""
    s, t = ctx["summary"], ctx["t"]
    vi = ctx["lang"] == "vi"
    wb = Workbook()
    wb.remove(wb.active)
    fixed = _fixed(ctx)
    wb.properties.creator = ctx["body"].name
    wb.properties.lastModifiedBy = ctx["body"].name
    wb.properties.title = f"{t['kind']} {ctx['number']}"
    wb.properties.created = fixed
    wb.properties.modified = fixed
    start, end = s["roster"]["at_start"], s["roster"]["at_end"]
    _sheet(
        wb,
        "Doi ngu" if vi else "Roster",
        [t["role"], t["at_start"], t["at_end"]],
        [
            [t[k], start.get(k, 0), end.get(k, 0)]
            for k in ("reporter", "propagandist", "total", "core")
        ],
    )
    _sheet(
        wb,
        "Hoi nghi" if vi else "Conferences",
        [
            t["no"],
            t["date"],
            t["title"],
            t["kinds"],
            t["speakers"],
            "member_attendances",
            "guest_attendances",
        ],
        [
            [
                i,
                date.fromisoformat(c["held_on"]),
                c["title"],
                ctx["conferences"][i - 1]["kinds"],
                ctx["conferences"][i - 1]["speakers"],
                c["member_attendances"],
                c["guest_attendances"],
            ]
            for i, c in enumerate(s["conferences"]["list"], 1)
        ],
    )
    a = s["attendance"]
    _sheet(
        wb,
        "Theo don vi" if vi else "Per unit",
        [
            "unit_id",
            "Đơn vị" if vi else "Unit",
            "attendances",
            "members_at_end",
            "per_member",
            "attendance_rate",
        ],
        [
            [
                u["unit_id"],
                u["unit_name"],
                u["attendances"],
                u["members_at_end"],
                u["per_member"],
                u["attendance_rate"],
            ]
            for u in a["by_unit"]
        ],
    )
    _sheet(
        wb,
        "Theo thang" if vi else "Per month",
        ["month", "members", "guests"],
        [[m["month"], m["members"], m["guests"]] for m in a["by_month"]],
    )
    _sheet(
        wb,
        "Khen thuong" if vi else "Awards",
        [t["recipient"], t["recipient_type"], t["award"], "decision_number", "decision_date"],
        [
            [
                w["recipient_name"],
                w["recipient_type"],
                w["title"],
                w["decision_number"],
                date.fromisoformat(w["decision_date"]),
            ]
            for w in s["awards"]["list"]
        ],
    )
    for ws in wb.worksheets:
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, date):
                    cell.number_format = "DD/MM/YYYY"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
