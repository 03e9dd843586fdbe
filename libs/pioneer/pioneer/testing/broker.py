"""Throwaway RabbitMQ vhosts and least-privilege users through the management API."""

from __future__ import annotations

import os
import secrets
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlparse

import requests

if TYPE_CHECKING:
    from ..definitions import Grant

AMQP_BASE = os.environ.get("PIONEER_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
API_BASE = os.environ.get("PIONEER_TEST_RABBIT_API", "http://guest:guest@127.0.0.1:15672")


class RabbitAdmin:
    """Just enough of the management API: vhosts, permissions, queues."""

    def __init__(self, api: str = API_BASE) -> None:
        parsed = urlparse(api)
        self.base = f"{parsed.scheme}://{parsed.hostname}:{parsed.port or 15672}/api"
        self.session = requests.Session()
        self.session.auth = (parsed.username or "guest", parsed.password or "guest")

    def _url(self, *parts: str) -> str:
        return "/".join([self.base, *(quote(p, safe="") for p in parts)])

    def reachable(self) -> bool:
        try:
            return self.session.get(f"{self.base}/overview", timeout=3).ok
        except requests.RequestException:
            return False

    def create_vhost(self, vhost: str, user: str = "guest") -> None:
        self.session.put(self._url("vhosts", vhost), timeout=30).raise_for_status()
        self.session.put(
            self._url("permissions", vhost, user),
            json={"configure": ".*", "write": ".*", "read": ".*"},
            timeout=30,
        ).raise_for_status()

    def delete_vhost(self, vhost: str) -> None:
        self.session.delete(self._url("vhosts", vhost), timeout=60)

    def delete_user(self, user: str) -> None:
        self.session.delete(self._url("users", user), timeout=30)

    def grant(self, vhost: str, user: str, password: str, grant: Grant) -> None:
        """Create ``user`` with ``password`` and exactly ``grant``'s rights on ``vhost``."""
        self.session.put(
            self._url("users", user),
            json={"password": password, "tags": ",".join(grant.tags)},
            timeout=30,
        ).raise_for_status()
        self.session.put(
            self._url("permissions", vhost, user),
            json={"configure": grant.configure, "write": grant.write, "read": grant.read},
            timeout=30,
        ).raise_for_status()
        for exchange, (write, read) in sorted(grant.topics.items()):
            self.session.put(
                self._url("topic-permissions", vhost, user),
                json={"exchange": exchange, "write": write, "read": read},
                timeout=30,
            ).raise_for_status()

    def load_definitions(self, vhost: str, definitions: dict[str, Any]) -> None:
        """Load exchanges, queues and bindings (``definitions.topology``) into ``vhost``."""
        self.session.post(
            self._url("definitions", vhost), json=definitions, timeout=60
        ).raise_for_status()

    def queues(self, vhost: str) -> list[dict]:
        response = self.session.get(self._url("queues", vhost), timeout=30)
        response.raise_for_status()
        return response.json()

    def queue(self, vhost: str, name: str) -> dict:
        response = self.session.get(self._url("queues", vhost, name), timeout=30)
        response.raise_for_status()
        return response.json()

    def delete_queue(self, vhost: str, name: str) -> None:
        response = self.session.delete(self._url("queues", vhost, name), timeout=30)
        response.raise_for_status()

    def bindings(self, vhost: str, queue: str) -> list[dict]:
        """The bindings whose destination is ``queue`` (the default exchange's included)."""
        response = self.session.get(self._url("queues", vhost, queue, "bindings"), timeout=30)
        response.raise_for_status()
        return response.json()


class BrokerUsers:
    """Least-privilege users on a test vhost, one per role, each with a fresh password;
    ``uri(role)`` connects as one. ``delete()`` removes them (the vhost goes on its own)."""

    def __init__(self, admin: RabbitAdmin, vhost: str, grants: dict[str, Grant]) -> None:
        self.admin = admin
        self.vhost = vhost
        self.users: dict[str, tuple[str, str]] = {}
        for role, grant in grants.items():
            user, password = f"{vhost}-{role}", secrets.token_urlsafe(16)
            admin.grant(vhost, user, password, grant)
            self.users[role] = (user, password)

    def user(self, role: str) -> str:
        return self.users[role][0]

    def uri(self, role: str) -> str:
        user, password = self.users[role]
        return amqp_uri_for(self.vhost, user=user, password=password)

    def delete(self) -> None:
        for user, _ in self.users.values():
            self.admin.delete_user(user)


def new_vhost_name(prefix: str = "pioneer-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def amqp_uri_for(
    vhost: str, base: str = AMQP_BASE, user: str | None = None, password: str | None = None
) -> str:
    """``base`` on ``vhost``; as ``user``/``password`` instead of ``base``'s own if given."""
    if user is not None:
        parsed = urlparse(base)
        userinfo = f"{quote(user, safe='')}:{quote(password or '', safe='')}"
        base = f"{parsed.scheme}://{userinfo}@{parsed.hostname}:{parsed.port or 5672}"
    return base.rstrip("/") + "/" + quote(vhost, safe="")
