"""Where a webhook may go and how its receiver knows it is ours, as plain rules: the URLs
refused when a recipient sets them (every address of the issue "webhooks reach inside", and the
numeric, local and odd-port forms around them), the addresses refused when a name resolves, and
the Standard Webhooks signature with its replay window."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from notify import webhook_rules
from pioneer.testing import moments

# The issue's finding 2: a volunteer's own token set each of these, and each was accepted.
ISSUE_URLS = [
    "http://127.0.0.1:15672/api/users",
    "http://localhost:5672/",
    "http://169.254.169.254/",
    "http://[::1]:8101/metrics",
    "http://10.0.0.1/hook",
    "http://192.168.1.1/hook",
    "http://0.0.0.0:8105/",
]


@pytest.mark.parametrize("url", ISSUE_URLS)
def test_the_issues_urls_are_refused_over_http_and_over_https(url):
    assert webhook_rules.url_refusal(url) is not None
    assert webhook_rules.url_refusal(url.replace("http://", "https://", 1)) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.org/x",  # plain http to a host nobody named
        "https://user:pw@hooks.example.org/x",
        "https://token@hooks.example.org/x",
        "https://2130706433/",  # 127.0.0.1 as one number
        "https://0x7f.0.0.1/",
        "https://127.1/",
        "https://017700000001/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:a9fe:a9fe]/",  # 169.254.169.254, IPv4-mapped
        "https://[fd00:ec2::254]/",  # a cloud's IPv6 metadata address (ULA)
        "https://[fe80::1%25eth0]/",
        "https://100.64.0.1/",
        "https://172.31.255.255/",
        "https://224.0.0.251/",
        "https://198.18.0.1/",
        "https://255.255.255.255/",
        "https://localhost/",
        "https://api.localhost/",
        "https://metadata.google.internal/",
        "https://printer.local/",
        "https://rabbitmq/",  # a single label: a container's or an intranet's name
        "https://hooks.example.org:22/",
        "https://hooks.example.org:25/",
        "https://hooks.example.org:80/",
        "https://hooks.example.org:0/",
        "https://hooks.example.org:99999/",
        "https://hooks.例子.org/",
        "https:///nohost",
    ],
)
def test_urls_that_lead_inside_or_nowhere_are_refused(url):
    assert webhook_rules.url_refusal(url) is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.org/x?token=1",
        "https://hooks.example.org:443/x",
        "https://hooks.example.org:8443/x",
        "https://xn--fsqu00a.xn--0zwm56d/hook",
        "https://93.184.216.34/hook",
        "https://[2606:4700:4700::1111]/hook",
    ],
)
def test_public_https_urls_are_accepted(url):
    assert webhook_rules.url_refusal(url) is None


def test_plain_http_only_for_the_named_test_hosts():
    assert webhook_rules.url_refusal("http://127.0.0.1:8999/hook", ["127.0.0.1"]) is None
    assert webhook_rules.url_refusal("http://127.0.0.1:8999/hook", ["receiver.test"]) is not None
    assert webhook_rules.url_refusal("http://127.0.0.2:8999/hook", ["127.0.0.1"]) is not None
    assert webhook_rules.url_refusal("http://u:p@127.0.0.1/hook", ["127.0.0.1"]) is not None
    # A gateway's host is the operator's: only the scheme and credentials are judged.
    assert webhook_rules.url_refusal("https://10.0.0.5:8443/send", check_host=False) is None
    assert webhook_rules.url_refusal("http://10.0.0.5/send", check_host=False) is not None


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.255.254",
        "::1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "fd12:3456::1",
        "fc00::1",
        "169.254.169.254",
        "fe80::1",
        "fe80::1%eth0",
        "100.64.0.1",
        "100.127.255.254",
        "224.0.0.1",
        "239.255.255.250",
        "ff02::1",
        "0.0.0.0",
        "0.1.2.3",
        "::",
        "192.0.0.8",
        "192.0.2.1",
        "198.18.0.1",
        "198.19.255.255",
        "198.51.100.1",
        "203.0.113.1",
        "240.0.0.1",
        "255.255.255.255",
        "2001:db8::1",
        "2001:2::1",  # benchmarking
        "2001::1",  # Teredo
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",  # IPv4-compatible
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "not an address",
    ],
)
def test_refused_addresses(address):
    assert webhook_rules.address_refused(address)


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "::ffff:93.184.216.34",
        "64:ff9b::5db8:d822",
    ],
)
def test_public_addresses_are_reached(address):
    assert not webhook_rules.address_refused(address)


# --- signatures ------------------------------------------------------------------------------------


BODY = b'{"id":"cixi-ntf-1","title":"x"}'


def signed(secret: str, at=None, message_id: str = "cixi-ntf-1") -> dict[str, str]:
    return webhook_rules.webhook_headers(secret, message_id, BODY, at or moments.now())


def test_the_signature_is_standard_webhooks_v1():
    secret = webhook_rules.new_webhook_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    headers = signed(secret)
    # Known construction, computed independently: base64(HMAC-SHA256(key, "id.ts.body")).
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"cixi-ntf-1.{headers['webhook-timestamp']}.".encode() + BODY
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    assert headers["webhook-id"] == "cixi-ntf-1"
    assert webhook_rules.new_webhook_secret() != secret


def test_a_signature_verifies_with_its_recipients_secret_and_no_other():
    mine, theirs = webhook_rules.new_webhook_secret(), webhook_rules.new_webhook_secret()
    headers = signed(mine)
    assert webhook_rules.verify_webhook(mine, headers, BODY) == "cixi-ntf-1"
    upper = {name.upper(): value for name, value in headers.items()}
    assert webhook_rules.verify_webhook(mine, upper, BODY) == "cixi-ntf-1"  # header names any case
    with pytest.raises(webhook_rules.WebhookRejected, match="signature"):
        webhook_rules.verify_webhook(theirs, headers, BODY)
    with pytest.raises(webhook_rules.WebhookRejected, match="signature"):
        webhook_rules.verify_webhook(mine, headers, BODY + b" ")
    with pytest.raises(webhook_rules.WebhookRejected, match="signature"):
        webhook_rules.verify_webhook(mine, {**headers, "webhook-id": "cixi-ntf-2"}, BODY)
    # A receiver rotating its secret lists several; one that matches is enough.
    both = {**headers, "webhook-signature": f"v1,AAAA {headers['webhook-signature']}"}
    assert webhook_rules.verify_webhook(mine, both, BODY) == "cixi-ntf-1"


def test_a_replayed_old_delivery_and_one_from_the_future_are_rejected():
    secret = webhook_rules.new_webhook_secret()
    old = signed(secret, moments.from_now(minutes=-6))
    with pytest.raises(webhook_rules.WebhookRejected, match="replay window"):
        webhook_rules.verify_webhook(secret, old, BODY)
    # The same delivery was fine when it was fresh, and a re-stamped copy needs the secret.
    assert webhook_rules.verify_webhook(secret, old, BODY, now=moments.from_now(minutes=-6))
    restamped = {**old, "webhook-timestamp": str(int(moments.now().timestamp()))}
    with pytest.raises(webhook_rules.WebhookRejected, match="signature"):
        webhook_rules.verify_webhook(secret, restamped, BODY)
    future = signed(secret, moments.from_now(minutes=6))
    with pytest.raises(webhook_rules.WebhookRejected, match="replay window"):
        webhook_rules.verify_webhook(secret, future, BODY)
    assert webhook_rules.verify_webhook(secret, signed(secret, moments.from_now(minutes=-4)), BODY)
    assert webhook_rules.verify_webhook(secret, old, BODY, window_s=600)


@pytest.mark.parametrize(
    "broken",
    [
        {"webhook-id": ""},
        {"webhook-timestamp": "soon"},
        {"webhook-timestamp": "-1"},
        {"webhook-timestamp": "9" * 40},
        {"webhook-signature": ""},
    ],
)
def test_missing_or_malformed_headers_are_rejected(broken):
    secret = webhook_rules.new_webhook_secret()
    with pytest.raises(webhook_rules.WebhookRejected):
        webhook_rules.verify_webhook(secret, {**signed(secret), **broken}, BODY)
