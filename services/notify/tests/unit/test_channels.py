"""The push adapters against real HTTP servers on 127.0.0.1: the Standard Webhooks headers and
each recipient's own signature, what is retried and what is final, the coarse reasons a failure
records, redirects never followed, every resolved address checked at the moment of connecting
(DNS rebinding included), one pooled connection reused; and the settings that select them."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from notify import domain, webhook_rules
from notify.channels import Delivery, DeliveryError, build_channels, http_clients
from notify.channels.gateway import GatewayChannel
from notify.channels.log import LoggingChannel
from notify.channels.transport import AddressGuard, HttpClient
from notify.channels.webhook import WebhookChannel
from notify.settings import NotifySettings
from pioneer.config import ConfigError, validate_settings
from pioneer.testing import moments
from pioneer.testing.receiver import Receiver

SECRET = webhook_rules.new_webhook_secret()
LOCAL = ("127.0.0.1",)


def delivery(
    url: str | None = None, channel: str = "webhook", secret: str | None = SECRET
) -> Delivery:
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
        webhook_secret=secret,
    )


def hook(timeout_s: float = 2, guard: AddressGuard | None = None) -> WebhookChannel:
    """The webhook adapter as a container builds it, the local receiver named for plain http."""
    return WebhookChannel(HttpClient(timeout_s, 4, guard or AddressGuard(LOCAL)), LOCAL)


def reason_of(channel, sent: Delivery) -> DeliveryError:
    with pytest.raises(DeliveryError) as failed:
        channel.send(sent)
    return failed.value


@pytest.fixture
def receiver():
    server = Receiver(hang_s=1.0)
    yield server
    server.close()


@pytest.fixture
def target():
    """Where a hostile receiver's redirect points."""
    server = Receiver()
    yield server
    server.close()


def test_webhook_posts_json_signed_with_the_recipients_own_secret(receiver):
    hook().send(delivery(receiver.url))
    (post,) = receiver.received
    headers = post["headers"]
    assert post["json"]["id"] == headers["Idempotency-Key"] == headers["webhook-id"]
    assert post["json"]["title"] == "新的微心愿：老花镜"
    assert "webhook_url" not in post["json"] and "webhook_secret" not in post["json"]
    assert SECRET not in post["body"].decode() and SECRET not in str(headers)
    assert headers["webhook-signature"].startswith("v1,")
    assert webhook_rules.verify_webhook(SECRET, headers, post["body"]) == post["json"]["id"]
    with pytest.raises(webhook_rules.WebhookRejected):
        webhook_rules.verify_webhook(webhook_rules.new_webhook_secret(), headers, post["body"])
    assert abs(int(headers["webhook-timestamp"]) - moments.now().timestamp()) < 5
    assert headers["Content-Type"].startswith("application/json")
    assert "X-Pioneer-Signature" not in headers and "X-Api-Key" not in headers


def test_what_is_retried_and_what_is_final_each_with_a_coarse_reason(receiver):
    channel = hook(timeout_s=0.3)
    for answer, retryable, reason in (
        (500, True, "http_5xx"),
        (503, True, "http_5xx"),
        (429, True, "http_4xx"),
        (400, False, "http_4xx"),
        (404, False, "http_4xx"),
    ):
        receiver.script = [answer]
        failed = reason_of(channel, delivery(receiver.url))
        assert (failed.retryable, str(failed), failed.reason) == (retryable, reason, reason)
    receiver.script = ["hang"]
    started = time.monotonic()
    slow = reason_of(channel, delivery(receiver.url))
    assert slow.retryable and str(slow) == "timeout"
    assert time.monotonic() - started < 0.9  # bounded by the timeout
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    refused = reason_of(channel, delivery(f"http://127.0.0.1:{port}/hook"))
    # A closed port says "connection_failed", never the socket's own words (no port scanner).
    assert refused.retryable and str(refused) == "connection_failed"
    assert not reason_of(channel, delivery(None)).retryable
    assert str(reason_of(channel, delivery(None))) == "no_webhook_url"
    assert str(reason_of(channel, delivery(receiver.url, secret=None))) == "no_webhook_secret"


def test_failure_reasons_are_a_fixed_vocabulary():
    with pytest.raises(ValueError):
        DeliveryError("connection failed: [Errno 111] Connection refused", retryable=True)
    assert domain.status_reason(302) == "http_3xx" and domain.status_reason(418) == "http_4xx"
    assert domain.status_reason(999) == "connection_failed"


def test_a_redirect_is_a_failed_attempt_and_never_followed(receiver, target):
    receiver.redirect_to = target.url
    for answer in (301, 302, 303, 307, 308):
        receiver.script = [answer]
        failed = reason_of(hook(), delivery(receiver.url))
        assert str(failed) == "http_3xx" and not failed.retryable
    gateway = GatewayChannel("sms", receiver.url, "the-gateway-key", HttpClient(2, 4))
    receiver.script = [302]
    assert str(reason_of(gateway, delivery(channel="sms"))) == "http_3xx"
    assert len(receiver.received) == 6
    assert target.received == []  # no GET, no POST, no key went where the redirect pointed


def test_every_resolved_address_is_checked_before_connecting(receiver):
    """Names a volunteer could point at the platform's inside: each resolves to an address of
    the issue's list (or its IPv4-mapped form) and is refused before any connection."""
    refused = [
        "127.0.0.1",
        "::1",
        "169.254.169.254",
        "10.0.0.1",
        "192.168.1.1",
        "0.0.0.0",
        "::",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "100.64.0.1",
        "172.16.5.4",
        "224.0.0.1",
        "198.18.0.1",
        "fd00::1",
        "fe80::1",
        "64:ff9b::a9fe:a9fe",
    ]
    asked = []

    def resolve(host, port, type=0):
        asked.append(host)
        address = refused[int(host.split(".")[0][1:])]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    channel = hook(guard=AddressGuard((), resolve=resolve))
    for i in range(len(refused)):
        failed = reason_of(channel, delivery(f"https://h{i}.hooks.example.org:{receiver.port}/x"))
        assert (str(failed), failed.retryable) == ("refused_address", False), refused[i]
    assert len(asked) == len(refused) and receiver.received == []

    def mixed(host, port, type=0):  # one private answer among public ones refuses the name
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    channel = hook(guard=AddressGuard((), resolve=mixed))
    assert str(reason_of(channel, delivery("https://mixed.example.org/x"))) == "refused_address"


def test_the_connection_goes_to_the_address_checked_whatever_dns_says_next(receiver):
    """DNS rebinding: the name is resolved once for the connection and the socket connects to
    that checked address; a second, different answer is never used. 127.0.0.1 stands for the
    public address here, 127.0.0.3 (another receiver, same port) for the internal one."""
    try:
        inside = Receiver(host="127.0.0.3", port=receiver.port)
    except OSError:
        pytest.skip("cannot bind 127.0.0.3 here")
    answers = iter(["127.0.0.1", "127.0.0.3", "127.0.0.3"])
    asked = []

    def rebinding(host, port, type=0):
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    guard = AddressGuard((), refused=lambda address: address != "127.0.0.1", resolve=rebinding)
    try:
        client = HttpClient(2, 4, guard)
        client.post(f"http://rebind.example.org:{receiver.port}/hook", b"{}", {})
        assert len(receiver.received) == 1 and inside.received == [] and len(asked) == 1
    finally:
        inside.close()


def test_trusted_test_hosts_skip_the_check_and_nothing_else_does(receiver):
    assert hook().send(delivery(receiver.url)) is None  # 127.0.0.1 named for the tests
    strict = WebhookChannel(HttpClient(2, 4, AddressGuard()), LOCAL)
    assert str(reason_of(strict, delivery(receiver.url))) == "refused_address"
    # Plain http for a host nobody named, and a URL stored under older rules: refused unsent.
    assert str(reason_of(hook(), delivery("http://hooks.example.org/x"))) == "refused_url"
    assert str(reason_of(hook(), delivery("https://10.0.0.1/x"))) == "refused_url"
    assert len(receiver.received) == 1


def test_one_pooled_connection_carries_consecutive_deliveries(receiver):
    channel = hook()
    for _ in range(3):
        channel.send(delivery(receiver.url))
    assert len(receiver.received) == 3
    assert len({post["client"] for post in receiver.received}) == 1  # one TCP connection
    # And a container builds its clients once: every adapter of a kind shares one session.
    settings = validate_settings(
        NotifySettings,
        base(
            SMS_ADAPTER="http",
            SMS_GATEWAY_URL="https://sms.example.org/send",
            SMS_GATEWAY_KEY="k" * 12,
            WECHAT_ADAPTER="http",
            WECHAT_GATEWAY_URL="https://wechat.example.org/send",
            WECHAT_GATEWAY_KEY="k" * 12,
        ),
        "notify",
    )
    clients = http_clients(settings)
    channels = build_channels(settings, None, clients)
    assert channels["webhook"]._http is clients["webhook"]
    assert channels["sms"]._http is channels["wechat"]._http is clients["gateway"]


def test_gateway_sends_the_key_and_the_recipient_id_only(receiver):
    GatewayChannel("sms", receiver.url, "the-gateway-key", HttpClient(2, 4)).send(
        delivery(channel="sms")
    )
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
    assert (
        validate_settings(NotifySettings, base(WISH_RADII={"cixi": 5000}), "notify").wish_radius_m(
            "cixi"
        )
        == 5000
    )


def test_gateway_urls_must_be_https_unless_a_test_host_is_named():
    gateway = {"SMS_ADAPTER": "http", "SMS_GATEWAY_KEY": "k" * 12}
    for url in ("http://sms.example.org/send", "ftp://sms.example.org/x"):
        with pytest.raises(ConfigError, match="SMS_GATEWAY_URL"):
            validate_settings(NotifySettings, base(SMS_GATEWAY_URL=url, **gateway), "notify")
    with pytest.raises(ConfigError, match="credentials"):
        validate_settings(
            NotifySettings,
            base(SMS_GATEWAY_URL="https://u:p@sms.example.org/", **gateway),
            "notify",
        )
    # The operator's gateway may live inside the city's network: https is what is asked.
    inside = base(SMS_GATEWAY_URL="https://10.1.2.3:8443/send", **gateway)
    assert validate_settings(NotifySettings, inside, "notify").SMS_GATEWAY_URL
    plain = base(
        SMS_GATEWAY_URL="http://127.0.0.1:9000/send",
        WEBHOOK_PLAIN_HTTP_HOSTS="127.0.0.1",
        **gateway,
    )
    assert validate_settings(NotifySettings, plain, "notify").WEBHOOK_PLAIN_HTTP_HOSTS == [
        "127.0.0.1"
    ]


def test_no_deployment_wide_webhook_secret_and_no_plain_http_by_default():
    settings = validate_settings(NotifySettings, base(), "notify")
    assert settings.WEBHOOK_PLAIN_HTTP_HOSTS == [] and not hasattr(settings, "WEBHOOK_SECRET")
    config = (Path(__file__).parents[2] / "config.yml").read_text()
    assert "dev-only-webhook-secret" not in config and "WEBHOOK_SECRET" not in config
    assert "WEBHOOK_PLAIN_HTTP_HOSTS: ${WEBHOOK_PLAIN_HTTP_HOSTS:}" in config
