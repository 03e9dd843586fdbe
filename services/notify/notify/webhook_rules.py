"""Notify's rules for webhooks, in plain Python: where a webhook may go (its URL, and every
address its host resolves to, checked again as each connection is made) and how a delivery is
signed and checked (the Standard Webhooks shape: a secret per recipient, a timestamp in the
signed string, a replay window).

No I/O here but name resolution where a caller asks for it: unit-tested on plain values.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import secrets
import socket
from collections.abc import Collection, Mapping
from datetime import datetime
from urllib.parse import urlsplit

from pioneer import clock

# --- where a webhook may go ----------------------------------------------------------------------

# Addresses a webhook never reaches (a volunteer chooses the URL; the platform's own network is
# behind it). IPv4: this network and unspecified, RFC 1918, CGNAT, loopback, link-local (cloud
# metadata 169.254.169.254), IETF protocol assignments, documentation, the 6to4 relay anycast,
# benchmarking, multicast, reserved and broadcast.
REFUSED_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
# IPv6: only global unicast (2000::/3) is reached, less its protocol assignments (Teredo,
# benchmarking, ORCHID...), documentation ranges and 6to4 (whose embedded IPv4 is checked
# instead). Outside 2000::/3 lie unspecified, loopback, IPv4-compatible, discard, ULA (fc00::/7),
# link-local, site-local and multicast; IPv4-mapped and NAT64 forms are judged by their IPv4.
GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
REFUSED_V6 = tuple(
    ipaddress.IPv6Network(net) for net in ("2001::/23", "2001:db8::/32", "3fff::/20")
)
SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

# Names that never lead to a public receiver (RFC 6761 and the like).
SPECIAL_SUFFIXES = ("localhost", "local", "localdomain", "internal", "home.arpa", "arpa", "onion")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
HTTPS_PORT = 443
LOWEST_OPEN_PORT = 1024  # below it only 443: no webhook to a mail, SSH or DNS port


def address_refused(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a webhook may never connect to ``address`` (an IP, as text or parsed)."""
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return True
        if ip.ipv4_mapped is not None:
            return address_refused(ip.ipv4_mapped)
        if ip in NAT64:
            return address_refused(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip in SIX_TO_FOUR:
            return address_refused(ip.sixtofour)
        return ip not in GLOBAL_UNICAST_V6 or any(ip in net for net in REFUSED_V6)
    return any(ip in net for net in REFUSED_V4)


def host_key(host: str) -> str:
    """A host as lists compare it: lower case, no brackets, no trailing dot."""
    return host.strip().strip("[]").rstrip(".").lower()


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _name_refusal(host: str) -> str | None:
    """Why ``host`` (no IP literal) is no public DNS name, or None."""
    if not host.isascii():
        return "an internationalised host must be written in its xn-- form"
    labels = host.split(".")
    if len(host) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return "the host must be a fully qualified DNS name or a public IP address"
    try:
        socket.inet_aton(host)  # 127.1, 0x7f.0.0.1, 2130706433: numbers a resolver reads as IPv4
    except OSError:
        pass
    else:
        return "an IPv4 address must be written as four decimal numbers"
    if labels[-1].isdigit():
        return "the host must be a fully qualified DNS name or a public IP address"
    if any(host == suffix or host.endswith("." + suffix) for suffix in SPECIAL_SUFFIXES):
        return "the host is a local or special-use name"
    return None


def url_refusal(
    url: str, plain_http_hosts: Collection[str] = (), check_host: bool = True
) -> str | None:
    """Why a push may not go to ``url``, or None if it may.

    ``https`` only; plain ``http`` only for a host ``plain_http_hosts`` names (tests). No
    credentials in the URL. With ``check_host`` (webhooks, which recipients choose): the host is a
    DNS name or an IP literal outside the refused ranges, and the port is 443 or 1024 and up;
    hosts in ``plain_http_hosts`` are exempt. The addresses a name resolves to are checked again
    when it is sent (``address_refused``).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the URL or its port cannot be read"
    host = parts.hostname or ""
    if not host or any(c.isspace() for c in url):
        return "the URL must have a host"
    trusted = host_key(host) in {host_key(h) for h in plain_http_hosts}
    if parts.scheme.lower() != "https" and not (parts.scheme.lower() == "http" and trusted):
        return "the URL must be https"
    if "@" in parts.netloc:
        return "the URL must not carry credentials"
    if not check_host or trusted:
        return None
    if "%" in host:
        return "the host must not carry a zone"
    literal = _ip_literal(host_key(host))
    if literal is not None:
        if address_refused(literal):
            return "the host is an address webhooks never reach (private, loopback, reserved)"
    else:
        problem = _name_refusal(host_key(host))
        if problem:
            return problem
    if port is not None and port != HTTPS_PORT and port < LOWEST_OPEN_PORT:
        return "the port must be 443 or 1024 and up"
    return None


# --- webhook signatures (the Standard Webhooks shape) ----------------------------------------------

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"
REPLAY_WINDOW_S = 300  # how far a receiver accepts webhook-timestamp from its own clock


class WebhookRejected(Exception):
    """A delivery a receiver must not accept; the message says why."""


def new_webhook_secret() -> str:
    """A recipient's signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    encoded = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        return base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error):
        raise WebhookRejected("the secret is not a whsec_ secret") from None


def webhook_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` under the recipient's secret."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def webhook_headers(secret: str, message_id: str, body: bytes, now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt: ``webhook-id`` (the notification id, the
    same on every retry), ``webhook-timestamp`` (this attempt, Unix seconds) and
    ``webhook-signature``."""
    timestamp = int(now.timestamp())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signature(secret, message_id, timestamp, body),
    }


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime | None = None,
    window_s: float = REPLAY_WINDOW_S,
) -> str:
    """What a receiver checks before it trusts a delivery: the headers are there, the timestamp
    is within ``window_s`` of ``now`` (so an old delivery replayed is refused) and one of the
    space-separated ``v1`` signatures is that of ``id.timestamp.body`` under ``secret``
    (constant-time). The ``webhook-id``, which the receiver should also remember for the
    window to drop a repeat; ``WebhookRejected`` otherwise."""
    lower = {name.lower(): value for name, value in headers.items()}
    message_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp")
    signatures = lower.get("webhook-signature")
    if not message_id or not stamp or not signatures:
        raise WebhookRejected("webhook-id, webhook-timestamp and webhook-signature are required")
    if not stamp.isdigit() or len(stamp) > 12:
        raise WebhookRejected("webhook-timestamp is not a Unix time")
    moment = (now or clock.utcnow()).timestamp()
    if abs(moment - int(stamp)) > window_s:
        raise WebhookRejected("webhook-timestamp is outside the replay window")
    expected = webhook_signature(secret, message_id, int(stamp), body)
    for candidate in signatures.split():
        if hmac.compare_digest(candidate.encode(), expected.encode()):
            return message_id
    raise WebhookRejected("no webhook-signature matches")
