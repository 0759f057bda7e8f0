"""Which addresses HTTP checks may request: no loopback, link-local, private or reserved targets in production.

An HTTP check makes opsgov's server send requests, so a check pointed at
`http://127.0.0.1:6390/` or `http://169.254.169.254/` would let whoever may
create checks probe the server's own ports, the cloud metadata service or the
internal network (server-side request forgery). Unless the policy allows it,
a target is refused when any address its host resolves to is loopback,
link-local, private, multicast, unspecified or reserved (IPv4-mapped IPv6
addresses are judged as the IPv4 address they carry), except the networks the
policy lists in `monitoring.http_checks.allowed_networks`.

Checked twice:
- when a check is created or its URL changed (monitoring.checks.services): a
  DomainError on `url`, so the form and the API (400) name the field;
- at every run (monitoring.checks.services.probe_http): the host is resolved again, every
  address vetted, and the request sent to the vetted address itself (the
  original host in the Host header and as TLS SNI, whose certificate is
  verified), so a DNS answer that changes after the check was saved (DNS
  rebinding) cannot point a run elsewhere.

Policy `monitoring.http_checks.allow_private_targets`: true allows everything,
false refuses; unset (the default) follows HTTP_CHECKS_ALLOW_PRIVATE_BY_DEFAULT,
which settings derive from DEBUG as the process started: allowed in the
embedded default (`make run`, whose demo checks request the instance itself on
127.0.0.1, and the tests), refused in production (DEBUG=false).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import httpx
from django.conf import settings

from opsgov.policy import get_policy

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """A URL whose host is, or resolves to, an address HTTP checks may not request; the message says which."""


def private_targets_allowed() -> bool:
    """Whether the policy (or, unset, the embedded default) lets checks request any address."""
    allowed = get_policy().monitoring.http_checks.allow_private_targets
    return bool(settings.HTTP_CHECKS_ALLOW_PRIVATE_BY_DEFAULT) if allowed is None else allowed


def _kind(address: IPAddress) -> str | None:
    """What makes `address` refused ("loopback", "private"...), or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind, flag in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-global", not address.is_global),
    ):
        if flag:
            return kind
    return None


def vet_addresses(host: str, addresses: Iterable[IPAddress]) -> list[IPAddress]:
    """`addresses` (what `host` resolves to) when every one may be requested; else TargetRefused naming one."""
    allowed_networks = get_policy().monitoring.http_checks.allowed_networks
    vetted = []
    for address in addresses:
        kind = _kind(address)
        if kind is not None and not any(address in network for network in allowed_networks):
            where = host if host == str(address) else f"{host} resolves to {address}, which"
            raise TargetRefused(
                f"{where} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} address; HTTP checks may not request it "
                "(policy monitoring.http_checks: allow_private_targets, allowed_networks)."
            )
        vetted.append(address)
    if not vetted:
        raise TargetRefused(f"{host} resolves to no address.")
    return vetted


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _addresses(infos: Iterable[tuple[object, ...]]) -> list[IPAddress]:
    found: list[IPAddress] = []
    for info in infos:
        sockaddr = info[4]
        assert isinstance(sockaddr, tuple)
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def vet_url(url: str) -> None:
    """Refuse (TargetRefused) a URL whose host is or resolves to an address checks may not request.

    Nothing is checked when the policy allows private targets. A host that does not resolve is refused too:
    its check could only fail, and it would be vetted at each run anyway.
    """
    if private_targets_allowed():
        return
    parsed = httpx.URL(url)
    host = parsed.host
    literal = _literal(host)
    if literal is not None:
        vet_addresses(host, [literal])
        return
    try:
        infos = socket.getaddrinfo(host, _port(parsed), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"{host} does not resolve ({exc}).") from None
    vet_addresses(host, _addresses(infos))


async def pinned_request(url: str) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """The URL to request (its host replaced by a vetted address), and the headers and extensions that keep
    the original host for the server (Host) and for TLS (SNI, certificate check); TargetRefused otherwise.

    With private targets allowed, `url` unchanged.
    """
    parsed = httpx.URL(url)
    if private_targets_allowed():
        return parsed, {}, {}
    host = parsed.host
    literal = _literal(host)
    if literal is not None:
        vet_addresses(host, [literal])
        return parsed, {}, {}
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, _port(parsed), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"{host} does not resolve ({exc}).") from None
    address = vet_addresses(host, _addresses(infos))[0]
    host_header = parsed.netloc.decode("ascii")
    return parsed.copy_with(host=str(address)), {"Host": host_header}, {"sni_hostname": host}
