"""Report figures folded from the raw fact rows: pure functions, no I/O, no clock.

Every figure is derived here at query time (members' state as of a date from their
effective-dated changes, joined with attendance and conferences), which is what makes the
stored facts independent of how the streams interleaved.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from contracts.reporting import (
    AnnualSummary,
    AttendanceSection,
    AwardsSection,
    ConferencesSection,
    GrantedAward,
    HeldConference,
    MonthAttendance,
    RosterSection,
    SummaryPeriod,
    TopParticipant,
    UnitAttendance,
)
from runtime.domain import DomainError

ROLES = ("reporter", "propagandist")
KINDS = ("information", "thematic", "review")
TOP_N = 10
Value = str | bool | None
"""A field's value in a change row: text, or a boolean for yes/no fields (active, core)."""
_EMPTY: dict[str, Value] = {}


def _text(value: Value) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    year: int | None = None

    @classmethod
    def of_year(cls, year: int) -> Period:
        return cls(date(year, 1, 1), date(year, 12, 31), year)


@dataclass
class History:
    """Effective-dated field changes of members or units, foldable as of any date.

    A period's query may load less (adapters/queries.py): ``base``, each ident's state on
    ``base_day`` folded by the database, with only the ``changes`` effective after it; and
    ``names``, each ident's last recorded value of a display field (``latest``), whatever its
    date. States on or after ``base_day`` are then those of the whole history."""

    changes: dict[str, list[tuple[date, int, str, Value]]] = field(default_factory=dict)
    base: dict[str, dict[str, Value]] = field(default_factory=dict)
    base_day: date | None = None
    names: dict[str, dict[str, Value]] | None = None
    # per ident: the distinct effective dates and the state after all changes up to each
    _timelines: dict[str, tuple[list[date], list[dict[str, Value]]]] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def of(cls, rows: Iterable[dict[str, Any]], key: str) -> History:
        return cls(_by_ident(rows, key))

    def timeline(self, ident: str) -> tuple[list[date], list[dict[str, Value]]]:
        """The dates the state changed on and the state from each (shared: do not mutate)."""
        found = self._timelines.get(ident)
        if found is None:
            days: list[date] = []
            states: list[dict[str, Value]] = []
            state: dict[str, Value] = {}
            if ident in self.base and self.base_day is not None:
                state = self.base[ident]
                days.append(self.base_day)
                states.append(state)
            for eff, _seq, name, value in self.changes.get(ident, ()):
                if days and days[-1] == eff:
                    state[name] = value
                    continue
                state = {**state, name: value}
                days.append(eff)
                states.append(state)
            found = self._timelines[ident] = (days, states)
        return found

    def state(self, ident: str, day: date | None) -> dict[str, Value]:
        """The fields as of ``day`` (None: everything known), in effective order."""
        return dict(self.view(ident, day))

    def view(self, ident: str, day: date | None) -> dict[str, Value]:
        """``state`` without the copy (shared: do not mutate)."""
        days, states = self.timeline(ident)
        i = len(days) if day is None else bisect_right(days, day)
        return states[i - 1] if i else _EMPTY

    def latest(self, ident: str, name: str) -> str | None:
        """The value last recorded (by sequence), whatever its date: names, for display."""
        if self.names is not None:
            return _text(self.names.get(ident, _EMPTY).get(name))
        best: tuple[int, Value] | None = None
        for _eff, seq, fname, value in self.changes.get(ident, ()):
            if fname == name and (best is None or seq > best[0]):
                best = (seq, value)
        return _text(best[1]) if best else None

    def events_between(self, start: date, end: date) -> Counter[str]:
        return Counter(
            v
            for items in self.changes.values()
            for eff, _s, f, v in items
            if f == "_event" and isinstance(v, str) and start <= eff <= end
        )

    def ids(self) -> list[str]:
        return sorted(self.changes.keys() | self.base.keys())


def _by_ident(
    rows: Iterable[dict[str, Any]], key: str
) -> dict[str, list[tuple[date, int, str, str | bool | None]]]:
    out: dict[str, list[tuple[date, int, str, str | bool | None]]] = defaultdict(list)
    for row in rows:
        flag = row.get("flag")  # yes/no fields are stored as booleans
        value = bool(flag) if flag is not None else row["value"]
        out[row[key]].append((row["effective_on"], row["seq"], row["field"], value))
    for items in out.values():
        items.sort(key=lambda c: (c[0], c[1]))
    return dict(out)


def active_members(members: History, day: date) -> dict[str, dict[str, Value]]:
    out = {}
    for mid in members.ids():
        s = members.view(mid, day)  # shared: read only
        if s.get("active") is True:
            out[mid] = s
    return out


def _roster_counts(active: dict[str, dict[str, Value]]) -> dict[str, int]:
    counts = {role: 0 for role in ROLES}
    for s in active.values():
        counts[str(s.get("role"))] = counts.get(str(s.get("role")), 0) + 1
    counts["total"] = len(active)
    counts["core"] = sum(1 for s in active.values() if s.get("core") is True)
    return counts


def _held(conferences: list[dict[str, Any]], period: Period) -> list[dict[str, Any]]:
    held = [
        c
        for c in conferences
        if c["status"] == "held"
        and c["held_on"] is not None
        and period.start <= c["held_on"] <= period.end
    ]
    return sorted(held, key=lambda c: (c["held_on"], c["conference_id"]))


@dataclass
class Facts:
    """The fact rows of one read model, indexed for the queries."""

    members: History
    units: History
    conferences: list[dict[str, Any]]
    attended: dict[str, set[str]]  # conference -> member ids (withdrawn ones left out)
    recorded_unit: dict[tuple[str, str], str | None]
    guests: dict[str, dict[str, int]]  # conference -> category -> headcount
    awards: list[dict[str, Any]]
    # counted by the database; then ``attended`` holds only the members in ``detail``
    # (``needs_detail``)
    tallies: Tallies | None = None
    detail: set[str] | None = None

    @classmethod
    def of(cls, rows: dict[str, list[dict[str, Any]]]) -> Facts:
        attended: dict[str, set[str]] = defaultdict(set)
        recorded_unit: dict[tuple[str, str], str | None] = {}
        for row in rows["attendance"]:
            if row["attended"]:
                attended[row["conference_id"]].add(row["member_id"])
                recorded_unit[(row["conference_id"], row["member_id"])] = row["unit_id"]
        guests: dict[str, dict[str, int]] = defaultdict(dict)
        for row in rows["guests"]:
            guests[row["conference_id"]][row["category"]] = int(row["headcount"])
        return cls(
            History.of(rows["member_changes"], "member_id"),
            History.of(rows["unit_changes"], "unit_id"),
            list(rows["conferences"]),
            dict(attended),
            recorded_unit,
            dict(guests),
            list(rows["awards"]),
        )

    def unit_name(self, unit_id: str | None) -> str:
        if unit_id is None:
            return "?"
        return self.units.latest(unit_id, "name") or unit_id

    def unit_kind(self, unit_id: str | None) -> str:
        return (self.units.latest(unit_id, "kind") or "") if unit_id else ""

    def member_name(self, member_id: str) -> str:
        return self.members.latest(member_id, "full_name") or member_id


@dataclass(frozen=True)
class Tallies:
    """Attendances at a period's held conferences: per member (count, first and last day)
    and per conference."""

    per_member: dict[str, tuple[int, date, date]]
    per_conference: dict[str, int]

    @classmethod
    def of(cls, attended: dict[str, set[str]], held: list[dict[str, Any]]) -> Tallies:
        per_member: dict[str, tuple[int, date, date]] = {}
        per_conference: dict[str, int] = {}
        for conf in held:
            cid, day = conf["conference_id"], conf["held_on"]
            present = attended.get(cid, set())
            per_conference[cid] = len(present)
            for mid in present:
                n, first, last = per_member.get(mid, (0, day, day))
                per_member[mid] = (n + 1, min(first, day), max(last, day))
        return cls(per_member, per_conference)


def needs_detail(members: History, tallies: Tallies) -> set[str]:
    """Members whose attendances cannot all be counted under one unit and role: their state
    changed between their first and last attended conference, or it names no unit (then
    each attendance's recorded unit counts)."""
    out = set()
    for mid, (_n, first, last) in tallies.per_member.items():
        starts = members.timeline(mid)[0]
        i = bisect_right(starts, first)
        if not i or i != bisect_right(starts, last) or not members.view(mid, first).get("unit_id"):
            out.add(mid)
    return out


@dataclass
class _Attendance:
    """Who attended which held conference, with each member's unit on that day."""

    per_member: Counter[str]
    eligible: Counter[str]
    per_unit: Counter[str]
    possible_per_unit: Counter[str]
    per_month: Counter[str]
    guests_per_month: Counter[str]
    per_role: Counter[str]
    per_conference: dict[str, int]
    guests_per_conference: dict[str, int]
    guests_by_category: Counter[str]


def _attendance(facts: Facts, held: list[dict[str, Any]]) -> _Attendance:
    out = _Attendance(
        Counter(),
        Counter(),
        Counter(),
        Counter(),
        Counter(),
        Counter(),
        Counter(),
        {},
        {},
        Counter(),
    )
    # Eligible: active on the conference day. Per member, each stretch of one state counts
    # the held conferences inside it (not every member folded for every conference).
    days = [c["held_on"] for c in held]  # sorted by _held
    for mid in facts.members.ids():
        starts, states = facts.members.timeline(mid)
        for i, s in enumerate(states):
            if s.get("active") is not True:
                continue
            lo = bisect_left(days, starts[i])
            hi = bisect_left(days, starts[i + 1]) if i + 1 < len(starts) else len(days)
            if hi > lo:
                out.eligible[mid] += hi - lo
                out.possible_per_unit[str(s.get("unit_id"))] += hi - lo
    tallies = facts.tallies or Tallies.of(facts.attended, held)
    detail = facts.detail if facts.detail is not None else needs_detail(facts.members, tallies)
    for mid, (n, first, _last) in tallies.per_member.items():
        out.per_member[mid] += n
        if mid not in detail:  # one state on every day attended
            s = facts.members.view(mid, first)
            out.per_unit[str(s.get("unit_id"))] += n
            out.per_role[str(s.get("role") or "unknown")] += n
    for conf in held:
        cid, day = conf["conference_id"], conf["held_on"]
        month = day.strftime("%Y-%m")
        count = tallies.per_conference.get(cid, 0)
        out.per_month[month] += count
        for mid in facts.attended.get(cid, set()) & detail:
            s = facts.members.view(mid, day)
            unit = s.get("unit_id") or facts.recorded_unit.get((cid, mid)) or "?"
            out.per_unit[str(unit)] += 1
            out.per_role[str(s.get("role") or "unknown")] += 1
        g = facts.guests.get(cid, {})
        for category, n in g.items():
            out.guests_by_category[category] += n
        out.guests_per_month[month] += sum(g.values())
        out.per_conference[cid] = count
        out.guests_per_conference[cid] = sum(g.values())
    return out


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _months(period: Period) -> list[str]:
    months, day = [], period.start.replace(day=1)
    while day <= period.end:
        months.append(day.strftime("%Y-%m"))
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def annual_summary(facts: Facts, period: Period, as_of: str | None = None) -> AnnualSummary:
    """The summary of ``period``, section by section (contracts/reporting.py ``AnnualSummary``:
    keys never renamed; new ones may be added)."""
    held = _held(facts.conferences, period)
    att = _attendance(facts, held)
    at_end = active_members(facts.members, period.end)
    return AnnualSummary(
        period=SummaryPeriod(start=period.start, end=period.end, year=period.year, as_of=as_of),
        roster=_roster_section(facts, period, at_end),
        conferences=_conferences_section(held, att),
        attendance=_attendance_section(facts, period, att, at_end),
        awards=_awards_section(facts, period),
        top_participants=_top_participants(facts, period, att),
    )


def _roster_section(
    facts: Facts, period: Period, at_end: dict[str, dict[str, Value]]
) -> RosterSection:
    at_start = active_members(facts.members, period.start - timedelta(days=1))
    changes = facts.members.events_between(period.start, period.end)
    return RosterSection(
        at_start=_roster_counts(at_start),
        at_end=_roster_counts(at_end),
        changes=dict(sorted(changes.items())),
    )


def _conferences_section(held: list[dict[str, Any]], att: _Attendance) -> ConferencesSection:
    by_kind = {k: 0 for k in KINDS}
    for conf in held:
        for kind in json.loads(conf["kinds"]):
            by_kind[kind] = by_kind.get(kind, 0) + 1
    return ConferencesSection(
        held=len(held),
        by_kind=by_kind,
        conferences=[
            HeldConference(
                conference_id=c["conference_id"],
                held_on=c["held_on"],
                title=c["title"],
                kinds=json.loads(c["kinds"]),
                presenters=json.loads(c["presenters"]),
                member_attendances=att.per_conference[c["conference_id"]],
                guest_attendances=att.guests_per_conference[c["conference_id"]],
            )
            for c in held
        ],
    )


def _attendance_section(
    facts: Facts, period: Period, att: _Attendance, at_end: dict[str, dict[str, Value]]
) -> AttendanceSection:
    member_total = sum(att.per_member.values())
    guest_total = sum(att.guests_by_category.values())
    return AttendanceSection(
        member_attendances=member_total,
        guest_attendances=guest_total,
        total_attendances=member_total + guest_total,
        distinct_attendees=len(att.per_member),
        per_member_at_end=round(member_total / len(at_end), 2) if at_end else 0.0,
        attendance_rate=_rate(member_total, sum(att.eligible.values())),
        by_role={role: att.per_role[role] for role in sorted(set(ROLES) | set(att.per_role))},
        guests_by_category=dict(sorted(att.guests_by_category.items())),
        by_month=[
            MonthAttendance(month=m, members=att.per_month[m], guests=att.guests_per_month[m])
            for m in _months(period)
        ],
        by_unit=_by_unit(facts, att, at_end),
    )


def _by_unit(
    facts: Facts, att: _Attendance, at_end: dict[str, dict[str, Value]]
) -> list[UnitAttendance]:
    members_per_unit: Counter[str] = Counter(str(s.get("unit_id")) for s in at_end.values())
    units = [
        UnitAttendance(
            unit_id=u,
            unit_name=facts.unit_name(u),
            kind=facts.unit_kind(u),
            attendances=att.per_unit[u],
            members_at_end=members_per_unit[u],
            per_member=round(att.per_unit[u] / members_per_unit[u], 2)
            if members_per_unit[u]
            else 0.0,
            attendance_rate=_rate(att.per_unit[u], att.possible_per_unit[u]),
        )
        for u in sorted(set(att.per_unit) | set(members_per_unit))
    ]
    units.sort(key=lambda u: (-u.attendances, u.unit_name, u.unit_id))
    return units


def _awards_section(facts: Facts, period: Period) -> AwardsSection:
    awards = [w for w in facts.awards if period.start <= w["decision_date"] <= period.end]
    granted = sorted(
        (w for w in awards if not w["revoked"]),
        key=lambda w: (w["recipient_type"], w["recipient_name"], w["award_id"]),
    )
    collective = [w for w in granted if w["recipient_type"] == "collective"]
    individual = [w for w in granted if w["recipient_type"] == "individual"]
    return AwardsSection(
        collective=len(collective),
        individual=len(individual),
        revoked=sum(1 for w in awards if w["revoked"]),
        # how the article words them: teams of Party cells/organisations, core propagandists
        collective_party_units=sum(
            1
            for w in collective
            if facts.unit_kind(w["recipient_id"]) in ("party_cell", "party_organisation")
        ),
        individual_core_propagandists=sum(1 for w in individual if _core_propagandist(facts, w)),
        awards=[_granted(facts, w) for w in granted],
    )


def _core_propagandist(facts: Facts, award: dict[str, Any]) -> bool:
    state = facts.members.view(award["recipient_id"], award["decision_date"])
    return state.get("core") is True and state.get("role") == "propagandist"


def _granted(facts: Facts, w: dict[str, Any]) -> GrantedAward:
    name = w["recipient_name"] or (
        facts.unit_name(w["recipient_id"])
        if w["recipient_type"] == "collective"
        else facts.member_name(w["recipient_id"])
    )
    return GrantedAward(
        award_id=w["award_id"],
        recipient_type=w["recipient_type"],
        recipient_id=w["recipient_id"],
        recipient_name=name,
        award_kind=w["award_kind"],
        title=w["title"],
        period=w["period"],
        decision_number=w["decision_number"],
        decision_date=w["decision_date"],
    )


def _top_participants(facts: Facts, period: Period, att: _Attendance) -> list[TopParticipant]:
    top = sorted(att.per_member.items(), key=lambda kv: (-kv[1], facts.member_name(kv[0]), kv[0]))
    out = []
    for mid, n in top[:TOP_N]:
        state = facts.members.view(mid, period.end)
        out.append(
            TopParticipant(
                member_id=mid,
                full_name=facts.member_name(mid),
                role=state.get("role"),
                unit_name=facts.unit_name(_text(state.get("unit_id"))),
                attended=n,
                eligible=att.eligible[mid],
                attendance_rate=_rate(n, att.eligible[mid]),
            )
        )
    return out


def participation(facts: Facts, year: int) -> dict[str, Any]:
    """Per member and per unit over the year's held conferences (the awards candidates)."""
    period = Period.of_year(year)
    held = _held(facts.conferences, period)
    att = _attendance(facts, held)
    at_end = active_members(facts.members, period.end)
    members = []
    for mid in sorted(set(att.eligible) | set(att.per_member) | set(at_end)):
        s = facts.members.state(mid, period.end) or facts.members.state(mid, None)
        if not s:
            continue  # an attendance of a member the roster never enrolled (yet)
        unit = str(s.get("unit_id"))
        members.append(
            {
                "member_id": mid,
                "full_name": facts.member_name(mid),
                "role": str(s.get("role")),
                "unit_id": unit,
                "unit_name": facts.unit_name(unit),
                "core": s.get("core") is True,
                "active_at_end": s.get("active") is True,
                "conferences_eligible": att.eligible[mid],
                "conferences_attended": att.per_member[mid],
                "attendance_rate": _rate(att.per_member[mid], att.eligible[mid]),
            }
        )
    units = []
    for uid in sorted(set(facts.units.ids()) | set(att.per_unit) - {"?"}):
        u = facts.units.state(uid, period.end)
        in_unit = [s for s in at_end.values() if s.get("unit_id") == uid]
        if not u and not in_unit and not att.per_unit[uid]:
            continue
        units.append(
            {
                "unit_id": uid,
                "unit_name": facts.unit_name(uid),
                "kind": facts.unit_kind(uid),
                "active_at_end": u.get("active") is True,
                "members_at_end": len(in_unit),
                "core_members_at_end": sum(1 for s in in_unit if s.get("core") is True),
                "attendances": att.per_unit[uid],
                "possible_attendances": att.possible_per_unit[uid],
                "attendance_rate": _rate(att.per_unit[uid], att.possible_per_unit[uid]),
            }
        )
    return {"year": year, "conferences_held": len(held), "members": members, "units": units}


class PeriodMustBeGiven(DomainError):
    """A summary needs a year, or both a start and an end date."""


class PeriodMustNotBeReversed(DomainError):
    """The start of a period is on or before its end."""


def period_of(year: int | None, start: date | None, end: date | None) -> Period:
    if start is None and end is None:
        if year is None:
            raise PeriodMustBeGiven("give a year, or --from and --to")
        return Period.of_year(year)
    if year is not None and (start is None or end is None):
        start = start or date(year, 1, 1)
        end = end or date(year, 12, 31)
    if start is None or end is None:
        raise PeriodMustBeGiven("give both the start and the end of the period")
    if start > end:
        raise PeriodMustNotBeReversed("the period starts after it ends", start=start, end=end)
    return Period(
        start,
        end,
        year if (start, end) == (date(year or 1, 1, 1), date(year or 1, 12, 31)) else None,
    )
