"""The annual report as the Center issues it: one Party-format document (Hướng dẫn
36-HD/VPTW) written four ways from the same facts.

- ``.html``: the Jinja2 template ``templates/bao-cao.html.j2`` with ``bao-cao.css`` (A4 print
  rules), for the screen and the browser's print;
- ``.pdf``: the same HTML laid out by WeasyPrint (page boxes, margins, page numbers from the
  second page as the guide wants; no browser process, and the same bytes every time: fixed
  metadata dates and PDF identifier);
- ``.docx``: python-docx, the form the Center edits and signs (same header, sections, tables,
  signer block and recipients);
- ``.xlsx``: openpyxl, the tables (roster, conferences, attendance per unit and month, awards).

Everything is a pure function of the summary, the issuing details and the template; the ZIP
containers (.docx, .xlsx) are rewritten with fixed entry times and document properties, so an
issued report written again is byte for byte the same.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import segno
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from briefings.report.formats import bar_chart, render_summary, sentences
from briefings.report.vi import en_date, vi_date, vi_date_long, vi_num, vi_pct
from contracts.calendar import CENTER_TZ
from contracts.canonical import canonical_json, sha256_hex
from contracts.reporting import IssuingBody, Narrative, Signer

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "bao-cao.html.j2"
STYLE = "bao-cao.css"
EXTENSIONS = ("html", "pdf", "docx", "xlsx")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

T: dict[str, dict[str, str]] = {
    "vi": {
        "party": "ĐẢNG CỘNG SẢN VIỆT NAM",
        "number_prefix": "Số",
        "kind": "BÁO CÁO",
        "summary_line": "tổng kết công tác thông tin thời sự {period}",
        "part_results": "I. Kết quả đạt được",
        "roster": "Đội ngũ báo cáo viên, tuyên truyền viên",
        "role": "Chức danh",
        "at_start": "Đầu kỳ",
        "at_end": "Cuối kỳ",
        "reporter": "Báo cáo viên",
        "propagandist": "Tuyên truyền viên",
        "total": "Tổng cộng",
        "core": "Trong đó nòng cốt",
        "conferences": "Hội nghị đã tổ chức",
        "no": "TT",
        "date": "Ngày",
        "title": "Tên hội nghị",
        "kinds": "Loại",
        "speakers": "Báo cáo viên trình bày",
        "attendances": "Lượt dự",
        "attendance": "Lượt tham dự",
        "awards": "Khen thưởng",
        "recipient": "Tập thể, cá nhân",
        "recipient_type": "Đối tượng",
        "award": "Hình thức",
        "decision": "Quyết định",
        "results": "Đánh giá chung",
        "shortcomings": "II. Hạn chế và nguyên nhân",
        "lessons": "III. Bài học kinh nghiệm",
        "orientations": "IV. Phương hướng, nhiệm vụ {next}",
        "not_written": "(Chưa có nội dung.)",
        "recipients": "Nơi nhận:",
        "receipt": "Biên nhận số liệu.",
        "receipt_help": (
            "Mã QR là biên nhận mà lệnh briefings audit check-receipt đối chiếu với lịch sử "
            "sự kiện."
        ),
        "events": "sự kiện",
        "cut": "đến số thứ tự",
        "events_digest": "mã dữ liệu",
        "figures_digest": "mã số liệu",
        "information": "thông tin",
        "thematic": "chuyên đề",
        "review": "tổng kết",
        "collective": "tập thể",
        "individual": "cá nhân",
        "by_month": "Lượt tham dự theo tháng",
        "by_unit": "Lượt tham dự theo đơn vị",
        "decision_of": "số {number} ngày {date}",
        "none": "không có",
    },
    "en": {
        "party": "COMMUNIST PARTY OF VIETNAM",
        "number_prefix": "No.",
        "kind": "REPORT",
        "summary_line": "on the current-affairs briefing programme {period}",
        "part_results": "I. Results",
        "roster": "Reporters and propagandists",
        "role": "Role",
        "at_start": "At start",
        "at_end": "At end",
        "reporter": "Reporters",
        "propagandist": "Propagandists",
        "total": "Total",
        "core": "of whom core",
        "conferences": "Conferences held",
        "no": "No.",
        "date": "Date",
        "title": "Title",
        "kinds": "Kind",
        "speakers": "Speakers",
        "attendances": "Attendances",
        "attendance": "Attendance",
        "awards": "Awards",
        "recipient": "Recipient",
        "recipient_type": "Type",
        "award": "Award",
        "decision": "Decision",
        "results": "Overall assessment",
        "shortcomings": "II. Shortcomings and their causes",
        "lessons": "III. Lessons learnt",
        "orientations": "IV. Orientations and tasks for {next}",
        "not_written": "(Not written.)",
        "recipients": "Recipients:",
        "receipt": "Receipt of the figures.",
        "receipt_help": (
            "The QR code is a receipt that briefings audit check-receipt confirms against the "
            "event history."
        ),
        "events": "events",
        "cut": "up to",
        "events_digest": "events digest",
        "figures_digest": "figures digest",
        "information": "information",
        "thematic": "thematic",
        "review": "review",
        "collective": "collective",
        "individual": "individual",
        "by_month": "Attendances per month",
        "by_unit": "Attendances per unit",
        "decision_of": "No. {number} of {date}",
        "none": "none",
    },
}


@dataclass(frozen=True)
class Issue:
    """What the clerk states when issuing: number, date, who signs, who receives, the prose."""

    number: str
    issued_on: date
    signer: Signer
    recipients: list[str]
    lang: str = "vi"
    body: IssuingBody = field(default_factory=IssuingBody)
    summary_line: str = ""
    narrative: Narrative = field(default_factory=Narrative)


def file_stem(number: str) -> str:
    """``45-BC/TTCT`` → ``45-BC-TTCT``: the number as a file name."""
    return re.sub(r"[^0-9A-Za-zÀ-ỹĐđ_-]+", "-", number).strip("-")


def template_digest() -> str:
    """SHA-256 over the template and its style sheet, as recorded in ``ReportIssued``."""
    h = hashlib.sha256()
    for name in (TEMPLATE, STYLE):
        h.update(name.encode() + b"\0" + (TEMPLATES / name).read_bytes() + b"\0")
    return h.hexdigest()


def narrative_digest(narrative: Narrative) -> str:
    return sha256_hex(canonical_json(narrative.model_dump(mode="json")))


def default_summary_line(summary: dict[str, Any], lang: str) -> str:
    p = summary["period"]
    if p.get("year") is not None:
        period = f"năm {p['year']}" if lang == "vi" else str(p["year"])
    elif lang == "vi":
        period = f"từ ngày {vi_date(p['start'])} đến ngày {vi_date(p['end'])}"
    else:
        period = f"from {en_date(p['start'])} to {en_date(p['end'])}"
    return T[lang]["summary_line"].format(period=period)


# ------------------------------------------------------------------- the receipt


def paper_receipt(basis: dict[str, Any], summary: dict[str, Any], lang: str) -> dict[str, Any]:
    """The receipt printed as a QR code: the summary's basis (without the per-stream detail,
    to keep the code small) and the digest of the figures (the JSON rendering), which
    ``briefings audit check-receipt`` recomputes by replaying the cut."""
    output = render_summary(summary, "json", lang)
    small = {k: v for k, v in basis.items() if k != "streams"}
    return {
        **small,
        "format": "json",
        "lang": lang,
        "output_digest": sha256_hex(output.encode("utf-8")),
    }


def receipt_text(receipt: dict[str, Any]) -> str:
    """The QR code's content: the receipt as compact canonical JSON (a receipt file)."""
    return json.dumps(receipt, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _qr(receipt: dict[str, Any]) -> segno.QRCode:
    return segno.make(receipt_text(receipt), error="m", micro=False)


def qr_svg(receipt: dict[str, Any]) -> str:
    svg: str = _qr(receipt).svg_inline(border=2, omitsize=True, dark="#000")
    return svg


def qr_png(receipt: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    _qr(receipt).save(buf, kind="png", scale=6, border=2)
    return buf.getvalue()


# -------------------------------------------------------------------- the context


def _kinds(kinds: list[str], t: dict[str, str]) -> str:
    return ", ".join(t.get(k, k) for k in kinds)


def _speakers(presenters: list[dict[str, Any]]) -> str:
    return "; ".join(
        p["name"] + (f" ({p['affiliation']})" if p.get("affiliation") else "") for p in presenters
    )


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def context(summary: dict[str, Any], issue: Issue, basis: dict[str, Any]) -> dict[str, Any]:
    """Everything the template (and the Word and Excel writers) show, already worded."""
    lang = issue.lang
    t = T[lang]
    vi = lang == "vi"
    num = vi_num if vi else (lambda n: f"{n:,}")
    day = vi_date if vi else en_date
    p = summary["period"]
    start, end = summary["roster"]["at_start"], summary["roster"]["at_end"]
    roster = [
        {"label": t[k], "start": num(start.get(k, 0)), "end": num(end.get(k, 0))}
        for k in ("reporter", "propagandist", "total", "core")
    ]
    conferences = [
        {
            "date": day(c["held_on"]),
            "title": c["title"],
            "kinds": _kinds(c["kinds"], t),
            "speakers": _speakers(c["presenters"]),
            "attendances": num(c["member_attendances"] + c["guest_attendances"]),
            "members": c["member_attendances"],
            "guests": c["guest_attendances"],
        }
        for c in summary["conferences"]["list"]
    ]
    a = summary["attendance"]
    if vi:
        attendance = [
            f"Tổng số {vi_num(a['total_attendances'])} lượt tham dự, trong đó "
            f"{vi_num(a['member_attendances'])} lượt báo cáo viên, tuyên truyền viên và "
            f"{vi_num(a['guest_attendances'])} lượt đại biểu khác; "
            f"{vi_num(a['distinct_attendees'])} đồng chí báo cáo viên, tuyên truyền viên dự ít "
            f"nhất một hội nghị; tỷ lệ tham dự đạt {vi_pct(a['attendance_rate'])}."
        ]
    else:
        attendance = [
            f"{a['total_attendances']:,} attendances in all: {a['member_attendances']:,} of "
            f"reporters and propagandists and {a['guest_attendances']:,} of other delegates; "
            f"{a['distinct_attendees']:,} members attended at least one conference; attendance "
            f"rate {a['attendance_rate'] * 100:.1f}%."
        ]
    aw = summary["awards"]
    opening = sentences(summary, lang, today=issue.issued_on)
    awards_sentence = (
        opening[2]
        if len(opening) > 2
        else (f"Không có khen thưởng trong kỳ ({t['none']})." if vi else "No awards in the period.")
    )
    awards = [
        {
            "name": w["recipient_name"],
            "type": t[w["recipient_type"]],
            "title": w["title"],
            "decision": t["decision_of"].format(
                number=w["decision_number"], date=day(w["decision_date"])
            ),
        }
        for w in aw["list"]
    ]
    next_year = (
        (f"năm {p['year'] + 1}" if vi else str(p["year"] + 1))
        if p.get("year") is not None
        else ("kỳ tới" if vi else "the next period")
    )
    n = issue.narrative
    narrative = [
        {"heading": f"5. {t['results']}", "numbered": True, "paragraphs": _paragraphs(n.results)},
        {
            "heading": t["shortcomings"],
            "numbered": False,
            "paragraphs": _paragraphs(n.shortcomings),
        },
        {"heading": t["lessons"], "numbered": False, "paragraphs": _paragraphs(n.lessons)},
        {
            "heading": t["orientations"].format(next=next_year),
            "numbered": False,
            "paragraphs": _paragraphs(n.orientations),
        },
    ]
    receipt = paper_receipt(basis, summary, lang)
    months = [
        (f"{m['month'][5:]}/{m['month'][:4]}" if vi else m["month"], m["members"] + m["guests"])
        for m in a["by_month"]
    ]
    units = [(u["unit_name"], u["attendances"]) for u in a["by_unit"]]
    date_line = (
        f"{issue.body.place}, {vi_date_long(issue.issued_on)}"
        if vi
        else f"{issue.body.place}, {en_date(issue.issued_on)}"
    )
    return {
        "lang": lang,
        "t": t,
        "number": issue.number,
        "created": datetime.combine(issue.issued_on, time(0), CENTER_TZ).isoformat(),
        "body": issue.body,
        "date_line": date_line,
        "summary_line": issue.summary_line or default_summary_line(summary, lang),
        "opening": opening[:2],
        "roster": roster,
        "conferences": conferences,
        "conferences_total": num(a["total_attendances"]),
        "attendance": attendance,
        "chart_month": bar_chart(t["by_month"], months, "chart-month", num, label_chars=10),
        "chart_unit": bar_chart(t["by_unit"], units, "chart-unit", num, label_chars=34),
        "awards_sentence": awards_sentence,
        "awards": awards,
        "narrative": narrative,
        "signer": issue.signer,
        "recipients": issue.recipients,
        "paper_receipt": receipt,
        "receipt": {
            **receipt,
            "qr_svg": qr_svg(receipt),
            "qr_text": receipt_text(receipt),
            "cut": ", ".join(f"{s} {q}" for s, q in sorted(receipt["cut"].items())),
            "events_digest_short": receipt["events_digest"][:16],
            "output_digest_short": receipt["output_digest"][:16],
        },
        "summary": summary,
    }


# ------------------------------------------------------------------ the writers


def render_html(ctx: dict[str, Any]) -> str:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template(TEMPLATE).render(**ctx)


def render_pdf(html_text: str, ctx: dict[str, Any]) -> bytes:
    from weasyprint import HTML  # imported here: the text formats need none of it

    identifier = hashlib.sha256(f"{ctx['number']}|{ctx['created']}".encode()).hexdigest()[:32]
    pdf: bytes = HTML(string=html_text, base_url=str(TEMPLATES)).write_pdf(
        pdf_identifier=identifier.encode(), uncompressed_pdf=False
    )
    return pdf


_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def fixed_zip(data: bytes, issued_on: date) -> bytes:
    """The same ZIP with every entry dated 1980-01-01 and the document's "modified" property
    set to the issue date (python-docx and openpyxl write the clock's time into both)."""
    stamp = f"{issued_on.isoformat()}T00:00:00Z".encode()
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _MODIFIED.sub(rb"\g<1>" + stamp + rb"\g<2>", content)
            fixed = zipfile.ZipInfo(info.filename, ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            dst.writestr(fixed, content)
    return out.getvalue()


def render_documents(
    summary: dict[str, Any], issue: Issue, basis: dict[str, Any]
) -> dict[str, bytes]:
    """``{extension: bytes}`` for html, pdf, docx and xlsx."""
    from briefings.report import office

    ctx = context(summary, issue, basis)
    html_text = render_html(ctx)
    return {
        "html": html_text.encode("utf-8"),
        "pdf": render_pdf(html_text, ctx),
        "docx": fixed_zip(office.docx(ctx, qr_png(ctx["paper_receipt"])), issue.issued_on),
        "xlsx": fixed_zip(office.xlsx(ctx), issue.issued_on),
    }


def digests(documents: dict[str, bytes]) -> dict[str, str]:
    return {ext: hashlib.sha256(data).hexdigest() for ext, data in sorted(documents.items())}


def write_documents(documents: dict[str, bytes], number: str, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for ext in EXTENSIONS:
        path = directory / f"{file_stem(number)}.{ext}"
        path.write_bytes(documents[ext])
        written.append(path)
    return written


__all__ = [
    "EXTENSIONS",
    "Issue",
    "context",
    "digests",
    "file_stem",
    "narrative_digest",
    "paper_receipt",
    "render_documents",
    "template_digest",
    "write_documents",
]


def issue_of(issued: dict[str, Any]) -> Issue:
    """The issuing details of a recorded ``ReportIssued`` (its JSON payload)."""
    return Issue(
        number=issued["number"],
        issued_on=date.fromisoformat(issued["issued_on"]),
        signer=Signer.model_validate(issued["signer"]),
        recipients=list(issued["recipients"]),
        lang=issued["lang"],
        body=IssuingBody.model_validate(issued["body"]),
        summary_line=issued["summary_line"],
        narrative=Narrative.model_validate(issued["narrative"]),
    )
