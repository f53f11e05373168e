"""The awards service over a real nats-server, with the real roster service."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from runtime.settings import Settings
from tests.awards.support import service
from tests.support import request

CITY = {"kind": "city", "name": "Cấp thành phố", "unit_id": "city"}
CELL = {"kind": "party_cell", "name": "Chi bộ Khu phố 1", "unit_id": "cell1"}


async def setup_roster(nc: Client) -> None:
    for n, unit in enumerate((CITY, CELL)):
        reply = await request(
            nc,
            "cmd.roster.register_unit",
            {"command_id": f"u{n}", **unit, "effective_on": "2021-01-01"},
        )
        assert reply["ok"], reply


async def enroll(
    nc: Client, member_id: str, effective_on: str = "2022-01-10", unit_id: str = "cell1"
) -> None:
    reply = await request(
        nc,
        "cmd.roster.enroll_member",
        {
            "command_id": f"enrol-{member_id}",
            "member_id": member_id,
            "full_name": f"Member {member_id}",
            "role": "propagandist",
            "unit_id": unit_id,
            "core": True,
            "effective_on": effective_on,
        },
    )
    assert reply["ok"], reply


def grant(recipient_id: str, command_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "command_id": command_id,
        "recipient_type": "individual",
        "recipient_id": recipient_id,
        "award_kind": "certificate_of_merit",
        "title": "Giấy khen",
        "period": "2022",
        "reason": "Tuyên truyền viên nòng cốt xuất sắc",
        "decision_number": "123/QĐ-TTCT",
        "decision_date": "2022-12-09",
        "authority": "Giám đốc Trung tâm Chính trị",
    }
    body.update(changes)
    return body


async def award_events(nc: Client) -> list[dict[str, Any]]:
    js = nc.jetstream()
    last = (await js.stream_info("AWARDS")).state.last_seq
    return [
        json.loads((await js.get_msg("AWARDS", seq)).data or b"null") for seq in range(1, last + 1)
    ]


async def test_grant_show_list_revoke(settings: Settings, nc: Client, database_url: str) -> None:
    settings = settings.with_(database_url=database_url)  # SQLite and PostgreSQL
    async with service("roster", settings, nc), service("awards", settings, nc):
        await setup_roster(nc)
        await enroll(nc, "hoa")
        reply = await request(nc, "cmd.awards.grant_award", grant("hoa", "g1"))
        assert reply["ok"] and reply["aggregate_type"] == "award", reply
        award_id = reply["aggregate_id"]
        collective = await request(
            nc,
            "cmd.awards.grant_award",
            grant("cell1", "g2", recipient_type="collective", title="Tập thể tuyên truyền viên"),
        )
        assert collective["ok"], collective

        shown = await request(nc, "qry.awards.get_award", {"award_id": award_id})
        assert shown["data"]["recipient_name"] == "Member hoa"
        assert shown["data"]["status"] == "granted"
        listed = await request(nc, "qry.awards.list_awards", {"period": "2022"})
        assert {a["recipient_id"] for a in listed["data"]} == {"hoa", "cell1"}

        revoke = {
            "command_id": "r1",
            "award_id": award_id,
            "reason": "wrong person",
            "decision_number": "130/QĐ-TTCT",
            "decision_date": "2022-12-20",
        }
        assert (await request(nc, "cmd.awards.revoke_award", revoke))["ok"]
        again = await request(nc, "cmd.awards.revoke_award", {**revoke, "command_id": "r2"})
        assert again["ok"] is False and again["rule"] == "RevokedAwardCannotBeRevokedAgain"
        repeat = await request(nc, "cmd.awards.revoke_award", revoke)
        assert repeat["ok"] and repeat["replayed"]
        shown = await request(nc, "qry.awards.get_award", {"award_id": award_id})
        assert shown["data"]["status"] == "revoked"

        # The slot is free again, but not under the decision that already granted it.
        dup = await request(nc, "cmd.awards.grant_award", grant("hoa", "g3"))
        assert dup["rule"] == "AwardIsDuplicateUnderDecision", dup
        regrant = await request(
            nc,
            "cmd.awards.grant_award",
            grant("hoa", "g4", decision_number="140/QĐ-TTCT", decision_date="2022-12-28"),
        )
        assert regrant["ok"] and regrant["aggregate_id"] != award_id, regrant
        missing = await request(nc, "qry.awards.get_award", {"award_id": "nope"})
        assert missing["code"] == "not_found" and missing["rule"] == "AwardMustExist"
    events = await award_events(nc)
    assert [e["type"] for e in events] == [
        "AwardGranted",
        "AwardGranted",
        "AwardRevoked",
        "AwardGranted",
    ]


async def test_rules_answer_with_structured_errors(
    settings: Settings, nc: Client, database_url: str
) -> None:
    settings = settings.with_(database_url=database_url)  # SQLite and PostgreSQL
    async with service("roster", settings, nc), service("awards", settings, nc):
        await setup_roster(nc)
        await enroll(nc, "hoa")
        await enroll(nc, "late", effective_on="2022-12-10")
        assert (await request(nc, "cmd.awards.grant_award", grant("hoa", "g1")))["ok"]
        cases = {
            "RecipientMustExist": grant("ghost", "e1"),
            "RecipientMustBeActiveOnDecisionDate": grant("late", "e2"),
            "RecipientCannotHoldSameAwardTwiceForPeriod": grant(
                "hoa", "e3", decision_number="124/QĐ-TTCT"
            ),
            "AwardIsDuplicateUnderDecision": grant("hoa", "e4"),
            "DecisionNumberIdentifiesOneDecision": grant(
                "hoa", "e5", award_kind="letter_of_commendation", decision_date="2022-12-08"
            ),
            "AwardKindMustBeConfigured": grant("hoa", "e6", award_kind="gold_medal"),
        }
        for rule, body in cases.items():
            reply = await request(nc, "cmd.awards.grant_award", body)
            assert reply["ok"] is False and reply["rule"] == rule, (rule, reply)
        bad = await request(nc, "cmd.awards.grant_award", grant("hoa", "e7", period="22"))
        assert bad["code"] == "validation_failed" and bad["details"][0]["field"] == "period"
        missing = await request(
            nc,
            "cmd.awards.revoke_award",
            {
                "command_id": "e8",
                "award_id": "nope",
                "decision_number": "1",
                "decision_date": "2022-12-20",
            },
        )
        assert missing["code"] == "not_found" and missing["rule"] == "AwardMustExist"
    assert len(await award_events(nc)) == 1


async def test_concurrent_double_grant_lets_exactly_one_through(
    settings: Settings, nc: Client, tmp_path: Path
) -> None:
    """Two instances (two stores) and many clerks grant the same slot at once."""
    other = settings.with_(data_dir=tmp_path / "other")
    async with service("roster", settings, nc):
        await setup_roster(nc)
        await enroll(nc, "hoa")
        async with service("awards", settings, nc), service("awards", other, nc):
            for round_ in range(3):
                period = f"202{round_}-Q4" if round_ else "2022"
                replies = await asyncio.gather(
                    *(
                        request(
                            nc,
                            "cmd.awards.grant_award",
                            grant(
                                "hoa",
                                f"race{round_}-{i}",
                                period=period,
                                decision_number=f"{round_}-{i % 3}/QĐ",
                                decision_date="2022-12-09",
                            ),
                        )
                        for i in range(12)
                    )
                )
                winners = [r for r in replies if r["ok"]]
                assert len(winners) == 1, replies
                assert all(
                    r["rule"]
                    in {
                        "RecipientCannotHoldSameAwardTwiceForPeriod",
                        "AwardIsDuplicateUnderDecision",
                    }
                    for r in replies
                    if not r["ok"]
                ), replies
    granted = [e for e in await award_events(nc) if e["type"] == "AwardGranted"]
    assert len(granted) == 3


async def test_enrolment_then_grant_back_to_back_is_never_unknown(
    settings: Settings, nc: Client
) -> None:
    async with service("roster", settings, nc), service("awards", settings, nc):
        await setup_roster(nc)
        for i in range(40):
            await enroll(nc, f"m{i}")
            reply = await request(nc, "cmd.awards.grant_award", grant(f"m{i}", f"g{i}"))
            assert reply["ok"], (i, reply)
            unit = await request(
                nc,
                "cmd.roster.register_unit",
                {
                    "command_id": f"cell-{i}",
                    "unit_id": f"c{i}",
                    "kind": "party_cell",
                    "name": f"Chi bộ {i}",
                    "effective_on": "2022-01-01",
                },
            )
            assert unit["ok"], unit
            reply = await request(
                nc, "cmd.awards.grant_award", grant(f"c{i}", f"gc{i}", recipient_type="collective")
            )
            assert reply["ok"], (i, reply)


async def test_candidates_without_reporting_is_a_structured_unavailable_error(
    settings: Settings, nc: Client
) -> None:
    async with service("awards", settings.with_(request_timeout=1.0), nc):
        reply = await request(nc, "qry.awards.candidates", {"year": 2022})
    assert reply["ok"] is False and reply["code"] == "unavailable"
    assert reply["rule"] == "ParticipationMustBeAvailable"


async def test_repeated_grant_returns_the_first_outcome_even_from_another_instance(
    settings: Settings, nc: Client, tmp_path: Path
) -> None:
    other = settings.with_(data_dir=tmp_path / "fresh")
    async with service("roster", settings, nc):
        await setup_roster(nc)
        await enroll(nc, "hoa")
        async with service("awards", settings, nc):
            first = await request(nc, "cmd.awards.grant_award", grant("hoa", "same"))
            again = await request(nc, "cmd.awards.grant_award", grant("hoa", "same"))
        assert first["ok"] and again["replayed"] and again["event_ids"] == first["event_ids"]
        async with service("awards", other, nc):  # its own, empty database
            later = await request(nc, "cmd.awards.grant_award", grant("hoa", "same"))
    assert later["replayed"] and later["event_ids"] == first["event_ids"], later
    assert len(await award_events(nc)) == 1


async def test_concurrent_revocations_let_exactly_one_through(
    settings: Settings, nc: Client, tmp_path: Path
) -> None:
    other = settings.with_(data_dir=tmp_path / "other")
    async with service("roster", settings, nc):
        await setup_roster(nc)
        await enroll(nc, "hoa")
        async with service("awards", settings, nc), service("awards", other, nc):
            award = await request(nc, "cmd.awards.grant_award", grant("hoa", "g1"))
            replies = await asyncio.gather(
                *(
                    request(
                        nc,
                        "cmd.awards.revoke_award",
                        {
                            "command_id": f"r{i}",
                            "award_id": award["aggregate_id"],
                            "reason": f"clerk {i}",
                            "decision_number": "130/QĐ-TTCT",
                            "decision_date": "2022-12-20",
                        },
                    )
                    for i in range(10)
                )
            )
    assert sum(r["ok"] for r in replies) == 1, replies
    assert {r["rule"] for r in replies if not r["ok"]} == {"RevokedAwardCannotBeRevokedAgain"}
    assert [e["type"] for e in await award_events(nc)] == ["AwardGranted", "AwardRevoked"]


async def test_award_kinds_come_from_settings(settings: Settings, nc: Client) -> None:
    configured = settings.with_(award_kinds=("giay_khen", "bang_khen"))
    async with service("roster", settings, nc), service("awards", configured, nc):
        await setup_roster(nc)
        await enroll(nc, "hoa")
        ok = await request(nc, "cmd.awards.grant_award", grant("hoa", "g1", award_kind="bang_khen"))
        refused = await request(
            nc,
            "cmd.awards.grant_award",
            grant("hoa", "g2", award_kind="certificate_of_merit", decision_number="2/QĐ"),
        )
    assert ok["ok"], ok
    assert refused["rule"] == "AwardKindMustBeConfigured"
    assert refused["context"]["configured"] == ["giay_khen", "bang_khen"]


async def test_active_on_the_decision_date_follows_the_roster_history(
    settings: Settings, nc: Client
) -> None:
    async with service("roster", settings, nc), service("awards", settings, nc):
        await setup_roster(nc)
        await enroll(nc, "hoa")
        roster = [
            ("retire_member", {"member_id": "hoa", "effective_on": "2022-11-30"}),
            (
                "rename_unit",
                {"unit_id": "cell1", "name": "Chi bộ Khu phố Một", "effective_on": "2022-06-01"},
            ),
            (
                "register_unit",
                {
                    "unit_id": "cell2",
                    "kind": "party_cell",
                    "name": "Chi bộ 2",
                    "effective_on": "2021-01-01",
                },
            ),
            ("dissolve_unit", {"unit_id": "cell2", "effective_on": "2022-10-01"}),
        ]
        for n, (name, body) in enumerate(roster):
            reply = await request(nc, f"cmd.roster.{name}", {"command_id": f"r{n}", **body})
            assert reply["ok"], (name, reply)

        retired = await request(nc, "cmd.awards.grant_award", grant("hoa", "g1"))
        assert retired["rule"] == "RecipientMustBeActiveOnDecisionDate", retired
        before = await request(
            nc,
            "cmd.awards.grant_award",
            grant("hoa", "g2", decision_number="100/QĐ", decision_date="2022-11-29"),
        )
        assert before["ok"], before
        reply = await request(
            nc,
            "cmd.roster.reenroll_member",
            {
                "command_id": "back",
                "member_id": "hoa",
                "role": "propagandist",
                "unit_id": "cell1",
                "effective_on": "2022-12-05",
            },
        )
        assert reply["ok"], reply
        back = await request(
            nc, "cmd.awards.grant_award", grant("hoa", "g3", award_kind="letter_of_commendation")
        )
        assert back["ok"], back

        dissolved = await request(
            nc, "cmd.awards.grant_award", grant("cell2", "g4", recipient_type="collective")
        )
        assert dissolved["rule"] == "RecipientMustBeActiveOnDecisionDate", dissolved
        team = await request(
            nc, "cmd.awards.grant_award", grant("cell1", "g5", recipient_type="collective")
        )
        early = await request(
            nc,
            "cmd.awards.grant_award",
            grant(
                "cell1",
                "g6",
                recipient_type="collective",
                period="2022-H1",
                decision_number="50/QĐ",
                decision_date="2022-05-20",
            ),
        )
        names = {}
        for reply in (team, early):
            assert reply["ok"], reply
            shown = await request(nc, "qry.awards.get_award", {"award_id": reply["aggregate_id"]})
            names[shown["data"]["period"]] = shown["data"]["recipient_name"]
    assert names == {"2022": "Chi bộ Khu phố Một", "2022-H1": "Chi bộ Khu phố 1"}
