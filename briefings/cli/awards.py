"""``briefings awards ...``: grant and revoke awards, list them, propose candidates."""

from __future__ import annotations

from typing import Any

import typer

from briefings.cli.client import (
    ACTOR,
    COMMAND_ID,
    JSON,
    console,
    escape,
    print_json,
    print_table,
    query,
    send_command,
)
from contracts.awards import CONTEXT, CorePolicy, RecipientType

app = typer.Typer(
    help="Year-end awards to collectives (units) and individuals (members).", no_args_is_help=True
)

AWARD_COLUMNS = [
    "award_id",
    "status",
    "recipient_type",
    "recipient_id",
    "recipient_name",
    "award_kind",
    "period",
    "decision_number",
    "decision_date",
]


def _send(
    name: str, payload: dict[str, Any], command_id: str | None, actor: str, as_json: bool
) -> None:
    send_command(CONTEXT, name, payload, command_id, actor, as_json)


@app.command()
def grant(
    title: str = typer.Argument(..., help="the award's title, e.g. 'Giấy khen'"),
    member: str | None = typer.Option(None, "--member", help="member id (individual award)"),
    unit: str | None = typer.Option(None, "--unit", help="unit id (collective award)"),
    kind: str = typer.Option(
        "certificate_of_merit", "--kind", help="award kind (BRIEFINGS_AWARD_KINDS on the service)"
    ),
    period: str = typer.Option(..., "--period", help="2022, 2022-H2, 2022-Q4 or 2022-12"),
    decision: str = typer.Option(..., "--decision", help="decision number, e.g. 123/QĐ-TTCT"),
    decision_date: str = typer.Option(..., "--date", help="decision date, YYYY-MM-DD"),
    reason: str = typer.Option("", "--reason"),
    authority: str | None = typer.Option(None, "--authority", help="granting authority"),
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Grant an award to a member (--member) or a unit (--unit)."""
    if (member is None) == (unit is None):
        raise typer.BadParameter("give exactly one of --member and --unit")
    recipient_type = RecipientType.INDIVIDUAL if member else RecipientType.COLLECTIVE
    _send(
        "grant_award",
        {
            "recipient_type": recipient_type.value,
            "recipient_id": member or unit,
            "award_kind": kind,
            "title": title,
            "period": period,
            "reason": reason,
            "decision_number": decision,
            "decision_date": decision_date,
            "authority": authority,
        },
        command_id,
        actor,
        as_json,
    )


@app.command()
def revoke(
    award_id: str = typer.Argument(...),
    decision: str = typer.Option(..., "--decision", help="number of the revoking decision"),
    decision_date: str = typer.Option(..., "--date", help="its date, YYYY-MM-DD"),
    reason: str = typer.Option("", "--reason"),
    command_id: str | None = COMMAND_ID,
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Revoke an award, with the reason and the revoking decision."""
    _send(
        "revoke_award",
        {
            "award_id": award_id,
            "reason": reason,
            "decision_number": decision,
            "decision_date": decision_date,
        },
        command_id,
        actor,
        as_json,
    )


@app.command()
def show(award_id: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """One award, with its revocation if any."""
    data = query("awards", "get_award", {"award_id": award_id}, as_json)
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        if value not in (None, "") and key != "revoked":
            console.print(f"[bold]{escape(key)}[/]: {escape(value)}")


@app.command("list")
def list_awards(
    period: str | None = typer.Option(None, "--period"),
    recipient: str | None = typer.Option(None, "--recipient", help="member/unit id"),
    as_json: bool = JSON,
) -> None:
    """Awards, by period and decision date."""
    data = query("awards", "list_awards", {"period": period, "recipient_id": recipient}, as_json)
    if as_json:
        print_json(data)
    else:
        print_table(data, AWARD_COLUMNS, title=f"Awards {period or ''}".strip())


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


@app.command()
def candidates(
    year: int = typer.Argument(..., help="the year whose participation is judged"),
    min_rate: float | None = typer.Option(
        None, "--min-rate", help="minimum attendance rate 0..1 (default: settings)"
    ),
    max_per_unit: int | None = typer.Option(
        None, "--max-per-unit", help="at most N individuals per unit"
    ),
    core: CorePolicy | None = typer.Option(
        None, "--core", help="core flag: required, preferred or ignored"
    ),
    limit_individuals: int | None = typer.Option(None, "--limit-individuals"),
    limit_collectives: int | None = typer.Option(None, "--limit-collectives"),
    show_passed: bool = typer.Option(
        False, "--passed-over", help="also list who was not proposed, and why"
    ),
    as_json: bool = JSON,
) -> None:
    """Propose individuals and collectives from the year's participation, with the figures."""
    body = {
        "year": year,
        "min_attendance_rate": min_rate,
        "max_per_unit": max_per_unit,
        "core": core.value if core else None,
        "limit_individuals": limit_individuals,
        "limit_collectives": limit_collectives,
    }
    data = query("awards", "candidates", body, as_json)
    if as_json:
        print_json(data)
        return
    rules = data["rules"]
    console.print(
        f"[bold]{year}[/]: {data['conferences_held']} conferences held; minimum attendance"
        f" {_pct(rules['min_attendance_rate'])}, at most {rules['max_per_unit']} per unit,"
        f" core {rules['core']}"
    )
    people = [
        {
            **p,
            "rate": _pct(p["attendance_rate"]),
            "attended": f"{p['conferences_attended']}/{p['conferences_eligible']}",
            "core": "yes" if p["core"] else "",
            "holds": ", ".join(p["already_holds"]),
        }
        for p in data["individuals"]
    ]
    print_table(
        people,
        [
            "rank",
            "full_name",
            "unit_name",
            "core",
            "attended",
            "rate",
            "rank_in_unit",
            "holds",
            "member_id",
        ],
        title=f"Individual candidates ({len(people)})",
    )
    teams = [
        {
            **u,
            "core_team": f"{u['core_attended']}/{u['core_possible']} ({u['core_members']} core)",
            "core_rate": _pct(u["core_rate"]),
            "unit": f"{u['attendances']}/{u['possible_attendances']}"
            f" ({_pct(u['attendance_rate'])})",
            "holds": ", ".join(u["already_holds"]),
        }
        for u in data["collectives"]
    ]
    print_table(
        teams,
        [
            "rank",
            "unit_name",
            "core_team",
            "core_rate",
            "members_at_end",
            "unit",
            "holds",
            "unit_id",
        ],
        title=f"Collective candidates ({len(teams)})",
    )
    if show_passed:
        print_table(
            data["passed_over"],
            ["recipient_type", "name", "reason", "explanation"],
            title="Not proposed",
        )
    else:
        console.print(
            f"{len(data['passed_over'])} not proposed (--passed-over lists them);"
            " --json gives each proposal's explanation"
        )
