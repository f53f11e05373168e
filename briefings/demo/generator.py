"""The 2022 sample year as a plan: the commands a clerk would have sent, in order.

Pure and seeded: ``plan_year(seed)`` draws names, roster changes and attendance from
``random.Random(seed)``, so the same seed gives the same commands with the same command
ids, and loading it twice replays instead of duplicating. Nothing here touches NATS.

The plan is built in three passes: the roster's year (who is on it when), then who
attended each held conference, then the commands in the order the world produced them.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from briefings.demo import data
from contracts import awards as a
from contracts import events as e
from contracts import roster as r
from contracts.calendar import CENTER_TZ
from contracts.replies import Command
from contracts.subjects import command_subject

DEFAULT_SEED = 2022
YEAR = 2022
ATTENDANCE_TARGET = (1715, 1785)
"""The article's "hơn 1.700": more than 1,700 and fewer than 1,800 attendances."""
ACTOR = "demo-2022"

COMMAND_TYPES: dict[str, tuple[str, type[Command]]] = {
    **{name: ("roster", model) for name, model in r.COMMANDS.items()},
    **{name: ("events", model) for name, model in e.COMMANDS.items()},
    **{name: ("awards", model) for name, model in a.COMMANDS.items()},
}


@dataclass(frozen=True)
class Step:
    """One command of the plan. Steps of one ``batch`` may be sent at once, except that
    steps of one ``lane`` (one aggregate) go one after the other; batches go in order."""

    index: int
    batch: int
    lane: str
    name: str
    command: Command
    on: date

    @property
    def context(self) -> str:
        return COMMAND_TYPES[self.name][0]

    @property
    def subject(self) -> str:
        return command_subject(self.context, self.name)

    def payload(self) -> dict[str, Any]:
        return self.command.model_dump(mode="json", exclude_none=True)


@dataclass(frozen=True)
class Figures:
    """What the plan amounts to at year end, folded from its commands."""

    reporters: int
    propagandists: int
    units: int
    information_conferences: int
    thematic_conferences: int
    review_conferences: int
    conferences_held: int
    conferences_cancelled: int
    attendances: int
    guest_attendances: int
    collective_awards: int
    individual_awards: int
    enrolments_in_year: int
    retirements_in_year: int
    transfers_in_year: int
    commands: int


@dataclass(frozen=True)
class Plan:
    seed: int
    steps: tuple[Step, ...]

    @property
    def figures(self) -> Figures:
        return figures_of(self.steps)

    def batches(self) -> list[list[Step]]:
        out: list[list[Step]] = []
        for step in self.steps:
            if not out or out[-1][0].batch != step.batch:
                out.append([])
            out[-1].append(step)
        return out


# ------------------------------------------------------------------ the roster's year


@dataclass
class _Member:
    member_id: str
    full_name: str
    role: r.Role
    unit_id: str
    core: bool
    enrolled_on: date
    propensity: float
    retired_on: date | None = None
    units: list[tuple[date, str]] = field(default_factory=list)
    """(from this day, unit) — the unit history, for a unit's attendance record."""

    def active_on(self, day: date) -> bool:
        return self.enrolled_on <= day and (self.retired_on is None or day < self.retired_on)

    def unit_on(self, day: date) -> str:
        unit = self.units[0][1]
        for since, unit_id in self.units:
            if since <= day:
                unit = unit_id
        return unit


_Command = tuple[str, str, dict[str, Any]]
"""(command name, lane, fields)"""


@dataclass(frozen=True)
class _Action:
    """A dated thing that happens in the world; becomes one batch of commands."""

    on: date
    order: int
    commands: tuple[_Command, ...]


class _Year:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.prefix = f"d{seed}"
        self.names: set[str] = set()
        self.members: list[_Member] = []
        self.units: dict[str, tuple[str, str, date]] = {}  # id -> (name, kind, registered_on)
        self.actions: list[_Action] = []
        self.attended: dict[date, list[_Member]] = {}  # held conference day -> attendees

    # ids are derived from the seed, so a re-run addresses the same aggregates
    def unit_id(self, n: int) -> str:
        return f"{self.prefix}-unit-{n:02d}"

    def member_id(self) -> str:
        return f"{self.prefix}-m{len(self.members) + 1:03d}"

    def conference_id(self, day: date) -> str:
        return f"{self.prefix}-conf-{day:%Y%m%d}"

    def person_name(self) -> str:
        families, weights = zip(*data.FAMILY_NAMES, strict=True)
        while True:
            female = self.rng.random() < 0.45
            middle = self.rng.choice(data.FEMALE_MIDDLE if female else data.MALE_MIDDLE)
            given = self.rng.choice(data.FEMALE_GIVEN if female else data.MALE_GIVEN)
            name = f"{self.rng.choices(families, weights)[0]} {middle} {given}"
            if name not in self.names:
                self.names.add(name)
                return name

    def act(self, on: date, commands: Iterable[_Command], order: int = 0) -> None:
        self.actions.append(_Action(on, order, tuple(commands)))

    def enrol(self, role: r.Role, unit_id: str, on: date, core: bool = False) -> _Command:
        low = 0.9 if core else 0.8 if role is r.Role.REPORTER else 0.55
        member = _Member(
            self.member_id(),
            self.person_name(),
            role,
            unit_id,
            core,
            on,
            propensity=self.rng.uniform(low, 0.99),
            units=[(on, unit_id)],
        )
        self.members.append(member)
        return (
            "enroll_member",
            member.member_id,
            {
                "member_id": member.member_id,
                "full_name": member.full_name,
                "role": role.value,
                "unit_id": unit_id,
                "core": core,
                "effective_on": on,
                "external_code": f"TTV-{len(self.members):04d}"
                if role is r.Role.PROPAGANDIST
                else f"BCV-{len(self.members):04d}",
            },
        )

    def active(self, day: date, role: r.Role | None = None) -> list[_Member]:
        return [m for m in self.members if m.active_on(day) and (role is None or m.role is role)]

    def party_units(self, day: date) -> list[str]:
        return [
            uid
            for uid, (_, kind, since) in self.units.items()
            if kind != r.UnitKind.CITY.value and since <= day
        ]

    def build_roster(self) -> None:
        city = self.unit_id(0)
        registered = data.UNITS_REGISTERED_ON
        self.units[city] = (data.CITY_UNIT_NAME, r.UnitKind.CITY.value, registered)
        for n, (name, kind, _) in enumerate(data.PARTY_UNITS, start=1):
            self.units[self.unit_id(n)] = (name, kind, registered)
        self.act(
            registered,
            [
                (
                    "register_unit",
                    uid,
                    {"unit_id": uid, "kind": kind, "name": name, "effective_on": since},
                )
                for uid, (name, kind, since) in self.units.items()
            ],
        )

        # The roster as 2022 found it: enrolled over the term that began in late 2020.
        first_day = date(2020, 10, 15)
        span = (date(2021, 12, 20) - first_day).days
        commands = []
        for _ in range(data.INITIAL_REPORTERS):
            on = first_day + timedelta(days=self.rng.randrange(span))
            commands.append(self.enrol(r.Role.REPORTER, city, on))
        sizes = self._split(data.INITIAL_PROPAGANDISTS, [w for *_, w in data.PARTY_UNITS])
        for n, size in enumerate(sizes, start=1):
            cores = 1 + self.rng.randrange(3) if size >= 5 else 1
            for i in range(size):
                on = first_day + timedelta(days=self.rng.randrange(span))
                commands.append(
                    self.enrol(r.Role.PROPAGANDIST, self.unit_id(n), on, core=i < cores)
                )
        self.act(date(2021, 12, 31), commands)

        for day, what, count in data.ROSTER_CHANGES:
            self.act(day, self._change(day, what, count))

    def _split(self, total: int, weights: Sequence[int]) -> list[int]:
        """``total`` spread over units in proportion to ``weights``, jittered, exact sum."""
        jittered = [w * self.rng.uniform(0.85, 1.15) for w in weights]
        return _apportion(total, jittered)

    def _change(self, day: date, what: str, count: int) -> list[_Command]:
        city = self.unit_id(0)
        old_enough = [m for m in self.active(day, r.Role.PROPAGANDIST) if not m.core]
        match what:
            case "enrol_reporter":
                return [self.enrol(r.Role.REPORTER, city, day) for _ in range(count)]
            case "enrol_propagandist":
                return [
                    self.enrol(r.Role.PROPAGANDIST, self.rng.choice(self.party_units(day)), day)
                    for _ in range(count)
                ]
            case "register_new_unit":
                uid = self.unit_id(len(self.units))
                name, kind = data.NEW_UNIT
                self.units[uid] = (name, kind, day)
                return [
                    (
                        "register_unit",
                        uid,
                        {"unit_id": uid, "kind": kind, "name": name, "effective_on": day},
                    )
                ]
            case "enrol_in_new_unit":
                uid = self.unit_id(len(self.units) - 1)
                return [
                    self.enrol(r.Role.PROPAGANDIST, uid, day, core=i == 0) for i in range(count)
                ]
            case "retire_reporter" | "retire_propagandist":
                role = r.Role.REPORTER if what == "retire_reporter" else r.Role.PROPAGANDIST
                pool = [
                    m for m in self.active(day, role) if not m.core and m.enrolled_on.year < YEAR
                ]
                out = []
                for m in self.rng.sample(pool, count):
                    m.retired_on = day
                    out.append(
                        (
                            "retire_member",
                            m.member_id,
                            {
                                "member_id": m.member_id,
                                "reason": self.rng.choice(data.RETIRE_REASONS),
                                "effective_on": day,
                            },
                        )
                    )
                return out
            case "transfer":
                out = []
                for m in self.rng.sample(old_enough, count):
                    target = self.rng.choice([u for u in self.party_units(day) if u != m.unit_id])
                    m.unit_id = target
                    m.units.append((day, target))
                    out.append(
                        (
                            "transfer_member",
                            m.member_id,
                            {"member_id": m.member_id, "to_unit_id": target, "effective_on": day},
                        )
                    )
                return out
            case "set_core":
                out = []
                for m in self.rng.sample(old_enough, count):
                    m.core = True
                    m.propensity = max(m.propensity, self.rng.uniform(0.9, 0.99))
                    out.append(
                        (
                            "set_member_core",
                            m.member_id,
                            {"member_id": m.member_id, "core": True, "effective_on": day},
                        )
                    )
                return out
        raise ValueError(f"unknown roster change {what!r}")

    # ---------------------------------------------------------- conferences and attendance

    def build_conferences(self) -> None:
        held = [c for c in data.CONFERENCES if c.cancelled_on is None]
        target = self.rng.randint(*ATTENDANCE_TARGET)
        eligible = [self.active(c.planned_on) for c in held]
        # The year-end review draws a fuller hall than an ordinary month.
        weights = [
            len(el) * (1.06 if "review" in c.kinds else self.rng.uniform(0.92, 1.03))
            for c, el in zip(held, eligible, strict=True)
        ]
        quotas = _apportion(target, weights)
        for conf, members, quota in zip(held, eligible, quotas, strict=True):
            # Weighted sampling without replacement: the keener members come more often.
            keyed = sorted(
                members, key=lambda m: self.rng.random() ** (1 / m.propensity), reverse=True
            )
            self.attended[conf.planned_on] = keyed[: min(quota, len(keyed))]

        reporters = [m.full_name for m in self.members if m.role is r.Role.REPORTER]
        for conf in data.CONFERENCES:
            cid = self.conference_id(conf.planned_on)
            scheduled_on = conf.planned_on - timedelta(days=14)
            presenters = self._presenters(conf, reporters)
            self.act(
                scheduled_on,
                [
                    (
                        "schedule_conference",
                        cid,
                        {
                            "conference_id": cid,
                            "kinds": list(conf.kinds),
                            "title": conf.title,
                            "planned_on": conf.planned_on,
                            "venue": data.VENUE,
                            "organiser": data.ORGANISER,
                            "presenters": presenters,
                            "topics": list(conf.topics),
                            "invited_unit_ids": [
                                u
                                for u, (_, _, since) in self.units.items()
                                if since <= scheduled_on
                            ],
                        },
                    )
                ],
                order=1,
            )
            if conf.cancelled_on is not None:
                self.act(
                    conf.cancelled_on,
                    [
                        (
                            "cancel_conference",
                            cid,
                            {
                                "conference_id": cid,
                                "reason": conf.cancel_reason,
                                "cancelled_on": conf.cancelled_on,
                            },
                        )
                    ],
                    order=2,
                )
                continue
            self.act(
                conf.planned_on,
                [("hold_conference", cid, {"conference_id": cid, "held_on": conf.planned_on})],
                order=2,
            )
            rows: list[_Command] = [
                ("record_attendance", cid, {"conference_id": cid, "member_id": m.member_id})
                for m in self.attended[conf.planned_on]
            ]
            rows += [
                (
                    "record_guest_attendance",
                    cid,
                    {"conference_id": cid, "category": cat, "headcount": n, "note": note},
                )
                for cat, n, note in self._guests(conf)
            ]
            self.act(conf.planned_on, rows, order=3)

    def _presenters(self, conf: data.ConferencePlan, reporters: list[str]) -> list[dict[str, str]]:
        if "review" in conf.kinds:
            return [
                {"name": data.CENTRAL_SPEAKER[0], "affiliation": data.CENTRAL_SPEAKER[1]},
                {"name": data.DIRECTOR[0], "affiliation": data.DIRECTOR[1]},
            ]
        guest = {
            "name": self.person_name(),
            "affiliation": self.rng.choice(data.SPEAKER_AFFILIATIONS),
        }
        own = {"name": self.rng.choice(reporters), "affiliation": data.CITY_REPORTER_AFFILIATION}
        return [guest, own]

    def _guests(self, conf: data.ConferencePlan) -> list[tuple[str, int, str]]:
        guests = [
            (
                e.GuestCategory.BOARD_LEADERS.value,
                self.rng.randint(8, 16),
                "Lãnh đạo các Ban xây dựng Đảng Thành ủy, MTTQ và các đoàn thể thành phố",
            ),
            (
                e.GuestCategory.WARD_PROPAGANDA.value,
                self.rng.randint(14, 24),
                "Trưởng, Phó Ban Tuyên giáo các phường",
            ),
        ]
        if "review" in conf.kinds:
            guests.append(
                (
                    e.GuestCategory.PARTY_CLASS_STUDENTS.value,
                    self.rng.randint(45, 60),
                    "Học viên lớp bồi dưỡng nhận thức về Đảng khóa 5 năm 2022",
                )
            )
        return guests

    # ------------------------------------------------------------------------ awards

    def build_awards(self) -> None:
        day = data.REVIEW_DAY
        held_days = sorted(self.attended)
        attended = {(d, m.member_id) for d, ms in self.attended.items() for m in ms}

        def record(m: _Member) -> tuple[int, int]:
            eligible = [d for d in held_days if m.active_on(d)]
            return sum((d, m.member_id) in attended for d in eligible), len(eligible)

        # Individuals: the core propagandists with the best record, one per unit.
        ranked = []
        for m in self.active(day, r.Role.PROPAGANDIST):
            if m.core:
                came, could = record(m)
                ranked.append((came / could, came, self.rng.random(), m))
        ranked.sort(key=lambda t: t[:3], reverse=True)
        individuals: list[_Member] = []
        for *_, m in ranked:
            if m.unit_id not in {i.unit_id for i in individuals}:
                individuals.append(m)
            if len(individuals) == 5:
                break

        # Collectives: the core teams whose units' propagandists attended best.
        came_by_unit: Counter[str] = Counter()
        could_by_unit: Counter[str] = Counter()
        for m in self.members:
            for d in held_days:
                if m.active_on(d) and m.role is r.Role.PROPAGANDIST:
                    could_by_unit[m.unit_on(d)] += 1
                    came_by_unit[m.unit_on(d)] += (d, m.member_id) in attended
        with_core = {m.unit_id for m in self.active(day, r.Role.PROPAGANDIST) if m.core}
        units = sorted(
            with_core, key=lambda u: (came_by_unit[u] / could_by_unit[u], u), reverse=True
        )[:3]

        commands = []
        recipients = [(a.RecipientType.COLLECTIVE, u) for u in units] + [
            (a.RecipientType.INDIVIDUAL, m.member_id) for m in individuals
        ]
        for kind, rid in recipients:
            # The awards service derives the award's id from (recipient, kind, period).
            team = "tập thể đội ngũ tuyên truyền viên nòng cốt"
            who = team if kind is a.RecipientType.COLLECTIVE else "tuyên truyền viên nòng cốt"
            # One lane: all eight share decision 125, which the awards service checks.
            commands.append(
                (
                    "grant_award",
                    f"decision-{data.DECISION_NUMBER}",
                    {
                        "recipient_type": kind.value,
                        "recipient_id": rid,
                        "award_kind": "certificate_of_merit",
                        "title": data.AWARD_TITLE,
                        "period": str(YEAR),
                        "reason": f"{data.AWARD_REASON} ({who})",
                        "decision_number": data.DECISION_NUMBER,
                        "decision_date": day,
                        "authority": data.AUTHORITY,
                    },
                )
            )
        self.act(day, commands, order=4)

    # ------------------------------------------------------------------------- steps

    def steps(self) -> tuple[Step, ...]:
        out: list[Step] = []
        ordered = sorted(enumerate(self.actions), key=lambda t: (t[1].on, t[1].order, t[0]))
        for batch, (_, action) in enumerate(ordered):
            for name, lane, fields in action.commands:
                index = len(out)
                model = COMMAND_TYPES[name][1]
                command = model.model_validate(
                    {
                        "command_id": f"demo-{self.seed}-{index:05d}",
                        "actor": ACTOR,
                        "correlation_id": f"demo-{self.seed}",
                        # When the clerk recorded it: that morning, in the Center's time zone.
                        "occurred_at": datetime.combine(action.on, time(8, 0), CENTER_TZ),
                        **fields,
                    }
                )
                out.append(Step(index, batch, lane, name, command, action.on))
        return tuple(out)


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Whole shares of ``total`` proportional to ``weights`` (largest remainder)."""
    whole = sum(weights)
    raw = [total * w / whole for w in weights]
    shares = [int(x) for x in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: raw[i] - shares[i], reverse=True)
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


def plan_year(seed: int = DEFAULT_SEED) -> Plan:
    year = _Year(seed)
    year.build_roster()
    year.build_conferences()
    year.build_awards()
    return Plan(seed, year.steps())


# -------------------------------------------------------------------- the plan's figures


def _named(aggregate_id: str | None) -> str:
    if aggregate_id is None:
        raise ValueError("the plan names every aggregate it creates")
    return aggregate_id


def figures_of(steps: Iterable[Step]) -> Figures:
    """Fold the commands the way the services would, into the year-end figures."""
    steps = list(steps)
    roles: dict[str, r.Role] = {}
    active: dict[str, bool] = {}
    units: set[str] = set()
    kinds_of: dict[str, list[str]] = {}
    held: set[str] = set()
    cancelled: set[str] = set()
    attendance: set[tuple[str, str]] = set()
    guests: dict[tuple[str, str], int] = {}
    awards: Counter[str] = Counter()
    changes: defaultdict[str, int] = defaultdict(int)
    for step in steps:
        cmd: Any = step.command
        in_year = step.on.year == YEAR
        match cmd:
            case r.RegisterUnit():
                units.add(_named(cmd.unit_id))
            case r.DissolveUnit():
                units.discard(cmd.unit_id)
            case r.EnrollMember():
                roles[_named(cmd.member_id)] = cmd.role
                active[_named(cmd.member_id)] = True
                changes["enrolments"] += in_year
            case r.ChangeMemberRole():
                roles[cmd.member_id] = cmd.role
            case r.RetireMember():
                active[cmd.member_id] = False
                changes["retirements"] += in_year
            case r.TransferMember():
                changes["transfers"] += in_year
            case e.HoldConference():
                held.add(cmd.conference_id)
            case e.ScheduleConference():
                kinds_of[_named(cmd.conference_id)] = [k.value for k in cmd.kinds]
            case e.CancelConference():
                cancelled.add(cmd.conference_id)
            case e.RecordAttendance():
                attendance.add((cmd.conference_id, cmd.member_id))
            case e.RecordGuestAttendance():
                guests[(cmd.conference_id, cmd.category.value)] = cmd.headcount
            case a.GrantAward():
                awards[cmd.recipient_type.value] += 1
    kinds = {cid: kinds_of[cid] for cid in held}
    at_end = [roles[m] for m, is_active in active.items() if is_active]
    return Figures(
        reporters=at_end.count(r.Role.REPORTER),
        propagandists=at_end.count(r.Role.PROPAGANDIST),
        units=len(units),
        information_conferences=sum("information" in k for k in kinds.values()),
        thematic_conferences=sum("thematic" in k for k in kinds.values()),
        review_conferences=sum("review" in k for k in kinds.values()),
        conferences_held=len(kinds),
        conferences_cancelled=len(cancelled),
        attendances=len(attendance),
        guest_attendances=sum(guests.values()),
        collective_awards=awards[a.RecipientType.COLLECTIVE.value],
        individual_awards=awards[a.RecipientType.INDIVIDUAL.value],
        enrolments_in_year=changes["enrolments"],
        retirements_in_year=changes["retirements"],
        transfers_in_year=changes["transfers"],
        commands=len(steps),
    )
