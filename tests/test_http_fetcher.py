"""HttpFetcher against a real loopback FeedServer: what went over the wire, and what came back."""

from __future__ import annotations

import asyncio
import gzip

import pytest
from aiohttp import web

import bot
from bot.adapters.http_fetcher import HttpFetcher, blocked_address_reason
from bot.core.models import FetchOutcome
from tests.feedserver import feed_server, feed_server_thread, tiny_rss, unused_port  # noqa: F401 (fixtures)

MiB = 1024 * 1024
FEED = tiny_rss()


@pytest.fixture
async def fetcher():
    f = HttpFetcher(allow_private_networks=True, timeout_s=10)
    yield f
    await f.close()


# ---- conditional GET --------------------------------------------------------------------------------


async def test_etag_round_trip_gives_304_with_no_body(feed_server, fetcher):
    feed_server.serve("/feed.xml", FEED, etag='W/"v1"')
    first = await fetcher.fetch(feed_server.url("/feed.xml"))
    assert first.outcome is FetchOutcome.MODIFIED
    assert first.body == FEED and first.status == 200
    assert first.headers["etag"] == 'W/"v1"'

    second = await fetcher.fetch(feed_server.url("/feed.xml"), etag=first.headers["etag"])
    assert second.outcome is FetchOutcome.NOT_MODIFIED
    assert second.status == 304 and second.body == b""
    sent = feed_server.requests_to("/feed.xml")
    assert "if-none-match" not in sent[0].headers
    assert sent[1].headers["if-none-match"] == 'W/"v1"'  # verbatim, quotes and W/ kept


async def test_last_modified_round_trip(feed_server, fetcher):
    stamp = "Tue, 03 Mar 2026 10:00:00 GMT"
    feed_server.serve("/feed.xml", FEED, last_modified=stamp)
    first = await fetcher.fetch(feed_server.url("/feed.xml"))
    assert first.headers["last-modified"] == stamp

    second = await fetcher.fetch(feed_server.url("/feed.xml"), last_modified=stamp)
    assert second.outcome is FetchOutcome.NOT_MODIFIED
    assert second.headers["last-modified"] == stamp  # so a new value could be stored
    assert feed_server.requests_to("/feed.xml")[1].headers["if-modified-since"] == stamp


async def test_empty_200_body_is_modified_with_empty_bytes(feed_server, fetcher):
    feed_server.serve("/empty", b"")
    result = await fetcher.fetch(feed_server.url("/empty"))
    assert result.outcome is FetchOutcome.MODIFIED
    assert result.body == b"" and result.status == 200


async def test_gzip_body_is_decompressed_and_headers_are_lower_case(feed_server, fetcher):
    feed_server.serve("/gz", gzip.compress(FEED), headers={"Content-Encoding": "gzip", "X-Custom-Thing": "1"})
    result = await fetcher.fetch(feed_server.url("/gz"))
    assert result.body == FEED
    assert result.headers["x-custom-thing"] == "1"
    assert all(name == name.lower() for name in result.headers)
    assert result.final_url == feed_server.url("/gz") and result.url == feed_server.url("/gz")


# ---- request hygiene --------------------------------------------------------------------------------


async def test_request_headers_name_wirewatch_and_ask_only_for_gzip_and_deflate(feed_server, fetcher):
    feed_server.serve("/feed.xml", FEED)
    await fetcher.fetch(feed_server.url("/feed.xml"))
    sent = feed_server.requests_to("/feed.xml")[0].headers
    assert sent["user-agent"] == f"wirewatch/{bot.__version__} (+{bot.PROJECT_URL})"
    assert sent["accept-encoding"] == "gzip, deflate"
    assert "referer" not in sent and "cookie" not in sent


async def test_no_cookie_is_sent_back_after_set_cookie(feed_server, fetcher):
    feed_server.serve("/feed.xml", FEED, headers={"Set-Cookie": "session=abc123; Path=/"})
    await fetcher.fetch(feed_server.url("/feed.xml"))
    await fetcher.fetch(feed_server.url("/feed.xml"))
    assert [r.headers.get("cookie") for r in feed_server.requests_to("/feed.xml")] == [None, None]


# ---- rate limits and HTTP errors --------------------------------------------------------------------

DATE = "Wed, 04 Mar 2026 07:28:00 GMT"


@pytest.mark.parametrize(
    "code, headers, outcome, retry_after, error",
    [
        (429, {"Retry-After": "120"}, FetchOutcome.RATE_LIMITED, 120.0, "HTTP 429 Too Many Requests"),
        (429, {"Date": DATE, "Retry-After": "Wed, 04 Mar 2026 07:33:00 GMT"}, FetchOutcome.RATE_LIMITED,
         300.0, "HTTP 429 Too Many Requests"),
        (429, {}, FetchOutcome.RATE_LIMITED, None, "HTTP 429 Too Many Requests"),
        (503, {"Retry-After": "3600"}, FetchOutcome.RATE_LIMITED, 3600.0, "HTTP 503 Service Unavailable"),
        (503, {}, FetchOutcome.ERROR, None, "HTTP 503 Service Unavailable"),
        (410, {}, FetchOutcome.GONE, None, "HTTP 410 Gone"),
        (404, {}, FetchOutcome.ERROR, None, "HTTP 404 Not Found"),
        (500, {}, FetchOutcome.ERROR, None, "HTTP 500 Internal Server Error"),
        (403, {"Server": "cloudflare", "CF-RAY": "1"}, FetchOutcome.ERROR, None,
         "HTTP 403 Forbidden (blocked by Cloudflare bot protection)"),
    ],
    ids=["429-seconds", "429-http-date", "429-no-header", "503-retry-after", "503-no-header", "410",
         "404", "500", "403-cloudflare"],
)
async def test_status_codes(feed_server, fetcher, code, headers, outcome, retry_after, error):
    feed_server.status("/x", code, headers, body=b"<html>go away</html>")
    result = await fetcher.fetch(feed_server.url("/x"))
    assert (result.outcome, result.status, result.retry_after_s, result.error) == (
        outcome, code, retry_after, error
    )
    assert result.body == b"<html>go away</html>"  # an excerpt, for `feed list`


# ---- redirects --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "codes, permanent",
    [([301], True), ([301, 301], True), ([308], True), ([301, 308, 301], True), ([302], False),
     ([307], False), ([303], False), ([301, 302], False), ([302, 301], False)],
    ids=["301", "301-301", "308", "301-308-301", "302", "307", "303", "301-then-302", "302-then-301"],
)
async def test_redirect_chains(feed_server, fetcher, codes, permanent):
    for i, code in enumerate(codes):
        feed_server.redirect(f"/hop{i}", f"/hop{i + 1}" if i + 1 < len(codes) else "/final.xml", code)
    feed_server.serve("/final.xml", FEED)
    result = await fetcher.fetch(feed_server.url("/hop0"))
    assert result.outcome is FetchOutcome.MODIFIED and result.body == FEED
    assert result.moved_permanently is permanent
    assert result.final_url == feed_server.url("/final.xml")
    assert result.url == feed_server.url("/hop0")
    assert all("referer" not in r.headers for r in feed_server.requests)


async def test_conditional_headers_reach_the_redirect_target(feed_server, fetcher):
    feed_server.redirect("/old", "/new.xml", 301)
    feed_server.serve("/new.xml", FEED, etag='"e"')
    result = await fetcher.fetch(feed_server.url("/old"), etag='"e"')
    assert result.outcome is FetchOutcome.NOT_MODIFIED and result.moved_permanently


async def test_redirect_loop_is_an_error_in_words(feed_server, fetcher):
    feed_server.redirect("/a", "/b", 302)
    feed_server.redirect("/b", "/a", 302)
    result = await fetcher.fetch(feed_server.url("/a"))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error.startswith("redirect loop: ")
    assert feed_server.hits("/a") == 1 and feed_server.hits("/b") == 1


async def test_too_many_redirects(feed_server):
    for i in range(4):
        feed_server.redirect(f"/r{i}", f"/r{i + 1}", 301)
    feed_server.serve("/r4", FEED)
    async with _fetcher(max_redirects=3) as fetcher:
        result = await fetcher.fetch(feed_server.url("/r0"))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error.startswith("too many redirects (more than 3)")
    assert feed_server.hits("/r4") == 0


async def test_redirect_to_a_non_http_scheme_is_refused(feed_server, fetcher):
    feed_server.redirect("/evil", "file:///etc/passwd", 302)
    result = await fetcher.fetch(feed_server.url("/evil"))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error == "refused to follow the redirect to file:///etc/passwd: only http and https URLs can be fetched"


# ---- network trouble --------------------------------------------------------------------------------


async def test_connection_refused(fetcher):
    port = unused_port()
    result = await fetcher.fetch(f"http://127.0.0.1:{port}/feed.xml")
    assert (result.outcome, result.status) == (FetchOutcome.ERROR, None)
    assert result.error == f"connection refused by 127.0.0.1:{port}"


async def test_dns_failure(fetcher):
    result = await fetcher.fetch("http://no-such-feed-host.invalid/feed.xml")
    assert result.outcome is FetchOutcome.ERROR
    assert result.error == "could not resolve host no-such-feed-host.invalid"


async def test_tls_trouble_is_named(feed_server, fetcher):
    feed_server.serve("/feed.xml", FEED)
    result = await fetcher.fetch(f"https://127.0.0.1:{feed_server.port}/feed.xml")  # TLS to a plain-HTTP port
    assert result.outcome is FetchOutcome.ERROR
    assert result.error.startswith("TLS error talking to 127.0.0.1: ")


async def test_trickle_stops_at_the_total_timeout(feed_server):
    feed_server.slow("/slow", bytes_per_second=50)  # a ~1.4 kB feed: ~30 s at this rate
    async with _fetcher(timeout_s=1) as fetcher:
        result = await fetcher.fetch(feed_server.url("/slow"))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error == "timed out after 1 s"


async def test_gzip_bomb_stops_at_the_cap(feed_server):
    feed_server.gzip_bomb("/bomb", 50 * MiB)
    async with _fetcher(max_body_bytes=1 * MiB) as fetcher:
        result = await fetcher.fetch(feed_server.url("/bomb"))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error == "body larger than 1 MiB; download stopped at the cap"
    assert result.body == b""


async def test_declared_content_length_over_the_cap_is_refused_before_reading(feed_server):
    feed_server.large("/big", 2 * MiB, declare_length=True)
    async with _fetcher(max_body_bytes=1 * MiB) as fetcher:
        result = await fetcher.fetch(feed_server.url("/big"))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error == f"body larger than 1 MiB (Content-Length: {2 * MiB} bytes); not downloaded"


async def test_undeclared_large_body_stops_at_the_cap(feed_server):
    feed_server.large("/big", 2 * MiB, declare_length=False)
    async with _fetcher(max_body_bytes=1 * MiB) as fetcher:
        result = await fetcher.fetch(feed_server.url("/big"))
    assert result.error == "body larger than 1 MiB; download stopped at the cap"


async def test_body_just_under_the_cap_is_read_whole(feed_server):
    feed_server.large("/big", MiB, declare_length=False)
    async with _fetcher(max_body_bytes=1 * MiB) as fetcher:
        result = await fetcher.fetch(feed_server.url("/big"))
    assert result.outcome is FetchOutcome.MODIFIED and len(result.body) == MiB


# ---- concurrency ------------------------------------------------------------------------------------


async def test_per_host_limit_and_queued_fetches_do_not_time_out(feed_server):
    """Eight fetches of a host that takes 0.2 s each, one at a time, with a 1 s cap: the queue is longer
    than the cap, yet none times out, because the clock starts when a slot is held."""
    state = {"now": 0, "max": 0}

    async def busy(request: web.Request) -> web.StreamResponse:
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        await asyncio.sleep(0.2)
        state["now"] -= 1
        return web.Response(body=FEED)

    feed_server.handler("/busy", busy)
    async with _fetcher(per_host=1, timeout_s=1) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(feed_server.url("/busy")) for _ in range(8)))
    assert [r.outcome for r in results] == [FetchOutcome.MODIFIED] * 8
    assert state["max"] == 1


# ---- SSRF guard -------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"], ids=["ip-literal", "resolved-name"])
async def test_loopback_is_refused_unless_allowed(feed_server, host):
    feed_server.serve("/feed.xml", FEED)
    url = f"http://{host}:{feed_server.port}/feed.xml"
    async with _fetcher(allow_private_networks=False) as fetcher:
        result = await fetcher.fetch(url)
    assert result.outcome is FetchOutcome.ERROR
    assert result.error.startswith(f"refused to fetch {url}: ")
    assert "loopback" in result.error
    assert "WIREWATCH_ALLOW_PRIVATE_NETWORKS=1" in result.error
    assert feed_server.requests == []  # nothing reached the server


async def test_redirect_to_a_private_address_is_refused_at_the_hop(feed_server):
    """The first host is explicitly allowed (standing in for a public site); its redirect to another
    loopback address is refused before any request is made to it."""
    target = f"http://127.0.0.2:{feed_server.port}/internal"
    feed_server.redirect("/public", target, 302)
    async with _fetcher(allow_private_networks=False, allow_networks=["127.0.0.1/32"]) as fetcher:
        result = await fetcher.fetch(feed_server.url("/public"))
    assert result.outcome is FetchOutcome.ERROR
    assert result.error == (
        f"refused to follow the redirect to {target}: 127.0.0.2 is a loopback address; "
        "set WIREWATCH_ALLOW_PRIVATE_NETWORKS=1 to allow feeds on loopback or private networks"
    )
    assert [r.path for r in feed_server.requests] == ["/public"]


async def test_only_http_and_https(fetcher):
    result = await fetcher.fetch("ftp://example.org/feed.xml")
    assert result.outcome is FetchOutcome.ERROR
    assert result.error == "refused to fetch ftp://example.org/feed.xml: only http and https URLs can be fetched"


@pytest.mark.parametrize(
    "address, reason",
    [
        ("93.184.215.14", None),
        ("2606:4700::6810:85e5", None),
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("169.254.169.254", "a link-local address (where cloud metadata services live)"),
        ("fe80::1", "a link-local address (where cloud metadata services live)"),
        ("100.64.0.1", "a carrier-grade NAT address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("240.0.0.1", "a reserved address"),
        ("fd12:3456::1", "a unique-local IPv6 address"),
        ("::ffff:127.0.0.1", "a loopback address (IPv4 inside IPv6)"),
        ("::ffff:169.254.169.254", "a link-local address (where cloud metadata services live) (IPv4 inside IPv6)"),
        ("::ffff:93.184.215.14", None),
        ("64:ff9b::a00:1", "a private address (IPv4 inside IPv6)"),
        ("not-an-ip", "an address that cannot be checked"),
    ],
    ids=lambda v: str(v),
)
def test_blocked_address_reason(address, reason):
    assert blocked_address_reason(address) == reason


# ---- helpers ----------------------------------------------------------------------------------------


class _fetcher:
    """``async with _fetcher(**kwargs) as f``: a fetcher for loopback tests, closed afterwards."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_private_networks", True)
        kwargs.setdefault("timeout_s", 10)
        self.fetcher = HttpFetcher(**kwargs)

    async def __aenter__(self) -> HttpFetcher:
        return self.fetcher

    async def __aexit__(self, *exc: object) -> None:
        await self.fetcher.close()


# ---- the FeedServer itself, on its own thread (as subprocess tests use it) --------------------------


def test_thread_backed_feed_server_serves_a_blocking_client(feed_server_thread):
    import urllib.error
    import urllib.request

    feed_server_thread.serve("/feed.xml", FEED, etag='"t1"')
    with urllib.request.urlopen(feed_server_thread.url("/feed.xml"), timeout=5) as resp:
        assert resp.read() == FEED
    conditional = urllib.request.Request(feed_server_thread.url("/feed.xml"), headers={"If-None-Match": '"t1"'})
    with pytest.raises(urllib.error.HTTPError) as answer:  # urllib reports 304 as an "error"
        urllib.request.urlopen(conditional, timeout=5)
    assert answer.value.code == 304
    assert feed_server_thread.hits("/feed.xml") == 2
