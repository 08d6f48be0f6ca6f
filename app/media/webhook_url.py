"""Where the auto-block webhook may be sent (issue 18, item 14; security N1, N6).

- only ``http`` and ``https`` URLs, with a host and no credentials in them (a secret in
  the URL would be shown by ``GET /admin/media/config`` and kept in the audit chain for
  good: the receiver checks ``webhook_secret``'s signature instead);
- only to public addresses: every address the host resolves to must be global unicast
  (no loopback, private, link-local such as cloud metadata at 169.254.169.254, shared,
  reserved, multicast or unspecified ranges; an IPv4-mapped IPv6 address counts as its
  IPv4 self) unless ``MEDIA_WEBHOOK_ALLOW_PRIVATE`` is set (a receiver on the same
  network, tests);
- checked when the URL is saved (a name that does not resolve yet is let through) and
  again at every delivery, which connects to the very address it checked, so a name
  re-pointed in between (DNS rebinding) cannot reach an inside address.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask_babel import gettext


class WebhookUrlRefused(ValueError):
    """The URL may not receive the webhook; ``str()`` says why, for the admin."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]  # resolved and allowed, in the resolver's order


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def parse(url: str) -> tuple[str, str, int, str]:
    """Scheme, host, port and request path of an acceptable URL; refused otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookUrlRefused(gettext("The webhook URL cannot be read.")) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlRefused(gettext("The webhook URL must be an http(s) URL with a host."))
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise WebhookUrlRefused(gettext("The webhook URL may not carry credentials: set "
                                        "webhook_secret, and check its signature."))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def resolve(host: str, port: int) -> tuple[str, ...]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return tuple(dict.fromkeys(info[4][0] for info in infos))


def check_target(url: str, *, allow_private: bool, unresolved_ok: bool = False) -> Target:
    """The URL's target with its allowed addresses; ``WebhookUrlRefused`` otherwise.

    ``unresolved_ok``: a host that does not resolve now is let through with no address
    (saving a URL whose name is not published yet); delivery checks it again.
    """
    scheme, host, port, path = parse(url)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        if unresolved_ok:
            return Target(scheme, host, port, path, ())
        raise WebhookUrlRefused(gettext("The webhook host %(host)s does not resolve.",
                                        host=host)) from None
    if not allow_private:
        inside = [a for a in addresses if not is_public(a)]
        if inside:
            raise WebhookUrlRefused(gettext(
                "The webhook host %(host)s is not a public address (%(address)s); set "
                "MEDIA_WEBHOOK_ALLOW_PRIVATE to allow it.", host=host, address=inside[0]))
    return Target(scheme, host, port, path, addresses)
