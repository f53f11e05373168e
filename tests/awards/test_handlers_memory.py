"""Awards handlers on the in-memory event store: recipients come from the ROSTER stream the
roster handlers wrote into the same store (no nats-server)."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest

from contracts import awards as a
from contracts import roster as r
from runtime.commands import CommandIdReused
from runtime.domain import DomainError
from tests.inmemory import awards_instance, memory_store, roster_instance, running

pytestmark = pytest.mark.fast


def grant(command_id: str, recipient_id: str, recipient_type: str = "individual") -> a.GrantAward:
    return a.GrantAward(
        command_id=command_id,
        recipient_type=recipient_type,
        recipient_id=recipient_id,
        title="Giấy khen",
        period="2022",
        decision_number="1/QĐ",
        decision_date=date(2022, 12, 9),
    )


async def test_grant_to_known_recipients_refuse_the_unknown_and_revoke(tmp_path: Path) -> None:
    es = await memory_store()
    roster = await roster_instance(es, tmp_path / "roster.db")
    awards = await awards_instance(es, tmp_path / "awards.db")
    async with running(roster, awards):
        await roster.send(
            r.RegisterUnit(
                command_id="u1",
                unit_id="cell1",
                kind="party_cell",
                name="Chi bộ 1",
                effective_on=date(2022, 1, 1),
            )
        )
        await roster.send(
            r.EnrollMember(
                command_id="m1",
                member_id="hoa",
                full_name="Nguyễn Thị Hoa",
                role="propagandist",
                unit_id="cell1",
                effective_on=date(2022, 1, 10),
            )
        )
        person = await awards.send(grant("g1", "hoa"))
        collective = await awards.send(grant("g2", "cell1", "collective"))
        assert person.aggregate_type == collective.aggregate_type == "award"
        with pytest.raises(DomainError) as unknown:
            await awards.send(grant("g3", "ghost"))
        assert unknown.value.rule == "RecipientMustExist"
        with pytest.raises(DomainError) as twice:
            await awards.send(grant("g4", "hoa"))
        assert twice.value.code in ("already_exists", "conflict")
        revoked = await awards.send(
            a.RevokeAward(
                command_id="v1",
                award_id=person.aggregate_id,
                reason="sai sót",
                decision_number="2/QĐ",
                decision_date=date(2022, 12, 20),
            )
        )
        assert revoked.version == 2
        assert await es.stream_last_sequence("AWARDS") == 3


async def test_concurrent_copies_of_one_grant_one_outcome_and_no_reuse(tmp_path: Path) -> None:
    es = await memory_store()
    roster = await roster_instance(es, tmp_path / "roster.db")
    one = await awards_instance(es, tmp_path / "one.db")
    two = await awards_instance(es, tmp_path / "two.db")
    async with running(roster, one, two):
        await roster.send(
            r.RegisterUnit(
                command_id="u1",
                unit_id="cell1",
                kind="party_cell",
                name="Chi bộ 1",
                effective_on=date(2022, 1, 1),
            )
        )
        copy = grant("g1", "cell1", "collective")
        replies = await asyncio.gather(*((one if i % 2 else two).send(copy) for i in range(10)))
        assert len({tuple(x.event_ids) for x in replies}) == 1
        with pytest.raises(CommandIdReused):
            await two.send(
                grant("g1", "cell1", "collective").model_copy(update={"title": "Bằng khen"})
            )
        assert await es.stream_last_sequence("AWARDS") == 1
