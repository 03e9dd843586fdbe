"""``python -m pioneer.serve``: a bad configuration stops start-up with one line naming the key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pioneer.serve", "stations", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"JWT_SECRET": "short"}, "JWT_SECRET"),
        ({"JWT_SECRET": "x" * 40, "MAX_WORKERS": "-3"}, "max_workers"),
        ({"JWT_SECRET": "x" * 40, "CITIES": "Cixi!"}, "CITIES"),
        ({"JWT_SECRET": "x" * 40, "WEB_SERVER_ADDRESS": "nowhere"}, "WEB_SERVER_ADDRESS"),
        ({"JWT_SECRET": "x" * 40, "CHECKIN_KEYS": "{k1: short}"}, "CHECKIN_KEYS"),
    ],
)
def test_bad_values_stop_start_up_naming_the_key(env, key):
    result = serve(env)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("pioneer: stations config: ") and key in line


def test_unreadable_config_file_is_one_line(tmp_path):
    bad = tmp_path / "config.yml"
    bad.write_text("AMQP_URI: [unclosed\n")
    result = serve({"JWT_SECRET": "x" * 40}, "--config", str(bad))
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"pioneer: {bad}")
