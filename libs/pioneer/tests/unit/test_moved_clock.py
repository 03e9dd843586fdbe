"""The date check itself: under ``scripts/test-moved-clock.sh`` every clock a test or a service
reads is really years ahead, so the rest of that run proves something."""

import os
import re
import time

import pytest

from pioneer import clock

AHEAD = os.environ.get("PIONEER_CLOCK_AHEAD")


@pytest.mark.skipif(not AHEAD, reason="only under scripts/test-moved-clock.sh")
def test_the_clock_is_moved_ahead():
    ahead_s = int(re.fullmatch(r"(\d+)d", AHEAD).group(1)) * 86400
    real = int(os.environ["PIONEER_REAL_EPOCH"])
    assert time.time() - real > ahead_s - 3600
    assert clock.utcnow().timestamp() - real > ahead_s - 3600
