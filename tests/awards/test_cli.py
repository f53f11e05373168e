"""``briefings awards ...`` (typer's CliRunner) against real roster and awards services."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from nats.aio.client import Client
from typer.testing import CliRunner

from briefings.cli import app
from runtime.settings import Settings
from tests.awards.support import service
from tests.support import request

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:")


async def test_grant_revoke_show_list_from_the_cli(settings: Settings, nc: Client) -> None:
    runner = CliRunner()
    env = {
        "BRIEFINGS_NATS_URL": settings.nats_url,
        "COLUMNS": "200",
        "BRIEFINGS_REQUEST_TIMEOUT": "5",
    }

    async def cli(*args: str, code: int = 0) -> str:
        result = await asyncio.to_thread(runner.invoke, app, ["awards", *args], env=env)
        assert result.exit_code == code, (args, result.output)
        return "".join(
            line for line in result.output.splitlines(keepends=True) if not LOG_LINE.match(line)
        )

    async def js(*args: str, code: int = 0) -> Any:
        return json.loads(await cli(*args, "--json", code=code))

    async with service("roster", settings, nc), service("awards", settings, nc):
        for body in (
            {"unit_id": "cb1", "kind": "party_cell", "name": "Chi bộ Khu phố 1"},
            {"unit_id": "city", "kind": "city", "name": "Cấp thành phố"},
        ):
            assert (
                await request(
                    nc,
                    "cmd.roster.register_unit",
                    {"command_id": body["unit_id"], **body, "effective_on": "2021-01-01"},
                )
            )["ok"]
        assert (
            await request(
                nc,
                "cmd.roster.enroll_member",
                {
                    "command_id": "m1",
                    "member_id": "hoa",
                    "full_name": "Nguyễn Thị Hoa",
                    "role": "propagandist",
                    "unit_id": "cb1",
                    "core": True,
                    "effective_on": "2022-01-10",
                },
            )
        )["ok"]

        decision = ["--period", "2022", "--decision", "125/QĐ-TTCT", "--date", "2022-12-09"]
        person = await js(
            "grant",
            "Giấy khen",
            "--member",
            "hoa",
            *decision,
            "--reason",
            "Tuyên truyền viên nòng cốt",
        )
        team = await js("grant", "Giấy khen", "--unit", "cb1", *decision)
        assert person["aggregate_type"] == "award" and team["ok"]
        refused = await js(
            "grant",
            "Giấy khen",
            "--member",
            "hoa",
            "--period",
            "2022",
            "--decision",
            "126/QĐ-TTCT",
            "--date",
            "2022-12-09",
            code=1,
        )
        assert refused["rule"] == "RecipientCannotHoldSameAwardTwiceForPeriod"
        plain = await cli("grant", "Giấy khen", "--member", "ghost", *decision, code=1)
        assert "RecipientMustExist" in plain and "not_found" in plain
        both = await cli(
            "grant", "Giấy khen", "--member", "hoa", "--unit", "cb1", *decision, code=2
        )
        assert "exactly one" in both

        shown = await js("show", person["aggregate_id"])
        assert shown["recipient_name"] == "Nguyễn Thị Hoa" and shown["status"] == "granted"
        table = await cli("list", "--period", "2022")
        assert "Nguyễn Thị Hoa" in table and "Chi bộ Khu phố 1" in table
        assert "125/QĐ-TTCT" in table

        out = await cli(
            "revoke",
            person["aggregate_id"],
            "--decision",
            "130/QĐ-TTCT",
            "--date",
            "2022-12-20",
            "--reason",
            "nhầm người",
        )
        assert f"award {person['aggregate_id']} v2" in out
        again = await js(
            "revoke",
            person["aggregate_id"],
            "--decision",
            "131/QĐ-TTCT",
            "--date",
            "2022-12-21",
            code=1,
        )
        assert again["rule"] == "RevokedAwardCannotBeRevokedAgain"
        assert "revoked" in await cli("show", person["aggregate_id"])
        listed = await js("list", "--recipient", "hoa")
        assert [a["status"] for a in listed] == ["revoked"]

        unavailable = await cli("candidates", "2022", code=1)
        assert "unavailable" in unavailable and "ParticipationMustBeAvailable" in unavailable
