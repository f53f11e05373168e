"""What a command's digest covers: the command, not its transport fields."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from contracts import roster as c
from contracts.replies import Command
from runtime.commands import command_digest

pytestmark = pytest.mark.fast


def rename(**extra: object) -> c.RenameUnit:
    return c.RenameUnit.model_validate(
        {"command_id": "r1", "unit_id": "city", "name": "Thành phố", **extra}
    )


def test_transport_fields_and_spelled_out_defaults_do_not_change_it() -> None:
    base = command_digest(rename())
    assert command_digest(rename(command_id="other")) == base
    assert command_digest(rename(correlation_id="retry-2")) == base
    assert command_digest(rename(effective_on=None, actor="unknown")) == base
    assert len(base) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Thành phố mới"},
        {"actor": "clerk-lan"},
        {"effective_on": date(2022, 4, 1)},
        {"occurred_at": datetime(2022, 4, 1, tzinfo=UTC)},
    ],
)
def test_every_other_field_is_the_command(change: dict[str, object]) -> None:
    assert command_digest(rename(**change)) != command_digest(rename())


class ArchiveThing(Command):
    thing_id: str


class RestoreThing(Command):
    thing_id: str


def test_another_kind_of_command_with_the_same_fields_differs() -> None:
    archive = ArchiveThing(command_id="x", thing_id="t1")
    restore = RestoreThing(command_id="x", thing_id="t1")
    assert command_digest(archive) != command_digest(restore)
