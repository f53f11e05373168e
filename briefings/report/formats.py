"""The annual summary as text, Markdown, JSON or a self-contained HTML page; vi or en.

Vietnamese follows the Center's own writing (briefings/report/vi.py): two-digit counts in
prose (``08``), a dot between thousands (``1.700``), "hơn" before a figure rounded down,
dates as ``14/01/2022``. The issued Party-format report is briefings/report/document.py.
"""

from __future__ import annotations

import html
import json
import re
from datetime import date
from typing import Any

from briefings.report.vi import en_about, en_date, vi_about, vi_date, vi_dec, vi_int, vi_num, vi_pct

FORMATS = ("text", "markdown", "json", "html")
LANGS = ("vi", "en")

LABELS = {
    "en": {
        "title": "Current-affairs briefing programme: summary {period}",
        "roster": "Roster",
        "role": "role",
        "start": "at start",
        "end": "at end",
        "reporter": "reporters",
        "propagandist": "propagandists",
        "total": "total",
        "core": "core",
        "changes": "Changes during the period",
        "change": "change",
        "count": "count",
        "conferences": "Conferences held",
        "date": "date",
        "title_col": "title",
        "kinds": "kinds",
        "presenters": "presenters",
        "members": "members",
        "guests": "guests",
        "attendance": "Attendance",
        "figure": "figure",
        "value": "value",
        "member_attendances": "member attendances",
        "guest_attendances": "guest attendances",
        "total_attendances": "total attendances",
        "distinct_attendees": "distinct attendees",
        "per_member_at_end": "attendances per member",
        "attendance_rate": "attendance rate",
        "by_unit": "Attendance per unit",
        "unit": "unit",
        "attendances": "attendances",
        "members_at_end": "members",
        "per_member": "per member",
        "rate": "rate",
        "by_month": "Attendances per month",
        "month": "month",
        "awards": "Awards",
        "recipient": "recipient",
        "type": "type",
        "award": "award",
        "decision": "decision",
        "collective": "collective",
        "individual": "individual",
        "top": "Top participants",
        "name": "name",
        "attended": "attended",
        "eligible": "eligible",
        "information": "information",
        "thematic": "thematic",
        "review": "review",
        "as_of": "as known at",
        "enrolled": "enrolled",
        "retired": "retired",
        "reenrolled": "re-enrolled",
        "role_changed": "role changed",
        "transferred": "transferred",
    },
    "vi": {
        "title": "Tổng hợp công tác thông tin thời sự {period}",
        "roster": "Đội ngũ",
        "role": "chức danh",
        "start": "đầu kỳ",
        "end": "cuối kỳ",
        "reporter": "báo cáo viên",
        "propagandist": "tuyên truyền viên",
        "total": "tổng",
        "core": "nòng cốt",
        "changes": "Biến động trong kỳ",
        "change": "biến động",
        "count": "số lượng",
        "conferences": "Hội nghị đã tổ chức",
        "date": "ngày",
        "title_col": "tên hội nghị",
        "kinds": "loại",
        "presenters": "báo cáo viên trình bày",
        "members": "đội ngũ",
        "guests": "khách mời",
        "attendance": "Lượt tham dự",
        "figure": "chỉ tiêu",
        "value": "giá trị",
        "member_attendances": "lượt báo cáo viên, tuyên truyền viên",
        "guest_attendances": "lượt đại biểu khác",
        "total_attendances": "tổng số lượt",
        "distinct_attendees": "số người tham dự",
        "per_member_at_end": "lượt bình quân mỗi người",
        "attendance_rate": "tỷ lệ tham dự",
        "by_unit": "Lượt tham dự theo đơn vị",
        "unit": "đơn vị",
        "attendances": "lượt",
        "members_at_end": "số người",
        "per_member": "bình quân",
        "rate": "tỷ lệ",
        "by_month": "Lượt tham dự theo tháng",
        "month": "tháng",
        "awards": "Khen thưởng",
        "recipient": "tập thể / cá nhân",
        "type": "loại",
        "award": "hình thức",
        "decision": "quyết định",
        "collective": "tập thể",
        "individual": "cá nhân",
        "top": "Tham dự nhiều nhất",
        "name": "họ và tên",
        "attended": "đã dự",
        "eligible": "được mời",
        "information": "thông tin",
        "thematic": "chuyên đề",
        "review": "tổng kết",
        "as_of": "theo dữ liệu đến",
        "enrolled": "bổ sung",
        "retired": "thôi tham gia",
        "reenrolled": "tham gia lại",
        "role_changed": "đổi chức danh",
        "transferred": "chuyển đơn vị",
    },
}


def _vi_date(iso: str) -> str:
    return vi_date(iso)


def _period_label(s: dict[str, Any], lang: str) -> str:
    p = s["period"]
    if p.get("year") is not None:
        return ("năm " if lang == "vi" else "") + str(p["year"])
    if lang == "vi":
        return f"từ {_vi_date(p['start'])} đến {_vi_date(p['end'])}"
    return f"{p['start']} to {p['end']}"


# -------------------------------------------------------------- sentences


def _ongoing(p: dict[str, Any], today: date | None) -> bool:
    """Written while the period runs (the article's "Hiện nay", "đến nay"); otherwise, and
    when no date of writing is given, the prose speaks of a closed period."""
    return today is not None and date.fromisoformat(p["start"]) <= today <= date.fromisoformat(
        p["end"]
    )


def sentences(s: dict[str, Any], lang: str, today: date | None = None) -> list[str]:
    """The summary in the Center's prose: roster, conferences and attendances, awards.
    ``today``: the date of writing (an issued report's date)."""
    end = s["roster"]["at_end"]
    kinds = s["conferences"]["by_kind"]
    info, thematic = kinds.get("information", 0), kinds.get("thematic", 0)
    attendances = s["attendance"]["member_attendances"]
    aw = s["awards"]
    p = s["period"]
    ongoing = _ongoing(p, today)
    whole_year = p.get("year") is not None
    if lang == "vi":
        held = [f"{vi_int(info)} hội nghị thông tin"] if info or not thematic else []
        if thematic:
            held.append(f"{vi_int(thematic)} hội nghị chuyên đề")
        if ongoing:
            now = "Hiện nay"
            since = (
                "Từ đầu năm đến nay" if whole_year else f"Từ ngày {_vi_date(p['start'])} đến nay"
            )
        else:
            now = f"Đến ngày {_vi_date(p['end'])}"
            since = (
                f"Trong năm {p['year']}"
                if whole_year
                else f"Từ ngày {_vi_date(p['start'])} đến ngày {_vi_date(p['end'])}"
            )
        out = [
            f"{now}, đội ngũ báo cáo viên của thành phố có "
            f"{vi_int(end.get('reporter', 0))} đồng chí; tuyên truyền viên chi, đảng bộ cơ sở "
            f"{vi_int(end.get('propagandist', 0))} đồng chí.",
            f"{since}, Trung tâm đã tổ chức {' và '.join(held)} cho {vi_about(attendances)} lượt "
            "báo cáo viên, tuyên truyền viên cơ sở thuộc các chi, đảng bộ trực thuộc Thành ủy.",
        ]
        as_article = (
            aw.get("collective_party_units") == aw["collective"]
            and aw.get("individual_core_propagandists") == aw["individual"]
        )
        year = f" năm {p['year']}" if whole_year else ""
        if (aw["collective"] or aw["individual"]) and as_article:
            out.append(
                "Giám đốc Trung tâm Chính trị thành phố khen thưởng cho tập thể đội ngũ tuyên "
                f"truyền viên nòng cốt của {vi_int(aw['collective'])} Chi, Đảng bộ và "
                f"{vi_int(aw['individual'])} đồng chí tuyên truyền viên nòng cốt vì có thành tích "
                f"xuất sắc trong công tác thông tin thời sự của thành phố{year}."
            )
        elif aw["collective"] or aw["individual"]:
            out.append(
                f"Trung tâm khen thưởng cho {vi_int(aw['collective'])} tập thể và "
                f"{vi_int(aw['individual'])} cá nhân có thành tích xuất sắc."
            )
        return out
    held_en = [f"{info} information conference{'s' if info != 1 else ''}"]
    if thematic:
        held_en.append(f"{thematic} thematic conference{'s' if thematic != 1 else ''}")
    if ongoing:
        has = "The city has"
        since_en = (
            f"Since the beginning of {p['year']}" if whole_year else f"Since {en_date(p['start'])}"
        )
        held_verb = "has held"
    else:
        has = f"On {en_date(p['end'])} the city had"
        since_en = (
            f"In {p['year']}"
            if whole_year
            else f"From {en_date(p['start'])} to {en_date(p['end'])}"
        )
        held_verb = "held"
    out = [
        f"{has} {end.get('reporter', 0)} reporters and "
        f"{end.get('propagandist', 0)} grassroots propagandists on its roster.",
        f"{since_en}, the Center {held_verb} {' and '.join(held_en)} for {en_about(attendances)} "
        "attendances of reporters and propagandists.",
    ]
    if aw["collective"] or aw["individual"]:
        out.append(
            f"The Center granted awards to {aw['collective']} collectives and "
            f"{aw['individual']} individuals."
        )
    return out


# ----------------------------------------------------------------- tables


def _sections(s: dict[str, Any], lang: str) -> list[tuple[str, list[str], list[list[str]]]]:
    L = LABELS[lang]
    num = vi_num if lang == "vi" else (lambda n: f"{n:,}")

    def dec(x: float) -> str:
        return vi_dec(x) if lang == "vi" else f"{x:.2f}"

    def pct(x: float) -> str:
        return vi_pct(x) if lang == "vi" else f"{x * 100:.1f}%"

    def day(iso: str) -> str:
        return vi_date(iso) if lang == "vi" else iso

    def kind_names(kinds: list[str]) -> str:
        return ", ".join(L.get(k, k) for k in kinds)

    start, end = s["roster"]["at_start"], s["roster"]["at_end"]
    roster = [
        [L[k], num(start.get(k, 0)), num(end.get(k, 0))]
        for k in ("reporter", "propagandist", "total", "core")
    ]
    changes = [[L.get(k, k), num(v)] for k, v in s["roster"]["changes"].items()]
    confs = [
        [
            day(c["held_on"]),
            c["title"],
            kind_names(c["kinds"]),
            "; ".join(
                p["name"] + (f" ({p['affiliation']})" if p.get("affiliation") else "")
                for p in c["presenters"]
            ),
            num(c["member_attendances"]),
            num(c["guest_attendances"]),
        ]
        for c in s["conferences"]["list"]
    ]
    a = s["attendance"]
    figures = [
        [L[k], num(a[k])]
        for k in (
            "member_attendances",
            "guest_attendances",
            "total_attendances",
            "distinct_attendees",
        )
    ]
    figures.append([L["per_member_at_end"], dec(a["per_member_at_end"])])
    figures.append([L["attendance_rate"], pct(a["attendance_rate"])])
    figures += [
        [L["conferences"] + ": " + L.get(k, k), num(v)]
        for k, v in s["conferences"]["by_kind"].items()
    ]
    units = [
        [
            u["unit_name"],
            num(u["attendances"]),
            num(u["members_at_end"]),
            dec(u["per_member"]),
            pct(u["attendance_rate"]),
        ]
        for u in a["by_unit"]
    ]
    months = [
        [_month(m["month"], lang), num(m["members"]), num(m["guests"])] for m in a["by_month"]
    ]
    awards = [
        [
            w["recipient_name"],
            L[w["recipient_type"]],
            w["title"],
            f"{w['decision_number']} ({day(w['decision_date'])})",
        ]
        for w in s["awards"]["list"]
    ]
    top = [
        [
            t["full_name"],
            L.get(str(t["role"]), str(t["role"])),
            t["unit_name"],
            num(t["attended"]),
            num(t["eligible"]),
            pct(t["attendance_rate"]),
        ]
        for t in s["top_participants"]
    ]
    return [
        (L["roster"], [L["role"], L["start"], L["end"]], roster),
        (L["changes"], [L["change"], L["count"]], changes),
        (
            L["conferences"],
            [L["date"], L["title_col"], L["kinds"], L["presenters"], L["members"], L["guests"]],
            confs,
        ),
        (L["attendance"], [L["figure"], L["value"]], figures),
        (
            L["by_unit"],
            [L["unit"], L["attendances"], L["members_at_end"], L["per_member"], L["rate"]],
            units,
        ),
        (L["by_month"], [L["month"], L["members"], L["guests"]], months),
        (
            L["awards"] + f" ({L['collective']}: {num(s['awards']['collective'])}, "
            f"{L['individual']}: {num(s['awards']['individual'])})",
            [L["recipient"], L["type"], L["award"], L["decision"]],
            awards,
        ),
        (L["top"], [L["name"], L["role"], L["unit"], L["attended"], L["eligible"], L["rate"]], top),
    ]


def _month(ym: str, lang: str) -> str:
    """``2022-01`` → ``01/2022`` in Vietnamese."""
    return f"{ym[5:]}/{ym[:4]}" if lang == "vi" else ym


def _title(s: dict[str, Any], lang: str) -> str:
    t = LABELS[lang]["title"].format(period=_period_label(s, lang))
    if s["period"].get("as_of"):
        t += f" ({LABELS[lang]['as_of']} {s['period']['as_of']})"
    return t


def _text_table(title: str, head: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    body = [line(head), line(["-" * w for w in widths])] + [line(r) for r in rows]
    return "\n".join([title, *body])


def to_text(s: dict[str, Any], lang: str) -> str:
    parts = [_title(s, lang), "", *sentences(s, lang), ""]
    for title, head, rows in _sections(s, lang):
        parts += [_text_table(title, head, rows), ""]
    return "\n".join(parts)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#!~])")


def _md_text(value: str) -> str:
    """Text from data in markdown, printed literally: HTML escaped (no ``<img onerror>``
    reaches a renderer), markdown punctuation backslash-escaped, one line."""
    escaped = html.escape(value, quote=False)
    return _MD_SPECIAL.sub(r"\\\1", escaped).replace("\n", " ")


def _md_cell(value: str) -> str:
    return _md_text(value)


def to_markdown(s: dict[str, Any], lang: str) -> str:
    parts = [f"# {_md_text(_title(s, lang))}", "", *[_md_text(x) for x in sentences(s, lang)], ""]
    for title, head, rows in _sections(s, lang):
        parts += [
            f"## {_md_text(title)}",
            "",
            "| " + " | ".join(_md_cell(h) for h in head) + " |",
            "|" + "|".join("---" for _ in head) + "|",
        ]
        parts += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
        parts.append("")
    return "\n".join(parts)


def _wrap(label: str, width: int) -> list[str]:
    """Break a label at spaces into lines of at most ``width`` characters (a longer word
    gets a line of its own): a chart never cuts a unit's name."""
    lines: list[str] = []
    for word in label.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def bar_chart(
    title: str,
    items: list[tuple[str, int]],
    chart_id: str,
    num: Any = str,
    label_chars: int = 30,
) -> str:
    """A horizontal bar chart as inline SVG: no script, no network, prints as is. Long labels
    wrap onto more lines (each row as tall as its label); black bars with the value written
    beside them, so it reads in black and white; the drawing scales to the page's width."""
    top = max([v for _, v in items] + [1])
    line_h, label_w, bar_w, value_w = 14, 8 * label_chars, 360, 70
    rows, y = [], 4
    for label, value in items:
        lines = _wrap(label, label_chars)
        h = max(22, line_h * len(lines) + 8)
        w = round(bar_w * value / top)
        first = y + h / 2 - line_h * (len(lines) - 1) / 2 + 4
        spans = "".join(
            f'<tspan x="{label_w - 6}" y="{first + i * line_h:g}">{html.escape(t)}</tspan>'
            for i, t in enumerate(lines)
        )
        rows.append(
            f'<text text-anchor="end">{spans}</text>'
            f'<rect x="{label_w}" y="{y + h / 2 - 7:g}" width="{w}" height="14" fill="#333" '
            'stroke="#000"/>'
            f'<text x="{label_w + w + 4}" y="{y + h / 2 + 4:g}" class="v">{num(value)}</text>'
        )
        y += h
    width, height = label_w + bar_w + value_w, y + 4
    return (
        f'<figure id="{chart_id}" class="chart"><figcaption>{html.escape(title)}</figcaption>'
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height:g}" '
        f'width="100%" style="max-width:{width}px" role="img" '
        f'aria-label="{html.escape(title)}" font-size="12">{"".join(rows)}</svg></figure>'
    )


def to_html(s: dict[str, Any], lang: str) -> str:
    L = LABELS[lang]
    a = s["attendance"]
    key_figures = {
        "reporters": s["roster"]["at_end"].get("reporter", 0),
        "propagandists": s["roster"]["at_end"].get("propagandist", 0),
        "conferences": s["conferences"]["held"],
        "member-attendances": a["member_attendances"],
        "guest-attendances": a["guest_attendances"],
        "awards-collective": s["awards"]["collective"],
        "awards-individual": s["awards"]["individual"],
    }
    label = {
        "reporters": L["reporter"],
        "propagandists": L["propagandist"],
        "conferences": L["conferences"],
        "member-attendances": L["member_attendances"],
        "guest-attendances": L["guest_attendances"],
        "awards-collective": f"{L['awards']}: {L['collective']}",
        "awards-individual": f"{L['awards']}: {L['individual']}",
    }
    num = vi_num if lang == "vi" else (lambda n: f"{n:,}")
    figures_html = "".join(
        f'<div class="fig"><span class="n" id="fig-{k}" data-value="{v}">{num(v)}</span>'
        f'<span class="l">{html.escape(label[k])}</span></div>'
        for k, v in key_figures.items()
    )
    charts = bar_chart(
        L["by_month"],
        [(_month(m["month"], lang), m["members"] + m["guests"]) for m in a["by_month"]],
        "chart-month",
        num,
    )
    charts += bar_chart(
        L["by_unit"],
        [(u["unit_name"], u["attendances"]) for u in a["by_unit"][:25]],
        "chart-unit",
        num,
    )
    tables = []
    for title, head, rows in _sections(s, lang):
        thead = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        tbody = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
        )
        tables.append(
            f"<section><h2>{html.escape(title)}</h2><table><thead><tr>{thead}</tr>"
            f"</thead><tbody>{tbody}</tbody></table></section>"
        )
    prose = "".join(f"<p>{html.escape(x)}</p>" for x in sentences(s, lang))
    data = html.escape(json.dumps(s, ensure_ascii=False, sort_keys=True), quote=False)
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8">
<title>{html.escape(_title(s, lang))}</title>
<style>
body{{font-family:system-ui,"Noto Sans",Arial,sans-serif;margin:2em auto;max-width:960px;
color:#222}}
h1{{color:#8b0000;font-size:1.5em}} h2{{font-size:1.15em;border-bottom:1px solid #ccc}}
.figs{{display:flex;flex-wrap:wrap;gap:1em}} .fig{{border:1px solid #ddd;padding:.5em 1em}}
.fig .n{{display:block;font-size:1.6em;font-weight:bold}} .fig .l{{font-size:.8em;color:#555}}
table{{border-collapse:collapse;width:100%;font-size:.9em}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left}}
svg text{{font-size:12px}} svg .v{{fill:#333}} figure{{margin:1em 0}} figcaption{{font-weight:bold}}
@page{{size:A4;margin:20mm 15mm 20mm 30mm}}
@media print{{body{{margin:0;max-width:none}} section,figure{{break-inside:avoid}}}}
</style></head><body>
<h1>{html.escape(_title(s, lang))}</h1>
<div class="prose">{prose}</div>
<div class="figs">{figures_html}</div>
{charts}
{"".join(tables)}
<script type="application/json" id="summary-data">{data}</script>
</body></html>
"""


def render_summary(summary: dict[str, Any], fmt: str = "text", lang: str = "vi") -> str:
    """``text`` (default), ``markdown``, ``json`` (stable keys) or ``html`` (self-contained);
    Vietnamese by default, ``en`` on request."""
    return render(summary, fmt, lang)


def render(summary: dict[str, Any], fmt: str = "text", lang: str = "vi") -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    if lang not in LANGS:
        raise ValueError(f"language must be one of {', '.join(LANGS)}")
    # A reply's receipt describes the rendering, so it is not part of it.
    summary = {k: v for k, v in summary.items() if k not in ("receipt", "receipt_unavailable")}
    if fmt == "json":
        return json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if fmt == "markdown":
        return to_markdown(summary, lang)
    if fmt == "html":
        return to_html(summary, lang)
    return to_text(summary, lang)
