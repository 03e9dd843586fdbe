"""Notify's rules in plain Python: recipients and who may act on which inbox, the channels and
rows of a notification, quiet hours, retry backoff and the fixed reasons of a failed push, where
a webhook may go (URLs and addresses), webhook signatures and their check, the service circle and
what a request event does to the offers notify holds. The words of each notification are in ``words``.

No I/O here: everything is a function of its arguments, unit-tested on plain values.
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
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pioneer import auth, clock, geo, ids
from pioneer.errors import Forbidden

INBOX = "inbox"
PUSH_CHANNELS = ("webhook", "sms", "wechat")
ADMINS_PREFIX = "admins:"
# A volunteer's record id, or ``admins:<city>`` (the shared inbox of a city's admins): the one
# declaration the contract's ``RecipientId`` and ``valid_recipient`` both use.
RECIPIENT_PATTERN = rf"^({ADMINS_PREFIX}[a-z][a-z0-9_]{{1,31}}|{ids.ID_PATTERN[1:-1]})$"
_RECIPIENT = re.compile(RECIPIENT_PATTERN)

STORED, PENDING, SENT, FAILED = "stored", "pending", "sent", "failed"
STATUSES = (STORED, PENDING, SENT, FAILED)

# Besides a volunteer acting for itself, who may act on any inbox of their city: admins, ops and
# trusted systems read; admins and systems change (mark read, preferences).
READ_STAFF = frozenset({auth.ADMIN, auth.OPS, auth.SYSTEM})
CHANGE_STAFF = frozenset({auth.ADMIN, auth.SYSTEM})

# Kinds of notification.
WISH_PUBLISHED = "wish_published"
WISH_CLAIMED = "wish_claimed"
OFFER = "offer"
OFFER_ENDED = "offer_ended"
VOLUNTEER_SUSPENDED = "volunteer_suspended"
VOLUNTEER_REINSTATED = "volunteer_reinstated"
VOLUNTEER_REMOVED = "volunteer_removed"
POINTS_REDEEMED = "points_redeemed"

# Offers of this urgency are pushed even inside quiet hours.
URGENT_LEVELS = frozenset({"emergency"})

# Why a volunteer lost an offer, by the request event that shows it.
OFFER_TIMED_OUT = "timed_out"
OFFER_TAKEN = "taken_by_another"
OFFER_CANCELLED = "request_cancelled"
OFFER_CLOSED = "request_closed"

SUBJECT_LENGTH = 80  # the ``subject_id`` column


# --- recipients and who reads what ------------------------------------------------------------


def admins_inbox(city: str) -> str:
    """The recipient id of a city's admins: one shared inbox every admin and ops of it reads."""
    return f"{ADMINS_PREFIX}{city}"


def recipient_city(recipient_id: str) -> str:
    """The home city of a recipient (``admins:<city>`` or a volunteer id's city prefix)."""
    if recipient_id.startswith(ADMINS_PREFIX):
        return recipient_id[len(ADMINS_PREFIX) :]
    return ids.city_of(recipient_id)


def valid_recipient(recipient_id: str) -> bool:
    """A volunteer's record id or ``admins:<city>``: what an inbox can be read under."""
    return bool(_RECIPIENT.match(recipient_id))


def may_act_for(caller: auth.Caller, recipient_id: str, staff: Iterable[str]) -> bool:
    """The kernel's "self, or staff of the city" (``auth.require_acting_for``) for an inbox:
    a volunteer for its own, ``staff`` for any of the recipient's city."""
    try:
        auth.require_acting_for(caller, recipient_id, recipient_city(recipient_id), staff)
    except Forbidden:
        return False
    return True


def may_read(caller: auth.Caller, recipient_id: str) -> bool:
    """A volunteer reads only its own inbox; admins, ops and trusted systems any of their city."""
    return may_act_for(caller, recipient_id, READ_STAFF)


def may_change(caller: auth.Caller, recipient_id: str) -> bool:
    """Marking read and setting preferences: the volunteer itself, or an admin or trusted system
    of its city (ops only read)."""
    return may_act_for(caller, recipient_id, CHANGE_STAFF)


# --- what is stored for a notice -------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """What one recipient is told about one event (before channels are chosen)."""

    recipient_id: str
    kind: str
    subject_id: str
    title: str
    body: str
    urgent: bool = False


@dataclass(frozen=True)
class Prefs:
    """The part of a recipient's preferences that decides its deliveries."""

    channels: list[str] = field(default_factory=list)
    quiet_start: str | None = None
    quiet_end: str | None = None


def effective_channels(channels: Iterable[str] | None) -> list[str]:
    """The inbox (always on) first, then the chosen push channels in a fixed order."""
    chosen = set(channels or ())
    return [INBOX, *(name for name in PUSH_CHANNELS if name in chosen)]


def rows_for(
    source_event_id: str, notices: Iterable[Notice], prefs: dict[str, Prefs], now: datetime
) -> list[dict[str, Any]]:
    """One ``notifications`` row per notice and channel: the inbox stored at once, push
    channels due now or held to the end of the recipient's quiet hours (unless urgent)."""
    rows: list[dict[str, Any]] = []
    for notice in notices:
        chosen = prefs.get(notice.recipient_id)
        city = recipient_city(notice.recipient_id)
        for channel in effective_channels(chosen.channels if chosen else None):
            due_at, held_until = None, None
            status = STORED
            if channel != INBOX and chosen is not None:
                status = PENDING
                due_at, held_until = schedule(
                    now, notice.urgent, chosen.quiet_start, chosen.quiet_end
                )
            rows.append(
                {
                    "id": ids.new_id(city, "ntf"),
                    "source_event_id": source_event_id,
                    "recipient_id": notice.recipient_id,
                    "city": city,
                    "kind": notice.kind,
                    "subject_id": notice.subject_id[:SUBJECT_LENGTH],
                    "title": notice.title,
                    "body": notice.body,
                    "channel": channel,
                    "urgent": notice.urgent,
                    "status": status,
                    "read": False,
                    "read_at": None,
                    "created_at": now,
                    "due_at": due_at,
                    "held_until": held_until,
                    "attempts": 0,
                    "last_error": None,
                    "sent_at": None,
                }
            )
    return rows


# --- quiet hours ---------------------------------------------------------------------------------


def minutes_of(value: str) -> int:
    """``"HH:MM"`` as minutes since midnight (``"24:00"``, the end of the day, is 1440)."""
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def quiet_until(now: datetime, start: str | None, end: str | None) -> datetime | None:
    """When the quiet hours around ``now`` end (UTC), or None if ``now`` is outside them.

    ``start``/``end`` are local ``HH:MM`` in Asia/Shanghai; ``start > end`` wraps past midnight
    (22:00-07:00). The window is ``[start, end)``; equal ends mean no quiet hours.
    """
    if not start or not end or start == end:
        return None
    local = clock.local(now)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    t = (local - midnight) / timedelta(minutes=1)
    s, e = minutes_of(start), minutes_of(end)
    if s < e:
        inside, ends = s <= t < e, midnight + timedelta(minutes=e)
    elif t >= s:  # wraps: the evening part, ending tomorrow
        inside, ends = True, midnight + timedelta(days=1, minutes=e)
    else:  # wraps: the morning part, ending today
        inside, ends = t < e, midnight + timedelta(minutes=e)
    if not inside:
        return None
    return ends.astimezone(now.tzinfo)


def schedule(
    now: datetime, urgent: bool, start: str | None, end: str | None
) -> tuple[datetime, datetime | None]:
    """``(due_at, held_until)`` of a new push delivery: at once, or held to the end of quiet
    hours unless urgent."""
    if urgent:
        return now, None
    held = quiet_until(now, start, end)
    return (held, held) if held is not None else (now, None)


# --- retries -------------------------------------------------------------------------------------


def next_step(attempts: int, retryable: bool, max_attempts: int) -> str:
    """After a failed try: ``retry`` or ``dead`` (dead-lettered)."""
    return "retry" if retryable and attempts < max_attempts else "dead"


def retryable_status(status: int) -> bool:
    """HTTP answers worth retrying: server errors, 408 and 429. Other 4xx, and 3xx (a redirect is
    never followed), are final."""
    return status >= 500 or status in (408, 429)


# --- why a push failed ---------------------------------------------------------------------------

# What ``last_error`` and ``notification_failed.error`` may say: a fixed vocabulary, never a
# socket's or a receiver's own text, so a webhook cannot be used to probe what listens where.
REFUSED_URL = "refused_url"  # the stored URL breaks the rules (scheme, host, port)
REFUSED_ADDRESS = "refused_address"  # the host resolves to an address push never reaches
TIMEOUT = "timeout"
CONNECTION_FAILED = "connection_failed"  # refused, reset, unresolvable, TLS, bad answer
NO_WEBHOOK_URL = "no_webhook_url"
NO_WEBHOOK_SECRET = "no_webhook_secret"  # set before per-recipient secrets: set it again
ADAPTER_ERROR = "adapter_error"  # a bug in an adapter (details in the log only)
STATUS_CLASSES = ("http_1xx", "http_3xx", "http_4xx", "http_5xx")  # 3xx: never followed
FAILURE_REASONS = frozenset(
    {
        REFUSED_URL,
        REFUSED_ADDRESS,
        TIMEOUT,
        CONNECTION_FAILED,
        NO_WEBHOOK_URL,
        NO_WEBHOOK_SECRET,
        ADAPTER_ERROR,
        *STATUS_CLASSES,
    }
)


def status_reason(status: int) -> str:
    """The coarse reason of a non-2xx HTTP answer: its class (``http_4xx``...)."""
    reason = f"http_{status // 100}xx"
    return reason if reason in STATUS_CLASSES else CONNECTION_FAILED


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


# --- who hears of a published wish -------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    volunteer_id: str
    lat: float
    lon: float


def within_circle(
    candidates: Iterable[tuple[str, float, float]], lat: float, lon: float, radius_m: float
) -> list[tuple[str, float]]:
    """``(volunteer_id, distance_m)`` of the candidates inside the circle, each once, nearest
    first (the kernel's ranking, ``geo.rank_nearby``)."""
    ranked = geo.rank_nearby(
        (_Candidate(*candidate) for candidate in candidates),
        lat,
        lon,
        radius_m,
        key=lambda candidate: candidate.volunteer_id,
    )
    return [(near.key, near.distance_m) for near in ranked]


# --- offers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldOffer:
    """An offer notify told a volunteer of: the request version that made it, open or ended."""

    volunteer_id: str
    offered_version: int
    open: bool = True


def lost_offers(
    held: Iterable[HeldOffer],
    event_type: str,
    version: int,
    offered_to: Iterable[str],
    volunteer_id: str | None,
) -> list[tuple[str, str]]:
    """``(volunteer_id, reason)`` of open offers a request event shows as ended without the
    volunteer's own doing.

    ``request_declined`` ends only the decliner's offer (its own doing: no notice). Any later
    event (its ``version`` is newer than the offer's) ends the open offers it no longer lists:
    taken by another when someone accepted, cancelled, or timed out when the request moved on.
    """
    if event_type == "request_declined":
        return []
    still = set(offered_to)
    reason = {
        "request_accepted": OFFER_TAKEN,
        "request_cancelled": OFFER_CANCELLED,
        "request_dispatched": OFFER_TIMED_OUT,
        "request_unassigned": OFFER_TIMED_OUT,
    }.get(event_type, OFFER_CLOSED)
    return [
        (offer.volunteer_id, reason)
        for offer in held
        if offer.open
        and offer.offered_version < version
        and offer.volunteer_id not in still
        and offer.volunteer_id != volunteer_id
    ]


def offer_closed_by_own_act(event_type: str, volunteer_id: str | None) -> str | None:
    """The volunteer whose offer the event ended by its own act (accepting or declining)."""
    if event_type in ("request_accepted", "request_declined"):
        return volunteer_id
    return None


@dataclass(frozen=True)
class OfferChanges:
    """What one request event does to the offers held: the new offers (told and held), the
    lost ones (told why), and every open offer that ends (lost or closed by its own act)."""

    new: list[str]
    lost: list[tuple[str, str]]
    closing: list[str]


def offer_changes(
    held: list[HeldOffer],
    event_type: str,
    version: int,
    offered_to: Iterable[str],
    volunteer_id: str | None,
) -> OfferChanges:
    """Decide a request event against the offers held for the request.

    A dispatch offers its ``offered_to`` volunteers not offered before, unless an offer of a
    newer version is held already (the dispatch arrived late: its offers are over).
    """
    offered_to = list(offered_to)
    lost = lost_offers(held, event_type, version, offered_to, volunteer_id)
    closing = [lost_by for lost_by, _ in lost]
    own = offer_closed_by_own_act(event_type, volunteer_id)
    if own and any(offer.open and offer.volunteer_id == own for offer in held):
        closing.append(own)
    new: list[str] = []
    stale = any(offer.offered_version > version for offer in held)
    if event_type == "request_dispatched" and not stale:
        known = {offer.volunteer_id for offer in held}
        new = [v for v in dict.fromkeys(offered_to) if v not in known]
    return OfferChanges(new=new, lost=lost, closing=closing)
