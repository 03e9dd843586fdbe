"""Planning replicas without starting anything: ports and files per replica, pools sized to the
server's free connections (or a refusal with the arithmetic), and replicas refused on SQLite."""

from __future__ import annotations

import pytest

from pioneer import databases, launcher


def deployment(**fields) -> launcher.Deployment:
    made = launcher.new_deployment(
        name="plan", cities=["cixi"], vhost="plan", base_port=8101, user_prefix="plan-"
    )
    for key, value in fields.items():
        setattr(made, key, value)
    return made


def test_each_replica_has_its_own_port_and_files(tmp_path, monkeypatch):
    monkeypatch.setenv("PIONEER_VAR", str(tmp_path))
    planned = deployment(replicas=3)
    order = launcher.built_services()
    ports = {planned.port(s, r) for s in order for r in (1, 2, 3)}
    assert len(ports) == 3 * len(order)  # no two processes share a port
    assert planned.port(order[0]) == 8101 and planned.port(order[0], 2) == 8201
    assert planned.pid_file(order[0]).name == f"{order[0]}.pid"
    assert planned.log_file(order[0], 2).name == f"{order[0]}-2.log"
    assert planned.running_replicas(order[0]) == [1, 2, 3]


def test_pools_fit_the_server_or_the_plan_is_refused():
    # Room for everyone: the pool asked for.
    assert databases.fit_pools(free=300, processes=10, wanted=14, fixed=False) == 14
    # Not enough: an equal share, each process at its worst (pool + overflow) within it.
    fitted = databases.fit_pools(free=95, processes=10, wanted=14, fixed=False)
    assert fitted == 4 and 10 * 2 * fitted <= 95
    # Too little even for the least pool, or an explicit pool that does not fit: refused.
    with pytest.raises(ValueError, match="10 service processes need up to 40"):
        databases.fit_pools(free=30, processes=10, wanted=14, fixed=False)
    with pytest.raises(ValueError, match=r"2 × pool of 14 each.*95 free.*PgBouncer"):
        databases.fit_pools(free=95, processes=10, wanted=14, fixed=True)


def test_replicas_on_sqlite_are_refused_before_anything_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("PIONEER_VAR", str(tmp_path))
    with pytest.raises(launcher.LaunchError, match="2 replicas need PostgreSQL"):
        launcher.up([deployment(replicas=2)])
    assert not (tmp_path / "plan").exists()  # nothing recorded, nothing started
    with pytest.raises(launcher.LaunchError, match="replicas must be 1 to 9"):
        launcher.with_replicas(deployment(), 0)
