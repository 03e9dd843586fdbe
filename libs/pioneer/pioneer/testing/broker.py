"""Throwaway RabbitMQ vhosts through the management API."""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote, urlparse

import requests

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

    def queues(self, vhost: str) -> list[dict]:
        response = self.session.get(self._url("queues", vhost), timeout=30)
        response.raise_for_status()
        return response.json()

    def queue(self, vhost: str, name: str) -> dict:
        response = self.session.get(self._url("queues", vhost, name), timeout=30)
        response.raise_for_status()
        return response.json()

    def bindings(self, vhost: str, queue: str) -> list[dict]:
        """The bindings whose destination is ``queue`` (the default exchange's included)."""
        response = self.session.get(self._url("queues", vhost, queue, "bindings"), timeout=30)
        response.raise_for_status()
        return response.json()


def new_vhost_name(prefix: str = "pioneer-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def amqp_uri_for(vhost: str, base: str = AMQP_BASE) -> str:
    return base.rstrip("/") + "/" + quote(vhost, safe="")
