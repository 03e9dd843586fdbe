"""``make bench``: our RPCs and events against a bare nameko service, same broker, one run."""
