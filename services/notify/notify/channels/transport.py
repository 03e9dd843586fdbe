"""The HTTP client push adapters share: one pooled ``requests.Session`` per container and kind of
receiver, POST only, no redirects, no proxies, each exchange bounded in time; for webhooks, every
address a receiver's host resolves to is checked right before the connection is made to it.

Why the check sits in the connection: resolving the name to check it and then letting the
client resolve it again to connect would let a DNS answer change in between (rebinding). Here
the name is resolved once per new connection, every address is checked, and the socket is
connected to a checked address; a pooled connection stays with the address it was made to.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Collection
from typing import Any

import eventlet
import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from .. import domain, webhook_rules
from .base import DeliveryError

# How many hosts' pools a client keeps (least recently used dropped first).
HOST_POOLS = 100
# An answer's body is read up to this much, so that its connection can go back to the pool; a
# longer one is cut and its connection closed.
ANSWER_BYTES = 64 * 1024

Resolve = Callable[..., list[tuple[Any, ...]]]


class RefusedAddress(Exception):
    """The receiver's host resolved to an address push never reaches (``webhook_rules.address_refused``).
    Not an ``OSError``: neither urllib3 nor requests retries or rewraps it."""


class _Overdue(Exception):
    """The whole exchange took longer than the time limit (raised by ``eventlet.Timeout``)."""


class AddressGuard:
    """Resolves a host and refuses it unless every address is allowed. ``trusted_hosts`` (the
    configured test hosts) are resolved and not checked; ``refused`` and ``resolve`` default
    to the domain's rule and the (green) system resolver."""

    def __init__(
        self,
        trusted_hosts: Collection[str] = (),
        refused: Callable[[str], bool] = webhook_rules.address_refused,
        resolve: Resolve | None = None,
    ) -> None:
        self.trusted_hosts = frozenset(webhook_rules.host_key(host) for host in trusted_hosts)
        self.refused = refused
        self._resolve = resolve

    def addresses(self, host: str, port: int) -> list[tuple[Any, ...]]:
        """``getaddrinfo`` entries of ``host`` to connect to, all checked; ``RefusedAddress`` if
        any is refused (one private answer among public ones is refused as a whole)."""
        resolve = self._resolve or socket.getaddrinfo  # looked up now: green once patched
        found = resolve(host, port, type=socket.SOCK_STREAM)
        if webhook_rules.host_key(host) in self.trusted_hosts:
            return found
        if not found or any(self.refused(str(entry[4][0])) for entry in found):
            raise RefusedAddress(webhook_rules.host_key(host))
        return found


class _CheckedConnect:
    """``urllib3`` connection mixin: a new connection's socket goes to an address ``guard``
    checked (the class attribute is set per client by ``_guarded_pools``)."""

    guard: AddressGuard

    def _new_conn(self) -> socket.socket:
        try:
            found = self.guard.addresses(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        failure: OSError | None = None
        for family, kind, proto, _, address in found:
            sock = socket.socket(family, kind, proto)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                if isinstance(self.timeout, int | float):
                    sock.settimeout(self.timeout)
                sock.connect(address)
            except TimeoutError as exc:
                sock.close()
                raise ConnectTimeoutError(self, f"connecting to {self.host} timed out") from exc
            except OSError as exc:
                sock.close()
                failure = exc
                continue
            return sock
        raise NewConnectionError(self, f"failed to connect: {failure}")


def _guarded_pools(guard: AddressGuard) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pool classes (by scheme) whose connections go through ``guard``."""
    plain = type("CheckedHTTPConnection", (_CheckedConnect, HTTPConnection), {"guard": guard})
    tls = type("CheckedHTTPSConnection", (_CheckedConnect, HTTPSConnection), {"guard": guard})
    return {
        "http": type("CheckedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": plain}),
        "https": type("CheckedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": tls}),
    }


class PushAdapter(HTTPAdapter):
    """requests' transport adapter with our pools: connections checked by ``guard`` (if any), up
    to ``pool_size`` kept per host, never a retry of its own (the delivery timer retries)."""

    def __init__(self, guard: AddressGuard | None, pool_size: int) -> None:
        self._guard = guard  # before HTTPAdapter.__init__, which builds the pool manager
        super().__init__(pool_connections=HOST_POOLS, pool_maxsize=pool_size, max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """The pool manager, with checked connections when there is a guard."""
        super().init_poolmanager(*args, **kwargs)
        if self._guard is not None:
            self.poolmanager.pool_classes_by_scheme = _guarded_pools(self._guard)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """Never: a proxy would connect to the receiver unchecked."""
        raise requests.exceptions.InvalidProxyURL("push deliveries use no proxy")


class HttpClient:
    """A pooled ``requests.Session`` (built once per container) that POSTs within ``timeout_s``:
    the connect and each read bounded by the socket timeout, the whole exchange by
    ``eventlet.Timeout``. With a ``guard``, every connection is checked (webhooks); without, the
    operator's configured URLs (gateways) are trusted."""

    def __init__(self, timeout_s: float, pool_size: int, guard: AddressGuard | None = None) -> None:
        self.timeout_s = timeout_s
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy or .netrc from the environment
        adapter = PushAdapter(guard, pool_size)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body`` to ``url``; the 2xx status, else ``DeliveryError`` with a coarse reason.
        A 3xx is a failed attempt: the redirect is never followed."""
        try:
            with eventlet.Timeout(self.timeout_s, _Overdue()):
                response = self.session.post(
                    url,
                    data=body,
                    headers={
                        "Content-Type": "application/json; charset=utf-8",
                        "Accept-Encoding": "identity",
                        **headers,
                    },
                    timeout=(self.timeout_s, self.timeout_s),
                    allow_redirects=False,
                    stream=True,
                )
                with response:
                    status = response.status_code
                    _drain(response)
        except RefusedAddress:
            raise DeliveryError(domain.REFUSED_ADDRESS, retryable=False) from None
        except (_Overdue, requests.Timeout) as exc:
            raise DeliveryError(domain.TIMEOUT, True, type(exc).__name__) from None
        except (requests.RequestException, OSError, ValueError) as exc:
            raise DeliveryError(domain.CONNECTION_FAILED, True, type(exc).__name__) from None
        if 200 <= status < 300:
            return status
        raise DeliveryError(
            domain.status_reason(status), domain.retryable_status(status), f"HTTP {status}"
        )

    def close(self) -> None:
        """Close the pooled connections (the container stops)."""
        self.session.close()


def _drain(response: requests.Response) -> None:
    """Read a short answer to its end, so the connection returns to the pool; stop reading a
    long one (closing the response then drops its connection)."""
    seen = 0
    for chunk in response.iter_content(8192):
        seen += len(chunk)
        if seen > ANSWER_BYTES:
            return
