"""Authentication and authorisation: HS256 JWTs, roles and city scope.

Every RPC passes through ``authenticate`` before any work: it reads ``authorization`` from the
nameko context data, checks the signature and expiry (``exp`` required, a small leeway) and the
entrypoint's roles. The rest of a method's access policy is declared with it (``Policy``: the
city the caller must cover, the volunteer a token acts for, the deployment the record lives in)
and checked by the same guard once the arguments are bound, so no use case re-checks it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt

from . import ids
from .errors import Forbidden, Unauthorized, WrongCity

ADMIN = "admin"
DISPATCHER = "dispatcher"
STATION_MANAGER = "station_manager"
VOLUNTEER = "volunteer"
SYSTEM = "system"
OPS = "ops"
ROLES = frozenset({ADMIN, DISPATCHER, STATION_MANAGER, VOLUNTEER, SYSTEM, OPS})
ANY_ROLE = ROLES
# Roles that may act for any volunteer of their city (the ``volunteer_id`` argument).
ACTS_FOR_VOLUNTEERS = frozenset({ADMIN, DISPATCHER, SYSTEM})
ALL_CITIES = "*"
ALGORITHM = "HS256"
# The longest a token may live, by role: a working day for people, a month for a system. A
# token with several roles gets the shortest of theirs. Services read it from config
# (``TOKEN_MAX_TTL_S``); ``pioneer token`` refuses to issue anything longer.
DEFAULT_MAX_TTL_S = {
    ADMIN: 12 * 3600,
    DISPATCHER: 12 * 3600,
    STATION_MANAGER: 12 * 3600,
    VOLUNTEER: 12 * 3600,
    OPS: 12 * 3600,
    SYSTEM: 30 * 86400,
}


def scope_of(deployment: str) -> str:
    """A deployment's token ``iss`` and ``aud``: a token is good for the deployment that
    issued it only."""
    return f"pioneer:{deployment}"


def max_ttl_s(roles: Iterable[str], limits: dict[str, int] | None = None) -> int:
    """The longest a token holding ``roles`` may live (the shortest of the roles' limits)."""
    limits = limits or DEFAULT_MAX_TTL_S
    return min(limits.get(role, min(limits.values())) for role in roles)


@dataclass(frozen=True)
class Caller:
    """Who is calling: the token's subject, city and roles."""

    sub: str
    city: str
    roles: frozenset[str] = field(default_factory=frozenset)

    def has(self, *roles: str) -> bool:
        """Whether the caller holds any of ``roles``."""
        return not self.roles.isdisjoint(roles)

    def covers(self, city: str) -> bool:
        """Whether the caller's city scope includes ``city``."""
        return self.city == ALL_CITIES or self.city == city

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def volunteer_only(self) -> bool:
        """A volunteer's own token: no staff role beside ``volunteer``."""
        return self.roles == {VOLUNTEER}


def service_identity(service: str) -> Caller:
    """The identity event handlers and timers act with."""
    return Caller(sub=f"service:{service}", city=ALL_CITIES, roles=frozenset({SYSTEM}))


def issue_token(
    secret: str,
    sub: str,
    city: str,
    roles: Iterable[str],
    ttl_s: int = 3600,
    deployment: str | None = None,
) -> str:
    """A signed token for ``sub``; with ``deployment``, scoped to it (``iss`` and ``aud``),
    which is what a deployment's services accept. Used by ``pioneer token``, the launcher, the
    tests and services calling each other."""
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": sub,
        "city": city,
        "roles": sorted(set(roles)),
        "iat": now,
        "exp": now + ttl_s,
    }
    if deployment is not None:
        claims["iss"] = claims["aud"] = scope_of(deployment)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


@dataclass(frozen=True)
class TokenRules:
    """What a deployment's services accept: tokens it issued for itself (``iss``/``aud``, when
    ``deployment`` is set), and no longer-lived than the role allows."""

    deployment: str | None = None
    max_ttl_s: dict[str, int] | None = None


def decode_token(
    secret: str, authorization: object, leeway_s: int = 10, rules: TokenRules | None = None
) -> Caller:
    """Check a ``Bearer`` header and return its caller; anything wrong is ``Unauthorized``."""
    return _decode(secret, authorization, leeway_s, rules or TokenRules())[0]


def _bearer(authorization: object) -> str:
    if not authorization:
        raise Unauthorized("missing bearer token (context data 'authorization')")
    if (
        not isinstance(authorization, str)
        or not authorization.startswith("Bearer ")
        or len(authorization) > 4096
    ):
        raise Unauthorized("authorization must be 'Bearer <jwt>'")
    return authorization[len("Bearer ") :].strip()


def _decode(
    secret: str, authorization: object, leeway_s: int, rules: TokenRules
) -> tuple[Caller, float]:
    token = _bearer(authorization)
    required = ["exp", "sub", "city", "roles"]
    scope = None if rules.deployment is None else scope_of(rules.deployment)
    if scope is not None:
        required += ["iss", "aud"]
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            leeway=leeway_s,
            issuer=scope,
            audience=scope,
            options={"require": required, "verify_aud": scope is not None},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"invalid token: {exc}") from None
    sub, city, roles = claims.get("sub"), claims.get("city"), claims.get("roles")
    if not isinstance(sub, str) or not sub or not isinstance(city, str) or not city:
        raise Unauthorized("invalid token: sub and city must be strings")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthorized("invalid token: roles must be a list of strings")
    known = frozenset(roles) & ROLES
    if not known:
        raise Unauthorized("invalid token: no known role")
    expires = claims["exp"]
    if not isinstance(expires, int | float):
        raise Unauthorized("invalid token: exp must be a number")
    longest = max_ttl_s(known, rules.max_ttl_s)
    if expires - time.time() > longest + leeway_s:
        raise Unauthorized(f"token lives longer than its roles allow ({longest} s)")
    return Caller(sub=sub, city=city, roles=known), float(expires)


class TokenCache:
    """``decode_token`` with the verified callers of recent tokens remembered until they expire.

    A client sends the same token on every call; verifying its signature each time was the
    largest single cost of a cheap read. Only valid tokens are cached (by their exact text, so
    an altered token is a miss and is verified); expiry is checked on every hit.
    """

    def __init__(
        self,
        secret: str,
        leeway_s: int = 10,
        size: int = 4096,
        rules: TokenRules | None = None,
    ) -> None:
        self._secret = secret
        self._leeway_s = leeway_s
        self._size = size
        self._rules = rules or TokenRules()
        self._known: dict[str, tuple[Caller, float]] = {}

    def decode(self, authorization: object) -> Caller:
        """The caller of ``authorization``; ``Unauthorized`` as ``decode_token`` says."""
        hit = self._known.get(authorization) if isinstance(authorization, str) else None
        if hit is not None:
            caller, expires = hit
            if time.time() <= expires + self._leeway_s:
                return caller
            del self._known[authorization]
            raise Unauthorized("token expired")
        caller, expires = _decode(self._secret, authorization, self._leeway_s, self._rules)
        if len(self._known) >= self._size:
            self._known.pop(next(iter(self._known)))  # the oldest entry
        self._known[authorization] = (caller, expires)  # type: ignore[index]
        return caller


def require_roles(caller: Caller, allowed: Iterable[str]) -> None:
    """``Forbidden`` unless the caller holds one of ``allowed``."""
    allowed = frozenset(allowed)
    if caller.roles.isdisjoint(allowed):
        raise Forbidden(
            f"role {', '.join(sorted(caller.roles))} may not call this (needs {', '.join(sorted(allowed))})"
        )


def require_city(caller: Caller, city: str, roles: Iterable[str] | None = None) -> None:
    """``Forbidden`` unless the caller may act in ``city`` (optionally also with ``roles``)."""
    if roles is not None:
        require_roles(caller, roles)
    if not caller.covers(city):
        raise Forbidden(f"token for city '{caller.city}' may not act in '{city}'")


def require_acting_for(
    caller: Caller,
    volunteer_id: str,
    volunteer_city: str,
    staff: Iterable[str] = ACTS_FOR_VOLUNTEERS,
) -> None:
    """A volunteer token acts only for itself; the ``staff`` roles (by default admin,
    dispatcher and system) for the volunteers of their city."""
    staff = frozenset(staff)
    if VOLUNTEER in caller.roles and caller.sub == volunteer_id:
        return
    if caller.has(*staff) and caller.covers(volunteer_city):
        return
    if VOLUNTEER in caller.roles and not caller.has(*staff):
        raise Forbidden("a volunteer token acts only for its own volunteer id")
    raise Forbidden(f"may not act for volunteers of '{volunteer_city}'")


def city_in(value: Any) -> str | None:
    """The city an argument names: a record id's home city, or a city name itself."""
    if not isinstance(value, str):
        return None
    return ids.city_of(value) if ids.is_valid(value) else value


def _resolve(path: str, values: Any) -> Any:
    value = values
    for name in path.split("."):
        value = getattr(value, name, None)
    return value


@dataclass(frozen=True)
class Policy:
    """Who may call a method, declared with it and checked by the guard, in this order:

    - ``roles``: the token holds one of them (``None``: no token is needed, ``ping`` only);
    - ``city``: the argument (a dotted path into the arguments: ``station.city``,
      ``station_id``) whose city the caller's token must cover;
    - ``acting_for``: the argument naming a volunteer: a ``volunteer`` token only for its own
      id, the ``staff`` roles for the volunteers of their city;
    - ``home``: ``(argument, what)``, or several: each record's city must be served by this
      deployment, else ``WrongCity`` (writes and home-only reads go to the home deployment).

    ``city_of`` finds the city an argument names (by default a record id's city prefix, or a
    city name itself; notify's recipients also name ``admins:<city>``).

    ``volunteers`` says, in words, what a volunteer's own token may reach when that depends on
    the record (``"published wishes and its own"``): the city check is then for staff only
    (volunteers serve in any city), and the use case applies the rule to the stored record.
    """

    roles: frozenset[str] | None
    city: str | None = None
    acting_for: str | None = None
    staff: frozenset[str] = ACTS_FOR_VOLUNTEERS
    home: tuple[str, str] | tuple[tuple[str, str], ...] | None = None
    city_of: Callable[[Any], str | None] = city_in
    volunteers: str | None = None

    @property
    def homes(self) -> tuple[tuple[str, str], ...]:
        """``home`` as a tuple of ``(argument, what)`` pairs."""
        if self.home is None:
            return ()
        return (self.home,) if isinstance(self.home[0], str) else self.home  # type: ignore[return-value]

    def check(self, caller: Caller, values: Any, serves: Callable[[str], bool]) -> None:
        """The checks after the roles, on the bound arguments ``values``: the city the caller
        must cover, the volunteer acted for, then the home deployment."""
        if self.city is not None and not (self.volunteers and caller.volunteer_only):
            city = self.city_of(_resolve(self.city, values))
            if city is not None and not caller.covers(city):
                raise Forbidden(f"token for city '{caller.city}' may not act in '{city}'")
        if self.acting_for is not None:
            acted_for = _resolve(self.acting_for, values)
            city = self.city_of(acted_for)
            if isinstance(acted_for, str) and city is not None:
                require_acting_for(caller, acted_for, city, self.staff)
        for path, what in self.homes:
            city = self.city_of(_resolve(path, values))
            if city is not None and not serves(city):
                raise WrongCity(city, what)

    def describe(self) -> str:
        """The policy in words, for the API reference."""
        if self.roles is None:
            return "no token needed"
        parts = [", ".join(f"`{r}`" for r in sorted(self.roles))]
        if self.city is not None:
            parts.append(f"of the city of `{self.city}`")
        if self.acting_for is not None:
            staff = ", ".join(f"`{r}`" for r in sorted(self.staff))
            parts.append(
                f"a `volunteer` token only as `{self.acting_for}`; {staff} for those of their city"
            )
        if self.volunteers is not None:
            parts.append(f"a `volunteer` token: {self.volunteers}")
        if self.homes:
            names = " and ".join(f"`{path}`" for path, _ in self.homes)
            parts.append(f"at the home deployment of {names} (else `WrongCity`)")
        return "; ".join(parts)

    def reach(self, role: str) -> str:
        """What a token holding only ``role`` reaches, for the API reference's table."""
        if self.roles is None:
            return "anyone"
        if role not in self.roles:
            return "—"
        if role == VOLUNTEER and self.acting_for is not None and role not in self.staff:
            return "self"
        if role == VOLUNTEER and self.volunteers is not None:
            return self.volunteers
        if self.acting_for is not None and role in self.staff:
            return "own city"
        return "own city" if self.city is not None else "any city"
