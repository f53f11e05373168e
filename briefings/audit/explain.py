"""Lineage: which events make up a figure of the annual summary.

The cut's events are folded here with the summary's own rules (services/reporting/domain/
summary.py), independently of the read model, and every contribution names its events with
their commands, actors and correlation ids. The contributions add up to the figure; the
command prints both, so a disagreement between the two is visible, never hidden.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from briefings.audit.records import AuditRecord
from contracts.envelope import EventEnvelope
from contracts.registry import registry

FIGURES = (
    "attendances",
    "member-attendances",
    "guest-attendances",
    "conferences",
    "awards",
    "awards.collective",
    "awards.individual",
    "unit:<unit_id>",
    "member:<member_id>",
)

# The member fields each roster event sets (as the projection records them).
_MEMBER_FIELDS = {
    "MemberEnrolled": lambda p: {"role": p["role"], "unit_id": p["unit_id"], "active": "1"},
    "MemberReenrolled": lambda p: {"role": p["role"], "unit_id": p["unit_id"], "active": "1"},
    "MemberRoleChanged": lambda p: {"role": p["role"]},
    "MemberTransferred": lambda p: {"unit_id": p["to_unit_id"]},
    "MemberRetired": lambda p: {"active": "0"},
}


@dataclass(frozen=True)
class Ref:
    """One event, as an auditor cites it."""

    stream: str
    seq: int
    type: str
    aggregate: str
    command_id: str | None
    actor: str
    correlation_id: str
    occurred_at: str
    recorded_at: str

    @classmethod
    def of(cls, record: AuditRecord, env: dict[str, Any]) -> Ref:
        return cls(
            record.stream,
            record.seq,
            str(env["type"]),
            f"{env['aggregate_type']}/{env['aggregate_id']}",
            env.get("command_id"),
            str(env.get("actor")),
            str(env.get("correlation_id")),
            str(env.get("occurred_at")),
            str(env.get("recorded_at")),
        )


@dataclass
class Contribution:
    amount: int
    what: str
    events: list[Ref]


@dataclass
class Explanation:
    figure: str
    summary_value: Any
    total: int
    contributions: list[Contribution]
    denominator: int | None = None
    denominator_from: list[Contribution] = field(default_factory=list)

    @property
    def adds_up(self) -> bool:
        if self.denominator is None:
            return self.total == self.summary_value
        rate = round(self.total / self.denominator, 4) if self.denominator else 0.0
        return bool(rate == self.summary_value)

    def as_dict(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "summary_value": self.summary_value,
            "total": self.total,
            "denominator": self.denominator,
            "adds_up": self.adds_up,
            "contributions": [asdict(c) for c in self.contributions],
            "denominator_from": [asdict(c) for c in self.denominator_from],
        }


@dataclass
class _Conference:
    status: str = "scheduled"
    held_on: date | None = None
    title: str = ""
    held_by: Ref | None = None


@dataclass
class _Pair:
    attended: bool = False
    unit_id: str | None = None
    refs: list[Ref] = field(default_factory=list)


class Lineage:
    """Folds a cut's events into the facts the summary counts, remembering their events."""

    def __init__(self) -> None:
        self.conferences: dict[str, _Conference] = defaultdict(_Conference)
        self.pairs: dict[tuple[str, str], _Pair] = defaultdict(_Pair)
        self.guests: dict[tuple[str, str], tuple[int, Ref]] = {}
        self.awards: dict[str, tuple[dict[str, Any], list[Ref], bool]] = {}
        self.member_changes: dict[str, list[tuple[date, int, dict[str, str], Ref]]] = defaultdict(
            list
        )
        # Every unit and member id the cut names, so an unknown id is said to be unknown
        # rather than explained as "0".
        self.known: dict[str, set[str]] = {"unit": set(), "member": set()}

    def feed(self, records: Iterable[AuditRecord]) -> Lineage:
        for record in records:
            self.add(record)
        return self.finish()

    def finish(self) -> Lineage:
        """Order each member's changes as the summary folds them: by effective date, then
        sequence."""
        for changes in self.member_changes.values():
            changes.sort(key=lambda c: (c[0], c[1]))
        return self

    def add(self, record: AuditRecord) -> None:
        if record.envelope is None:
            return
        kind_of = record.envelope.get("aggregate_type")
        if kind_of in self.known and isinstance(record.envelope.get("aggregate_id"), str):
            self.known[kind_of].add(record.envelope["aggregate_id"])
        try:
            envelope = EventEnvelope.from_bytes(record.data())
            payload = registry.decode(envelope).model_dump(mode="json")
        except Exception:  # unappliable for the read model too: it counts for nothing
            return
        kind, ref = envelope.type, Ref.of(record, record.envelope)
        if kind in _MEMBER_FIELDS:
            effective = date.fromisoformat(payload["effective_on"])
            self.member_changes[payload["member_id"]].append(
                (effective, record.seq, _MEMBER_FIELDS[kind](payload), ref)
            )
        elif kind == "ConferenceHeld":
            conf = self.conferences[payload["conference_id"]]
            conf.status, conf.held_on, conf.title = (
                "held",
                date.fromisoformat(payload["held_on"]),
                payload["title"],
            )
            conf.held_by = ref
        elif kind == "ConferenceCancelled":
            self.conferences[payload["conference_id"]].status = "cancelled"
        elif kind in ("AttendanceRecorded", "AttendanceCorrected"):
            pair = self.pairs[(payload["conference_id"], payload["member_id"])]
            pair.refs.append(ref)
            pair.attended = kind == "AttendanceRecorded" or bool(payload["attended"])
            if kind == "AttendanceRecorded":
                pair.unit_id = payload.get("unit_id")
        elif kind == "GuestAttendanceRecorded":
            self.guests[(payload["conference_id"], payload["category"])] = (
                int(payload["headcount"]),
                ref,
            )
        elif kind == "AwardGranted":
            self.awards[payload["award_id"]] = (payload, [ref], False)
        elif kind == "AwardRevoked" and payload["award_id"] in self.awards:
            granted, refs, _ = self.awards[payload["award_id"]]
            self.awards[payload["award_id"]] = (granted, [*refs, ref], True)

    # ---------------------------------------------------------------- the summary's rules

    def member_state(self, member_id: str, day: date) -> dict[str, str]:
        state: dict[str, str] = {}
        for effective, _seq, fields, _ref in self.member_changes.get(member_id, ()):
            if effective > day:
                break
            state.update(fields)
        return state

    def held(self, start: date, end: date) -> list[tuple[str, _Conference]]:
        held = [
            (cid, c)
            for cid, c in self.conferences.items()
            if c.status == "held" and c.held_on is not None and start <= c.held_on <= end
        ]
        return sorted(held, key=lambda item: (item[1].held_on, item[0]))

    def _pairs(self, conference_id: str) -> list[tuple[str, _Pair]]:
        return sorted((mid, p) for (cid, mid), p in self.pairs.items() if cid == conference_id)

    def member_attendances(
        self, start: date, end: date, unit: str | None = None
    ) -> list[Contribution]:
        out = []
        for cid, conf in self.held(start, end):
            for mid, pair in self._pairs(cid):
                if unit is not None:
                    state = self.member_state(mid, conf.held_on)  # type: ignore[arg-type]
                    if (state.get("unit_id") or pair.unit_id or "?") != unit:
                        continue
                refs = [*pair.refs, *([conf.held_by] if conf.held_by else [])]
                # A withdrawn attendance counts 0 but is listed: it explains a lower figure.
                note = "" if pair.attended else ": withdrawn"
                out.append(
                    Contribution(
                        int(pair.attended), f"member {mid} at {cid} ({conf.held_on}){note}", refs
                    )
                )
        return out

    def guest_attendances(self, start: date, end: date) -> list[Contribution]:
        out = []
        for cid, conf in self.held(start, end):
            for (gcid, category), (headcount, ref) in sorted(self.guests.items()):
                if gcid == cid and headcount:
                    refs = [ref, *([conf.held_by] if conf.held_by else [])]
                    out.append(
                        Contribution(
                            headcount, f"{category} guests at {cid} ({conf.held_on})", refs
                        )
                    )
        return out

    def conferences_held(self, start: date, end: date) -> list[Contribution]:
        return [
            Contribution(
                1, f"{cid} held on {c.held_on}: {c.title}", [c.held_by] if c.held_by else []
            )
            for cid, c in self.held(start, end)
        ]

    def awards_granted(
        self, start: date, end: date, recipient_type: str | None = None
    ) -> list[Contribution]:
        out = []
        for aid, (granted, refs, revoked) in sorted(self.awards.items()):
            decided = date.fromisoformat(granted["decision_date"])
            if revoked or not start <= decided <= end:
                continue
            if recipient_type and granted["recipient_type"] != recipient_type:
                continue
            out.append(
                Contribution(
                    1,
                    f"award {aid} to {granted['recipient_type']} "
                    f"{granted['recipient_id']} ({granted['decision_number']})",
                    refs,
                )
            )
        return out

    def member_eligible(self, member_id: str, start: date, end: date) -> list[Contribution]:
        out = []
        for cid, conf in self.held(start, end):
            state = self.member_state(member_id, conf.held_on)  # type: ignore[arg-type]
            if state.get("active") == "1":
                enrolled = [c[3] for c in self.member_changes[member_id] if c[0] <= conf.held_on]  # type: ignore[operator]
                out.append(
                    Contribution(
                        1,
                        f"{cid} held on {conf.held_on} while {member_id} was active",
                        [*([conf.held_by] if conf.held_by else []), *enrolled[-1:]],
                    )
                )
        return out


class UnknownId(ValueError):
    """The figure names a unit or member that no event of the cut mentions."""


def _require_known(lineage: Lineage, kind: str, ident: str) -> None:
    if ident not in lineage.known[kind]:
        raise UnknownId(f"unknown {kind} id {ident!r}: no event of the history names it")


def explain(
    lineage: Lineage,
    figure: str,
    summary: dict[str, Any],
    participation: dict[str, Any] | None,
    start: date,
    end: date,
) -> Explanation:
    """The contributions to ``figure`` and the summary's value of it."""
    att = summary["attendance"]
    if figure == "attendances":
        parts = lineage.member_attendances(start, end) + lineage.guest_attendances(start, end)
        value: Any = att["total_attendances"]
    elif figure == "member-attendances":
        parts, value = lineage.member_attendances(start, end), att["member_attendances"]
    elif figure == "guest-attendances":
        parts, value = lineage.guest_attendances(start, end), att["guest_attendances"]
    elif figure == "conferences":
        parts, value = lineage.conferences_held(start, end), summary["conferences"]["held"]
    elif figure in ("awards", "awards.collective", "awards.individual"):
        kind = figure.partition(".")[2] or None
        parts = lineage.awards_granted(start, end, kind)
        aw = summary["awards"]
        value = aw[kind] if kind else aw["collective"] + aw["individual"]
    elif figure.startswith("unit:"):
        unit = figure.partition(":")[2]
        _require_known(lineage, "unit", unit)
        parts = lineage.member_attendances(start, end, unit)
        value = next((u["attendances"] for u in att["by_unit"] if u["unit_id"] == unit), 0)
    elif figure.startswith("member:"):
        member = figure.partition(":")[2]
        _require_known(lineage, "member", member)
        parts = [
            c
            for c in lineage.member_attendances(start, end)
            if c.what.startswith(f"member {member} at ")
        ]
        eligible = lineage.member_eligible(member, start, end)
        rows = (participation or {}).get("members", [])
        value = next((m["attendance_rate"] for m in rows if m["member_id"] == member), 0.0)
        return Explanation(
            figure,
            value,
            sum(c.amount for c in parts),
            parts,
            sum(c.amount for c in eligible),
            eligible,
        )
    else:
        raise ValueError(f"unknown figure {figure!r}; one of {', '.join(FIGURES)}")
    return Explanation(figure, value, sum(c.amount for c in parts), parts)
