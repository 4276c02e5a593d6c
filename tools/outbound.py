"""Outbound requests to the URLs staff configure (gateway schedules): HTTPS to public hosts
only, free of the ORM."""

import ipaddress
import socket
from urllib.parse import urlsplit


class UrlRefused(ValueError):
    """The URL may not be called. `reason` says why: `malformed`, `scheme`, `host`,
    `address` (not a public address) or `unresolved`; `detail` names what was refused."""

    def __init__(self, reason, detail=''):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def is_public_address(address):
    """Return whether `address` (an `ipaddress` address) is a public unicast address: not
    loopback, private, shared, link-local, multicast, reserved or unspecified (an IPv4 address
    mapped in IPv6 is judged as IPv4)."""
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified
    )


def _check_address(address, allow_loopback):
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    if is_public_address(address) or (allow_loopback and address.is_loopback):
        return
    raise UrlRefused('address', str(address))


def check_url(url, allow_loopback=False):
    """Check `url` as written: HTTPS, a host, and no literal address that is not public.

    :param str url: The URL.
    :param bool allow_loopback: Also accept HTTP and loopback addresses (tests only).
    :return: The host and the port to connect to.
    :rtype: tuple(str, int)
    :raise UrlRefused: If the URL may not be called.
    """
    try:
        parts = urlsplit((url or '').strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        raise UrlRefused('malformed', url) from None
    schemes = ('https', 'http') if allow_loopback else ('https',)
    if parts.scheme not in schemes:
        raise UrlRefused('scheme', parts.scheme)
    if not host:
        raise UrlRefused('host')
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None  # A host name: its addresses are checked when it is called.
    if address is not None:
        _check_address(address, allow_loopback)
    return host, port or (443 if parts.scheme == 'https' else 80)


def check_resolved(host, port, allow_loopback=False, resolve=socket.getaddrinfo):
    """Resolve `host` and check every address it has: all must be public.

    :param str host: The host name (or literal address).
    :param int port: The port.
    :param bool allow_loopback: Also accept loopback addresses (tests only).
    :param resolve: The resolver, `socket.getaddrinfo` by default.
    :raise UrlRefused: If the host does not resolve or one of its addresses is not public.
    """
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UrlRefused('unresolved', host) from None
    if not infos:
        raise UrlRefused('unresolved', host)
    for _family, _type, _proto, _canonname, sockaddr in infos:
        # An IPv6 address may carry a zone (`fe80::1%eth0`): the zone is not the address.
        address = ipaddress.ip_address(str(sockaddr[0]).split('%', 1)[0])
        _check_address(address, allow_loopback)
