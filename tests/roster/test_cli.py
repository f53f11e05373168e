"""``briefings roster ...`` for every command and query (typer's CliRunner, a real service)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from nats.aio.client import Client
from typer.testing import CliRunner

from briefings.cli import app
from runtime.settings import Settings
from tests.roster.helpers import roster_running

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:")


async def test_every_roster_command_and_query_from_the_cli(settings: Settings, nc: Client) -> None:
    runner = CliRunner()
    env = {"BRIEFINGS_NATS_URL": settings.nats_url, "COLUMNS": "200"}

    async def cli(*args: str, code: int = 0) -> str:
        result = await asyncio.to_thread(runner.invoke, app, ["roster", *args], env=env)
        assert result.exit_code == code, (args, result.output)
        return result.output

    async def js(*args: str) -> Any:
        # The in-process service logs to the same captured stdout: drop its lines.
        out = await cli(*args, "--json")
        return json.loads(
            "".join(line for line in out.splitlines(keepends=True) if not LOG_LINE.match(line))
        )

    async with roster_running(settings, nc):
        assert (await js("register-unit", "Cấp thành phố", "--kind", "city", "--unit-id", "city"))[
            "version"
        ] == 1
        await cli(
            "register-unit",
            "Chi bộ 1",
            "--unit-id",
            "cb1",
            "--parent",
            "city",
            "--code",
            "CB1",
            "--effective-on",
            "2022-01-01",
        )
        await cli("register-unit", "Chi bộ 2", "--unit-id", "cb2", "--parent", "city")
        assert (await js("rename-unit", "cb1", "Chi bộ Khu phố 1"))["version"] == 2
        hoa = (
            await js(
                "enroll",
                "Nguyễn Thị Hoa",
                "--unit",
                "cb1",
                "--code",
                "TTV-1",
                "--effective-on",
                "2022-02-01",
            )
        )["aggregate_id"]
        assert (await js("correct", hoa, "--contact", "0901 234 567"))["version"] == 2
        assert (await js("member", hoa))["full_name"] == "Nguyễn Thị Hoa"
        await cli("change-code", hoa, "TTV-9")
        await cli("transfer", hoa, "city")
        await cli("change-role", hoa, "reporter")
        out = await cli("dissolve-unit", "cb2", "--reason", "sáp nhập")
        assert "unit cb2 v2" in out
        found = await js("find", "--code", "TTV-9")
        assert [m["member_id"] for m in found] == [hoa] and found[0]["role"] == "reporter"
        await cli("retire", hoa, "--on", "2022-11-30", "--reason", "nghỉ hưu")
        refused = await cli("transfer", hoa, "cb1", code=1)
        assert "RetiredMemberCannotBeChanged" in refused
        await cli("reenroll", hoa, "--unit", "city", "--role", "reporter")
        assert (await js("member", hoa))["version"] == 7
        units = await js("units", "--include-dissolved")
        assert {u["unit_id"] for u in units} == {"city", "cb1", "cb2"}
        assert "Chi bộ Khu phố 1" in await cli("units")
        assert (await js("unit", "cb2"))["dissolved_on"] is not None
        table = await cli("members", "--unit", "city")
        assert "Nguyễn Thị Hoa" in table
        # A structured error for people and for scripts.
        assert "UnitMustExist" in await cli("unit", "nowhere", code=1)
        assert "ReporterMustBelongToCityLevel" in await cli(
            "enroll", "Lê Văn Nam", "--unit", "cb1", "--role", "reporter", code=1
        )
