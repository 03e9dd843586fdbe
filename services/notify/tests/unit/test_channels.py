"""The push adapters against a real HTTP server on 127.0.0.1: headers, signature, what counts as
retryable (5xx, timeouts, refused connections) and what is final (4xx); and the settings that
select them."""

from __future__ import annotations

import socket
import time

import pytest
from notify_testdata import Receiver

from notify import domain
from notify.channels import Delivery, DeliveryError, build_channels
from notify.channels.gateway import GatewayChannel
from notify.channels.log import LoggingChannel
from notify.channels.webhook import WebhookChannel
from notify.settings import NotifySettings
from pioneer.config import ConfigError, validate_settings

SECRET = "unit-webhook-secret-000"


def delivery(url: str | None = None, channel: str = "webhook") -> Delivery:
    return Delivery(
        notification_id="cixi-ntf-01JD0000000000000000000000",
        recipient_id="cixi-vol-01JD0000000000000000000001",
        kind="wish_published",
        subject_id="cixi-wish-01JD0000000000000000000002",
        title="新的微心愿：老花镜",
        body="居家养老，距您约 1.2 公里。",
        channel=channel,
        created_at="2026-11-25T18:00:00+08:00",  # only carried into the payload
        webhook_url=url,
    )


@pytest.fixture
def receiver():
    server = Receiver(hang_s=1.0)
    yield server
    server.close()


def test_webhook_posts_signed_json_with_the_idempotency_key(receiver):
    WebhookChannel(SECRET, 2).send(delivery(receiver.url))
    (post,) = receiver.received
    assert post["json"]["id"] == post["headers"]["Idempotency-Key"]
    assert post["json"]["title"] == "新的微心愿：老花镜" and "webhook_url" not in post["json"]
    assert domain.signature_valid(SECRET, post["body"], post["headers"]["X-Pioneer-Signature"])
    assert post["headers"]["Content-Type"].startswith("application/json")


def test_what_is_retried_and_what_is_final(receiver):
    hook = WebhookChannel(SECRET, 0.3)
    for answer, retryable in ((500, True), (503, True), (429, True), (400, False), (404, False)):
        receiver.script = [answer]
        with pytest.raises(DeliveryError) as failed:
            hook.send(delivery(receiver.url))
        assert failed.value.retryable is retryable and str(answer) in str(failed.value)
    receiver.script = ["hang"]
    started = time.monotonic()
    with pytest.raises(DeliveryError) as slow:
        hook.send(delivery(receiver.url))
    assert slow.value.retryable and time.monotonic() - started < 0.9  # bounded by the timeout
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(DeliveryError) as refused:
        hook.send(delivery(f"http://127.0.0.1:{port}/hook"))
    assert refused.value.retryable
    with pytest.raises(DeliveryError) as no_url:
        hook.send(delivery(None))
    assert not no_url.value.retryable


def test_gateway_sends_the_key_and_the_recipient_id_only(receiver):
    GatewayChannel("sms", receiver.url, "the-gateway-key", 2).send(delivery(channel="sms"))
    (post,) = receiver.received
    assert post["headers"]["X-Api-Key"] == "the-gateway-key"
    assert post["json"]["recipient_id"] == "cixi-vol-01JD0000000000000000000001"
    assert "phone" not in post["json"]


def base(**extra):
    return {
        "AMQP_URI": "amqp://guest:guest@localhost:5672/",
        "CITIES": "cixi",
        "DATABASE_URL": "sqlite:///x.db",
        "JWT_SECRET": "x" * 32,
        "WEBHOOK_SECRET": SECRET,
        **extra,
    }


def test_settings_select_the_adapters():
    settings = validate_settings(NotifySettings, base(), "notify")
    channels = build_channels(settings, log=None)
    assert isinstance(channels["webhook"], WebhookChannel)
    assert isinstance(channels["sms"], LoggingChannel) and isinstance(
        channels["wechat"], LoggingChannel
    )
    settings = validate_settings(
        NotifySettings,
        base(
            SMS_ADAPTER="http",
            SMS_GATEWAY_URL="https://sms.example/send",
            SMS_GATEWAY_KEY="k" * 12,
            SMS_GATEWAY_URL_UNUSED="",
            WECHAT_GATEWAY_URL="",
        ),
        "notify",
    )
    assert isinstance(build_channels(settings, log=None)["sms"], GatewayChannel)
    with pytest.raises(ConfigError, match="SMS_GATEWAY_URL is required"):
        validate_settings(NotifySettings, base(SMS_ADAPTER="http"), "notify")
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        validate_settings(NotifySettings, base(WEBHOOK_SECRET="short"), "notify")
    assert (
        validate_settings(NotifySettings, base(WISH_RADII={"cixi": 5000}), "notify").wish_radius_m(
            "cixi"
        )
        == 5000
    )
