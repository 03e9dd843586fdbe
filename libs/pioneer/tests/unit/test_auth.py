import pytest

from pioneer import auth
from pioneer.errors import Forbidden, Unauthorized

SECRET = "s" * 32


def bearer(**kw):
    defaults = {"sub": "v1", "city": "cixi", "roles": ["volunteer"]}
    defaults.update(kw)
    return "Bearer " + auth.issue_token(
        SECRET, defaults["sub"], defaults["city"], defaults["roles"], kw.get("ttl_s", 60)
    )


def test_valid_token_gives_the_caller():
    caller = auth.decode_token(SECRET, bearer(roles=["admin", "ops"]))
    assert caller.sub == "v1" and caller.city == "cixi" and caller.roles == {"admin", "ops"}


def test_expiry_has_a_small_leeway():
    assert auth.decode_token(SECRET, bearer(ttl_s=-5), leeway_s=10).sub == "v1"
    with pytest.raises(Unauthorized, match="expired"):
        auth.decode_token(SECRET, bearer(ttl_s=-30), leeway_s=10)


def test_exp_is_required():
    import jwt

    token = jwt.encode({"sub": "x", "city": "cixi", "roles": ["admin"]}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized):
        auth.decode_token(SECRET, "Bearer " + token)


def test_none_algorithm_is_refused():
    import jwt

    token = jwt.encode(
        {"sub": "x", "city": "cixi", "roles": ["admin"], "exp": 2**31}, None, algorithm="none"
    )
    with pytest.raises(Unauthorized):
        auth.decode_token(SECRET, "Bearer " + token)


def test_volunteer_acts_only_for_itself():
    me = auth.Caller("cixi-vol-1", "cixi", frozenset({"volunteer"}))
    auth.require_acting_for(me, "cixi-vol-1", "cixi")
    # A volunteer serving in another city acts for itself there too.
    auth.require_acting_for(me, "cixi-vol-1", "haining")
    with pytest.raises(Forbidden):
        auth.require_acting_for(me, "cixi-vol-2", "cixi")


def test_admin_acts_for_volunteers_of_its_city_only():
    admin = auth.Caller("a", "cixi", frozenset({"admin"}))
    auth.require_acting_for(admin, "cixi-vol-2", "cixi")
    with pytest.raises(Forbidden):
        auth.require_acting_for(admin, "haining-vol-2", "haining")
    everywhere = auth.Caller("a", "*", frozenset({"dispatcher"}))
    auth.require_acting_for(everywhere, "haining-vol-2", "haining")


def test_ops_and_station_manager_cannot_act_for_volunteers():
    for role in ("ops", "station_manager"):
        with pytest.raises(Forbidden):
            auth.require_acting_for(
                auth.Caller("x", "cixi", frozenset({role})), "cixi-vol-1", "cixi"
            )


RULES = auth.TokenRules("shared", auth.DEFAULT_MAX_TTL_S)


def scoped(roles, ttl_s, deployment="shared"):
    return "Bearer " + auth.issue_token(SECRET, "x", "cixi", roles, ttl_s, deployment)


def test_no_token_outlives_its_roles():
    assert auth.decode_token(SECRET, scoped(["admin"], 12 * 3600), rules=RULES).is_admin
    assert auth.decode_token(SECRET, scoped(["system"], 30 * 86400), rules=RULES).has("system")
    for roles, ttl_s in [
        (["admin"], 10 * 365 * 86400),  # the ten-year admin token
        (["admin"], 13 * 3600),
        (["system"], 31 * 86400),
        (["system", "volunteer"], 86400),  # several roles: the shortest limit
    ]:
        with pytest.raises(Unauthorized, match="longer than its roles allow"):
            auth.decode_token(SECRET, scoped(roles, ttl_s), rules=RULES)


def test_an_exp_in_the_year_9999_is_refused():
    import jwt

    claims = {"sub": "x", "city": "*", "roles": ["admin"], "exp": 253402300799}
    claims["iss"] = claims["aud"] = auth.scope_of("shared")
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized, match="longer"):
        auth.decode_token(SECRET, "Bearer " + token, rules=RULES)


def test_a_token_is_good_only_for_the_deployment_that_issued_it():
    with pytest.raises(Unauthorized, match="invalid token"):
        auth.decode_token(SECRET, scoped(["admin"], 60, deployment="cixi"), rules=RULES)
    with pytest.raises(Unauthorized, match="invalid token"):  # no iss or aud at all
        auth.decode_token(SECRET, bearer(roles=["admin"]), rules=RULES)


def test_the_cli_refuses_a_token_longer_than_the_role_allows(capsys, monkeypatch):
    from pioneer import cli

    monkeypatch.setenv("JWT_SECRET", SECRET)
    argv = ["token", "--city", "cixi", "--role", "admin", "--sub", "ops-1"]
    assert cli.main([*argv, "--ttl", "315360000"]) == 2
    assert "longer than admin may live" in capsys.readouterr().err
    assert cli.main([*argv, "--ttl", "3600"]) == 0
    token = capsys.readouterr().out.strip()
    assert auth.decode_token(SECRET, "Bearer " + token, rules=RULES).sub == "ops-1"
