"""Issue #13 finding 4: the embedded default (what ``scripts/run.sh`` / ``briefings up`` runs)
has users and permissions like the deployment; an anonymous local process is refused. (The
attacks of test_attacks.py and test_findings.py also run against it: ``deployed`` fixture.)"""

from __future__ import annotations

import stat
from pathlib import Path

import nats
import pytest

from briefings.access import EMBEDDED_CONFIG, ROLES, cli_role, ensure_embedded_access
from runtime.settings import Settings, credentials_path
from tests.security.support import Principal, Secured, embedded_server


@pytest.fixture
def embedded(tmp_path: Path) -> Secured:
    secured = embedded_server(tmp_path)
    yield secured  # type: ignore[misc]
    secured.server.stop()


async def test_finding_4_an_anonymous_process_cannot_write_or_delete(embedded: Secured) -> None:
    """The reviewer's local process published into AWARDS and deleted the stream."""
    for options in ({}, {"user": "awards", "password": "guess"}):
        with pytest.raises(Exception, match=r"[Aa]uthorization"):
            await nats.connect(
                embedded.url,
                max_reconnect_attempts=0,
                allow_reconnect=False,
                connect_timeout=3,
                **options,
            )
    bootstrap = await Principal("bootstrap").connect(embedded.url, embedded.passwords["bootstrap"])
    awards = await Principal("awards").connect(embedded.url, embedded.passwords["awards"])
    try:
        js = bootstrap.client.jetstream()
        await js.add_stream(name="AWARDS", subjects=["ev.awards.>"], deny_delete=True)
        await awards.client.jetstream().publish("ev.awards.award.a1", b"{}", stream="AWARDS")
        await awards.try_publish("$JS.API.STREAM.DELETE.AWARDS")
        await bootstrap.try_publish("$JS.API.STREAM.DELETE.AWARDS")
        assert (await js.stream_info("AWARDS")).state.messages == 1
    finally:
        await bootstrap.close()
        await awards.close()


def test_the_credentials_are_owner_only_and_kept_across_starts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = ensure_embedded_access(data)
    folder = credentials_path(data, "clerk").parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in [config, *folder.iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert {p.stem for p in folder.iterdir()} == set(ROLES)
    before = {p.name: p.read_text() for p in folder.iterdir()}
    assert ensure_embedded_access(data) == data / EMBEDDED_CONFIG
    assert {p.name: p.read_text() for p in folder.iterdir()} == before
    assert "password" in config.read_text() and "user: bootstrap" in config.read_text()


def test_services_and_the_cli_find_their_credentials_by_themselves(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ensure_embedded_access(data)
    env = {"BRIEFINGS_DATA_DIR": str(data)}
    roster = Settings.from_env({**env, "BRIEFINGS_ROLE": cli_role(["serve", "roster"])})
    assert roster.nats_user == "roster" and roster.nats_password
    assert Settings.from_env(
        {**env, "BRIEFINGS_ROLE": cli_role(["audit", "verify"])}
    ).nats_user == ("auditor")
    clerk = Settings.from_env({**env, "BRIEFINGS_ROLE": cli_role(["roster", "enroll"])})
    assert clerk.nats_user == "clerk"
    assert clerk.as_role("operator").nats_user == "operator"
    assert cli_role(["ops", "init-streams"]) == "bootstrap"
    assert cli_role(["reporting", "rebuild"]) == "operator"
    # credentials set explicitly win; no credential files: nothing changes
    explicit = Settings.from_env(
        {
            **env,
            "BRIEFINGS_ROLE": "roster",
            "BRIEFINGS_NATS_USER": "u",
            "BRIEFINGS_NATS_PASSWORD": "p",
        }
    )
    assert (explicit.nats_user, explicit.as_role("clerk").nats_user) == ("u", "u")
    empty = Settings.from_env(
        {"BRIEFINGS_DATA_DIR": str(tmp_path / "none"), "BRIEFINGS_ROLE": "roster"}
    )
    assert empty.nats_user is None
