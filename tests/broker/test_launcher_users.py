"""``pioneer up``'s broker work on a real vhost: a deployment's record gets a user per role, and
whoever had rights on the vhost before (``guest``, or an older release's one user with every
right) loses them."""

from __future__ import annotations

import stat
from urllib.parse import quote

import amqp
import pytest
from kombu import Connection

from pioneer import launcher
from pioneer.definitions import CLIENT, Grant
from pioneer.testing.broker import amqp_uri_for


@pytest.fixture
def var(tmp_path, monkeypatch):
    monkeypatch.setenv("PIONEER_VAR", str(tmp_path))
    return tmp_path


def vhost_users(admin, vhost: str) -> set[str]:
    response = admin.session.get(f"{admin.base}/vhosts/{quote(vhost, safe='')}/permissions")
    response.raise_for_status()
    return {entry["user"] for entry in response.json()}


def test_an_older_record_gets_a_user_per_role_and_the_old_user_loses_the_vhost(
    rabbit_admin, vhost, var
):
    old_user = f"{vhost}-pioneer_cixi"
    rabbit_admin.grant(vhost, old_user, "old-password", Grant(".*", ".*", ".*"))
    legacy = launcher.Deployment(
        name="cixi",
        cities=["cixi"],
        vhost=vhost,
        user=old_user,
        password="old-password",
        secret="s" * 32,
        base_port=8111,
    )
    deployment = launcher.with_broker_users(legacy, f"{vhost}-pioneer-cixi-")
    users = [deployment.broker_user(role) for role in launcher.broker_roles()]
    try:
        launcher.prepare_vhost(deployment)
        assert vhost_users(rabbit_admin, vhost) == {*users, launcher.RABBIT_ADMIN[0]}
        assert deployment.user == f"{vhost}-pioneer-cixi-client"
        for role in launcher.broker_roles():
            if role != "ops":  # ops has no AMQP rights, but may open a connection
                with Connection(deployment.amqp_uri(role=role)) as connection:
                    connection.connect()
        old = amqp_uri_for(vhost, user=old_user, password="old-password")
        refused = Connection(old)
        with refused, pytest.raises(amqp.exceptions.NotAllowed):  # no access to the vhost
            refused.connect()

        # The record keeps every password (0600); planning again changes none of them.
        deployment.save()
        record = deployment.dir / "deployment.json"
        assert stat.S_IMODE(record.stat().st_mode) == 0o600
        again = launcher.with_broker_users(launcher.load_deployment("cixi"), "other-")
        assert again == deployment
    finally:
        for user in [*users, old_user]:
            rabbit_admin.delete_user(user)


def test_a_new_deployment_never_uses_guest(var):
    deployment = launcher.new_deployment("shared", ["cixi"], "/", 8101, "pioneer-shared-")
    roles = launcher.broker_roles()
    assert {deployment.broker_user(role) for role in roles} == {
        f"pioneer-shared-{role}" for role in roles
    }
    assert not [role for role in roles if "guest" in deployment.amqp_uri(role=role)]
    assert len({deployment.broker_password(role) for role in roles}) == len(roles)
    env = launcher.service_env(deployment, "points")
    assert env["AMQP_URI"] == deployment.amqp_uri(role="points")
    assert "***" in deployment.amqp_uri(masked=True) and CLIENT in deployment.amqp_uri(True)
