"""Pioneer's shared kernel.

Every service stands on these modules: configuration, authentication, contract errors,
database sessions and migrations, the transactional outbox and its relay, idempotent event
handling with retries and a dead-letter queue, structured logs, Prometheus metrics, the
entrypoint decorators that tie them together, test helpers and the ``pioneer`` CLI.
"""

import warnings

# eventlet announces its own deprecation on import; nameko 2.14 is pinned to it on purpose.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

__version__ = "1.0.0"
