"""deploy/nats/permissions.conf is what briefings/access.py says (generated, not hand-edited)."""

from __future__ import annotations

from briefings.access import PERMISSIONS_FILE, ROLES, deploy_permissions


def test_the_deployed_permissions_are_generated_from_the_roles() -> None:
    assert PERMISSIONS_FILE.read_text() == deploy_permissions(), "run python -m briefings.access"


def test_only_bootstrap_may_configure_streams_and_nobody_uses_the_unnamed_consumer_create() -> None:
    for name, role in ROLES.items():
        allowed = " ".join(role.publish)
        assert "$JS.API.STREAM.DELETE" not in allowed and "$JS.API.STREAM.PURGE" not in allowed
        if name != "bootstrap":
            assert "$JS.API.STREAM.CREATE" not in allowed, name
            assert "$JS.API.STREAM.UPDATE" not in allowed, name
            assert "$JS.API.CONSUMER.CREATE.*" in role.deny, name
        assert not any(
            s.count(".") == 4 and s.startswith("$JS.API.CONSUMER.CREATE.") for s in role.publish
        )
