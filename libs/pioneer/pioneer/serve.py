"""``python -m pioneer.serve <service>``: run one service in the foreground.

The eventlet patch comes before every other import (psycopg2 is made green only if patched at
import time). The configuration is validated before the broker or the database is touched; a
bad value stops here with one line naming the key. SIGTERM is handled by nameko's runner:
entrypoints stop, running workers finish, the outbox relay publishes what is pending.
"""

import warnings

# Library deprecation notices (eventlet's own, pkg_resources in nameko's CLI) are not for ops.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import sys  # noqa: E402

from . import logs  # noqa: E402
from .config import ConfigError, load_yaml_config, validate_settings  # noqa: E402
from .registry import config_path, service_class  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pioneer serve", description=__doc__)
    parser.add_argument("service")
    parser.add_argument(
        "--config", help="nameko YAML config (default: services/<service>/config.yml)"
    )
    args = parser.parse_args(argv)
    try:
        cls = service_class(args.service)
        config = load_yaml_config(args.config or config_path(args.service))
        settings = validate_settings(cls.settings_model, config, args.service)
    except (ConfigError, LookupError, OSError) as exc:
        print(f"pioneer: {exc}", file=sys.stderr)
        return 2
    from .db import DatabaseTaken, hold_sqlite_file

    try:
        held = hold_sqlite_file(settings.DATABASE_URL)
    except DatabaseTaken as exc:
        print(f"pioneer: {args.service}: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.LOG_LEVEL)
    from nameko.cli.run import run

    try:
        run([cls], config)
    finally:
        if held is not None:
            held.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
