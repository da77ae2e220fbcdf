"""The polite, bounded feed fetcher (the ``Fetcher`` port), on aiohttp.

Why it is built this way (measurements and sources in ``reference/polling.md`` §1-3):

- **Conditional GET with the stored validators, verbatim.** Never invent an ``If-Modified-Since``.
- **Caps of our own.** aiohttp's ``ClientTimeout(total=...)`` is a real wall-clock cap (a trickling
  server cannot keep us forever), and the body is counted *after* decompression while it streams, so a
  gzip bomb stops at the cap instead of filling memory. A ``Content-Length`` over the cap is refused
  before any of the body is read.
- **Redirects are followed by hand** (at most ``max_redirects``), so that every hop is checked by the SSRF
  guard, loops are reported in words, and ``moved_permanently`` is true only when *every* hop was
  301/308 (a temporary hop means "keep asking the old URL").
- **SSRF guard on the address actually connected to.** Host names are resolved by a resolver that drops
  loopback, private, link-local (cloud metadata at 169.254.169.254), CGNAT, multicast, unspecified,
  reserved and unique-local addresses (and IPv4-mapped IPv6 forms of them); aiohttp connects only to what
  the resolver returns, which also defeats DNS rebinding. IP literals skip resolvers, so they are checked
  before each hop. ``allow_private_networks`` (``WIREWATCH_ALLOW_PRIVATE_NETWORKS=1``) lifts the guard.
- **Concurrency is bounded per host and overall by our own semaphores, and the time cap starts only once
  a slot is held**: a feed queued behind others on a busy host is not reported as "timed out".
- **Hygiene:** an honest User-Agent with the project URL, ``Accept-Encoding: gzip, deflate`` only (we
  can bound those decoders), no cookies, no Referer.
- **Never raises for network or HTTP trouble**: every outcome is a ``FetchResult`` whose ``error`` is a
  sentence for people ("connection refused by example.org:443").
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Iterable, Mapping

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

import bot
from bot.core.models import FetchOutcome, FetchResult

MiB = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 10 * MiB
ERROR_BODY_EXCERPT_BYTES = 64 * 1024  # kept from error answers so `feed list` can show what came back
CONNECT_TIMEOUT_S = 10.0
CHUNK_BYTES = 64 * 1024
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECT_CODES = frozenset({301, 308})
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, "
    "text/xml;q=0.9, */*;q=0.8"
)
ALLOW_HINT = "set WIREWATCH_ALLOW_PRIVATE_NETWORKS=1 to allow feeds on loopback or private networks"

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")


def default_user_agent() -> str:
    return f"wirewatch/{bot.__version__} (+{bot.PROJECT_URL})"


# --------------------------------------------------------------------------------------------------
# SSRF guard
# --------------------------------------------------------------------------------------------------


def blocked_address_reason(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a feed must not be fetched from this address, or None when it is a public address.

    Order matters only for the wording: the most specific reason is named (an operator who reads
    "link-local" understands the cloud-metadata risk better than "not global").
    """
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return "an address that cannot be checked"
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv4 carried inside IPv6: mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002:AABB:CCDD::/48),
        # each of which some networks route to the embedded IPv4 host; judge that host.
        embedded = ip.ipv4_mapped or ip.sixtofour or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        if embedded is not None:
            inner = blocked_address_reason(embedded)
            return f"{inner} (IPv4 inside IPv6)" if inner else None
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services live)"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a carrier-grade NAT address"
    if isinstance(ip, ipaddress.IPv6Address) and (ip in _UNIQUE_LOCAL or ip.is_site_local):
        return "a unique-local IPv6 address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a public address"
    return None


class BlockedAddress(OSError):
    """Raised by the guarded resolver; aiohttp wraps it in ``ClientConnectorDNSError.os_error``."""


class _AddressPolicy:
    def __init__(self, allow_private: bool, allow_networks: Iterable[str]):
        self.allow_private = allow_private
        self.allow_networks = tuple(ipaddress.ip_network(n, strict=False) for n in allow_networks)

    def reason(self, address: str) -> str | None:
        if self.allow_private:
            return None
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return "an address that cannot be checked"
        if any(ip.version == net.version and ip in net for net in self.allow_networks):
            return None
        return blocked_address_reason(ip)


class _GuardedResolver(AbstractResolver):
    """Resolve with aiohttp's default resolver, then keep only addresses the policy allows."""

    def __init__(self, policy: _AddressPolicy):
        self._inner = DefaultResolver()
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if self._policy.reason(r["host"]) is None]
        if not allowed and results:
            first = results[0]["host"]
            raise BlockedAddress(f"{host} resolves to {first}, {self._policy.reason(first)}")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


# --------------------------------------------------------------------------------------------------
# The fetcher
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Hop:
    """What one request of a redirect chain came to: a redirect to follow, or a finished result."""

    result: FetchResult | None = None
    location: URL | None = None
    status: int | None = None


class _Failed(Exception):
    """Internal: a hop ended in an error sentence (never leaves this module)."""


class HttpFetcher:
    """One shared aiohttp session; ``fetch`` is safe to call concurrently.

    ``allow_networks`` lists explicit exceptions to the SSRF guard (CIDR strings, e.g. one intranet feed
    host), narrower than lifting the guard entirely.
    """

    def __init__(
        self,
        *,
        timeout_s: float = 30.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        per_host: int = 2,
        total_connections: int = 20,
        allow_private_networks: bool = False,
        user_agent: str | None = None,
        max_redirects: int = 5,
        allow_networks: Iterable[str] = (),
    ):
        self.timeout_s = float(timeout_s)
        self.max_body_bytes = int(max_body_bytes)
        self.per_host = int(per_host)
        self.total_connections = int(total_connections)
        self.user_agent = user_agent or default_user_agent()
        self.max_redirects = int(max_redirects)
        self._policy = _AddressPolicy(allow_private_networks, allow_networks)
        self._session: aiohttp.ClientSession | None = None
        self._resolver: _GuardedResolver | None = None
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._all_slots: asyncio.Semaphore | None = None

    # ---- lifecycle --------------------------------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        # Built lazily (no await in between, so concurrent first calls cannot build two): aiohttp wants
        # a running loop, and a constructor should not need one.
        if self._session is None:
            self._resolver = _GuardedResolver(self._policy)
            connector = aiohttp.TCPConnector(
                limit=self.total_connections,
                limit_per_host=self.per_host,
                ttl_dns_cache=300,
                resolver=self._resolver,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(
                    total=self.timeout_s, sock_connect=min(CONNECT_TIMEOUT_S, self.timeout_s)
                ),
                auto_decompress=True,
                trust_env=False,
                raise_for_status=False,
            )
            self._all_slots = asyncio.Semaphore(self.total_connections)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
        if self._resolver is not None:  # passed in, so the connector does not close it for us
            resolver, self._resolver = self._resolver, None
            await resolver.close()

    # ---- fetch ------------------------------------------------------------------------------------

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """One conditional GET, following redirects by hand. Never raises for network or HTTP trouble."""
        headers = {
            "User-Agent": self.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip, deflate",
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified

        session = self._get_session()
        try:
            current = URL(url).with_fragment(None)
        except (ValueError, TypeError):
            return FetchResult(FetchOutcome.ERROR, url=url, error=f"not a valid URL: {url!r}")
        chain: list[URL] = [current]
        codes: list[int] = []
        budget = self.timeout_s
        elapsed = 0.0
        while True:
            hop_label = "fetch" if not codes else "follow the redirect to"
            hop_started = time.monotonic()  # reset once a slot is held: queueing is not the server's time
            try:
                self._check_target(current, hop_label)
                async with self._slot(current.host or ""):
                    hop_started = time.monotonic()
                    try:
                        async with asyncio.timeout(max(budget, 0.001)):
                            hop = await self._one_request(session, url, current, headers)
                    finally:
                        budget -= time.monotonic() - hop_started
            except _Failed as failed:
                words = str(failed)
            except TimeoutError as exc:
                words = self._timeout_words(exc, current)
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                words = self._words_for(exc, current, hop_label)
            else:
                words = None
            elapsed += time.monotonic() - hop_started
            if words is not None:
                return self._error(url, current, words, elapsed)

            if hop.result is not None:
                moved = bool(codes) and all(c in PERMANENT_REDIRECT_CODES for c in codes)
                return _with(hop.result, final_url=str(current), moved_permanently=moved,
                             elapsed_ms=int(elapsed * 1000))

            assert hop.location is not None and hop.status is not None
            codes.append(hop.status)
            nxt = hop.location
            if nxt in chain:
                path = " -> ".join(str(u) for u in [*chain, nxt])
                return self._error(url, current, f"redirect loop: {path}", elapsed)
            if len(codes) > self.max_redirects:
                return self._error(
                    url, current, f"too many redirects (more than {self.max_redirects}), last to {nxt}",
                    elapsed,
                )
            chain.append(nxt)
            current = nxt

    # ---- one hop ----------------------------------------------------------------------------------

    def _check_target(self, target: URL, hop_label: str) -> None:
        if target.scheme not in ("http", "https"):
            raise _Failed(
                f"refused to {hop_label} {target}: only http and https URLs can be fetched"
            )
        host = target.host
        if not host:
            raise _Failed(f"refused to {hop_label} {target}: the URL has no host")
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return  # a name: the guarded resolver checks what it resolves to
        reason = self._policy.reason(str(literal))
        if reason:
            raise _Failed(f"refused to {hop_label} {target}: {literal} is {reason}; {ALLOW_HINT}")

    def _slot(self, host: str) -> "_Slots":
        sem = self._host_slots.get(host)
        if sem is None:
            sem = self._host_slots[host] = asyncio.Semaphore(self.per_host)
        assert self._all_slots is not None
        return _Slots(sem, self._all_slots)

    async def _one_request(
        self, session: aiohttp.ClientSession, asked: str, target: URL, headers: Mapping[str, str]
    ) -> _Hop:
        async with session.get(target, headers=headers, allow_redirects=False) as resp:
            code = resp.status
            lower = _lower_headers(resp.headers)
            if code in REDIRECT_CODES:
                location = resp.headers.get("Location")
                if not location:
                    raise _Failed(f"HTTP {code} redirect from {target} without a Location header")
                try:
                    nxt = target.join(URL(location)).with_fragment(None)
                except (ValueError, TypeError):
                    raise _Failed(f"HTTP {code} redirect from {target} to an invalid URL {location!r}")
                return _Hop(location=nxt, status=code)

            if code == 304:
                return _Hop(FetchResult(FetchOutcome.NOT_MODIFIED, url=asked, status=code, headers=lower))

            if 200 <= code < 300:
                declared = resp.content_length
                if declared is not None and declared > self.max_body_bytes:
                    raise _Failed(
                        f"body larger than {_size(self.max_body_bytes)} "
                        f"(Content-Length: {declared} bytes); not downloaded"
                    )
                body = await self._read_capped(resp, self.max_body_bytes)
                if body is None:
                    raise _Failed(f"body larger than {_size(self.max_body_bytes)}; download stopped at the cap")
                return _Hop(FetchResult(FetchOutcome.MODIFIED, url=asked, status=code, body=body, headers=lower))

            excerpt = await self._read_excerpt(resp)
            reason = resp.reason or _phrase(code)
            wall = _bot_protection(lower) if code in (403, 429, 503) else None
            if code == 410:
                return _Hop(FetchResult(FetchOutcome.GONE, url=asked, status=code, body=excerpt, headers=lower,
                                        error=f"HTTP 410 {reason}"))
            retry_after = _retry_after_s(lower)
            if code == 429 or (code == 503 and retry_after is not None):
                words = f"HTTP {code} {reason}" + (f" (blocked by {wall})" if wall else "")
                return _Hop(FetchResult(FetchOutcome.RATE_LIMITED, url=asked, status=code, body=excerpt,
                                        headers=lower, retry_after_s=retry_after, error=words))
            words = f"HTTP {code} {reason}" + (f" (blocked by {wall})" if wall else "")
            return _Hop(FetchResult(FetchOutcome.ERROR, url=asked, status=code, body=excerpt, headers=lower,
                                    error=words))

    @staticmethod
    async def _read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes | None:
        """The decompressed body, or None as soon as it grows past ``cap`` (the rest is never read)."""
        parts: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
            size += len(chunk)
            if size > cap:
                return None
            parts.append(chunk)
        return b"".join(parts)

    @staticmethod
    async def _read_excerpt(resp: aiohttp.ClientResponse) -> bytes:
        """Up to 64 KiB of an error answer (a WAF page says who blocked us); a broken one reads as b''."""
        parts: list[bytes] = []
        size = 0
        try:
            async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
                parts.append(chunk)
                size += len(chunk)
                if size >= ERROR_BODY_EXCERPT_BYTES:
                    break
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
            pass  # the status line already says what went wrong; the excerpt is a courtesy
        return b"".join(parts)[:ERROR_BODY_EXCERPT_BYTES]

    # ---- errors in words --------------------------------------------------------------------------

    @staticmethod
    def _error(asked: str, at: URL, words: str, elapsed_s: float) -> FetchResult:
        return FetchResult(
            FetchOutcome.ERROR, url=asked, final_url=str(at), error=words, elapsed_ms=int(elapsed_s * 1000)
        )

    def _timeout_words(self, exc: BaseException, at: URL) -> str:
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return f"timed out connecting to {_host_port(at)} after {min(CONNECT_TIMEOUT_S, self.timeout_s):g} s"
        return f"timed out after {self.timeout_s:g} s"

    def _words_for(self, exc: BaseException, at: URL, hop_label: str = "fetch") -> str:
        host = at.host or str(at)
        if isinstance(exc, aiohttp.ClientConnectorDNSError):
            if isinstance(exc.os_error, BlockedAddress):
                return f"refused to {hop_label} {at}: {exc.os_error}; {ALLOW_HINT}"
            return f"could not resolve host {host}"
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            return f"TLS certificate of {host} not accepted: {exc.certificate_error}"
        if isinstance(exc, aiohttp.ClientSSLError):
            return f"TLS error talking to {host}: {exc.os_error}"
        if isinstance(exc, aiohttp.ClientConnectorError):
            if isinstance(exc.os_error, ConnectionRefusedError):
                return f"connection refused by {_host_port(at)}"
            return f"could not connect to {_host_port(at)}: {exc.os_error.strerror or exc.os_error}"
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return f"{host} closed the connection before answering"
        if isinstance(exc, aiohttp.ClientPayloadError):
            return f"the body from {host} was cut off or malformed: {exc}"
        if isinstance(exc, aiohttp.InvalidURL):
            return f"not a valid URL: {exc.url}"
        if isinstance(exc, aiohttp.ClientResponseError):
            return f"bad HTTP answer from {host}: {exc.message}"
        if isinstance(exc, aiohttp.ClientError):
            return f"HTTP error talking to {host}: {exc}"
        if isinstance(exc, OSError):
            return f"network error talking to {host}: {exc.strerror or exc}"
        return f"could not fetch {at}: {exc}"


class _Slots:
    """Hold one per-host slot, then one of the overall slots (in that order, so a busy host does not
    sit on overall slots while it waits)."""

    def __init__(self, host: asyncio.Semaphore, total: asyncio.Semaphore):
        self._host = host
        self._total = total

    async def __aenter__(self) -> None:
        await self._host.acquire()
        try:
            await self._total.acquire()
        except BaseException:
            self._host.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._total.release()
        self._host.release()


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _with(result: FetchResult, **changes: object) -> FetchResult:
    return replace(result, **changes)


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-case names; repeated headers joined with ", " (RFC 9110 §5.3)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _retry_after_s(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from the answer: delta-seconds or an HTTP-date (measured from the
    answer's ``Date`` when present, so our clock skew does not matter). None if absent or unreadable."""
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    origin = None
    if headers.get("date"):
        try:
            origin = parsedate_to_datetime(headers["date"])
        except (TypeError, ValueError, IndexError):
            origin = None
    if origin is not None and origin.tzinfo is None:
        origin = origin.replace(tzinfo=timezone.utc)
    origin = origin or now or datetime.now(timezone.utc)
    return max(0.0, (when - origin).total_seconds())


_WALLS = (
    ("cf-mitigated", None, "Cloudflare bot protection"),
    ("server", "cloudflare", "Cloudflare bot protection"),
    ("server", "ddos-guard", "DDoS-Guard"),
    ("x-sucuri-id", None, "the Sucuri firewall"),
    ("server", "akamaighost", "Akamai bot protection"),
)


def _bot_protection(headers: Mapping[str, str]) -> str | None:
    """Name the bot wall behind a 403/429/503, so `feed list` says "blocked", not just "403"."""
    for name, needle, label in _WALLS:
        value = headers.get(name)
        if value is not None and (needle is None or needle in value.lower()):
            return label
    return None


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def _size(n: int) -> str:
    return f"{n / MiB:g} MiB" if n >= MiB else f"{n} bytes"


def _host_port(url: URL) -> str:
    host = url.host or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{url.port}"
