"""An RPC client for the CLI, the launcher, the tests and the bench: nameko's ClusterRpcProxy
with a bearer token."""

from __future__ import annotations

from typing import Any

from nameko.standalone.rpc import ClusterRpcProxy


class RpcClient:
    """Calls ``service.method(*args, **kwargs)`` over the broker carrying ``authorization``.

    One client holds one connection and is not shared between greenthreads for concurrent
    blocking calls; use ``call_async`` (replies are matched by correlation id) or one client
    per greenthread.
    """

    def __init__(
        self, amqp_uri: str, authorization: str | None = None, timeout: float = 30
    ) -> None:
        context = {"authorization": authorization} if authorization else {}
        self._proxy = ClusterRpcProxy({"AMQP_URI": amqp_uri}, context_data=context, timeout=timeout)
        self._cluster = self._proxy.start()

    def call(self, service: str, method: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call ``service.method`` (positional-only, so ``service=``/``method=`` stay free)."""
        return getattr(getattr(self._cluster, service), method)(*args, **kwargs)

    def call_async(self, service: str, method: str, /, *args: Any, **kwargs: Any) -> Any:
        return getattr(getattr(self._cluster, service), method).call_async(*args, **kwargs)

    def __getattr__(self, service: str) -> Any:
        return getattr(self._cluster, service)

    def close(self) -> None:
        self._proxy.stop()
