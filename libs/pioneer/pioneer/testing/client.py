"""The tests' RPC client is the kernel's (``pioneer.rpcclient``)."""

from ..rpcclient import RpcClient

__all__ = ["RpcClient"]
