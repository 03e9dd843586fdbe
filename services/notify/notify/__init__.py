"""Pioneer notify: events turned into notifications, exactly once per recipient and channel,
stored in an inbox and pushed through webhooks and SMS/WeChat gateways."""
