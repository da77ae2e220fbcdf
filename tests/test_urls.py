"""canonical_url: one row per rule, named after it."""

import pytest

from bot.core.urls import canonical_url, is_tracking_param

CASES = [
    # (url, base, expected)
    ("https://example.com/a/b?x=1", "", "https://example.com/a/b?x=1"),
    ("HTTPS://Example.COM/Path/Case", "", "https://example.com/Path/Case"),
    ("http://example.com:80/a", "", "http://example.com/a"),
    ("https://example.com:443/a", "", "https://example.com/a"),
    ("https://example.com:8443/a", "", "https://example.com:8443/a"),
    ("http://example.com:443/a", "", "http://example.com:443/a"),
    ("https://example.com", "", "https://example.com/"),
    ("https://example.com/a#section-2", "", "https://example.com/a"),
    ("https://example.com/a#xtor=RSS-3", "", "https://example.com/a"),
    ("https://example.com/a?utm_source=rss&utm_medium=feed", "", "https://example.com/a"),
    ("https://example.com/a?id=7&utm_source=rss&page=2", "", "https://example.com/a?id=7&page=2"),
    ("https://example.com/a?UTM_Campaign=x&b=1", "", "https://example.com/a?b=1"),
    ("https://example.com/a?fbclid=1&gclid=2&xtor=3&mc_cid=4&mc_eid=5&igshid=6&_ga=7&yclid=8", "",
     "https://example.com/a"),
    ("https://example.com/a?z=1&a=2&z=3", "", "https://example.com/a?z=1&a=2&z=3"),
    ("https://example.com/a?q=a+b&r=%20", "", "https://example.com/a?q=a+b&r=%20"),
    ("https://example.com/a?", "", "https://example.com/a"),
    ("https://example.com/a?&&x=1&", "", "https://example.com/a?x=1"),
    ("/2024/story", "https://feeds.example.com/x/feed.xml", "https://feeds.example.com/2024/story"),
    ("story.html", "https://feeds.example.com/x/feed.xml", "https://feeds.example.com/x/story.html"),
    ("../up", "https://feeds.example.com/x/y/feed.xml", "https://feeds.example.com/x/up"),
    ("//cdn.example.com/s", "https://feeds.example.com/feed", "https://cdn.example.com/s"),
    ("https://abs.example.org/s", "https://feeds.example.com/feed", "https://abs.example.org/s"),
    ("/relative/without/base", "", ""),
    ("", "https://example.com/", ""),
    ("   ", "", ""),
    ("javascript:alert(1)", "https://example.com/", ""),
    ("mailto:desk@example.com", "", ""),
    ("data:text/html,hi", "", ""),
    ("ftp://example.com/file", "", ""),
    ("https://", "", ""),
    ("https://example.com:99999/a", "", ""),
    ("http://[::1", "", ""),
    ("http://[2001:DB8::1]:80/a", "", "http://[2001:db8::1]/a"),
    ("https://example.com./a", "", "https://example.com/a"),
    ("  https://example.com/a\n ", "", "https://example.com/a"),
    ("https://example.com/a b", "", "https://example.com/a%20b"),
    ("https://example.com/a%20b", "", "https://example.com/a%20b"),
    ("https://example.com/статья", "", "https://example.com/%D1%81%D1%82%D0%B0%D1%82%D1%8C%D1%8F"),
    ("https://user:pw@Example.com/a", "", "https://user:pw@example.com/a"),
]
IDS = [
    "unchanged", "scheme-host-lowercase-path-kept", "http-default-port", "https-default-port",
    "other-port-kept", "443-on-http-kept", "empty-path-slash", "fragment-dropped", "tracking-fragment-dropped",
    "utm-only", "utm-between-kept-params", "tracking-name-case-insensitive", "all-named-trackers",
    "order-and-repeats-kept", "query-encoding-verbatim", "empty-query", "empty-pieces", "root-relative",
    "path-relative", "dot-dot", "protocol-relative", "absolute-ignores-base", "relative-no-base",
    "empty", "blank", "javascript", "mailto", "data", "ftp", "no-host", "bad-port", "bad-ipv6",
    "ipv6-lowercase-port", "host-trailing-dot", "surrounding-whitespace", "space-quoted",
    "escape-kept", "non-ascii-path", "userinfo-kept",
]


@pytest.mark.parametrize(("url", "base", "expected"), CASES, ids=IDS)
def test_canonical_url(url, base, expected):
    assert canonical_url(url, base) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/page#item-2", "https://example.com/page#item-2"),
        ("https://example.com/page#xtor=RSS-1", "https://example.com/page"),
        ("https://example.com/page?utm_source=x#item-2", "https://example.com/page#item-2"),
    ],
    ids=["meaningful-fragment", "tracking-fragment", "tracking-query-meaningful-fragment"],
)
def test_keep_fragment(url, expected):
    assert canonical_url(url, keep_fragment=True) == expected


def test_canonical_is_idempotent():
    for url, base, _ in CASES:
        once = canonical_url(url, base)
        assert canonical_url(once) == once


@pytest.mark.parametrize(
    ("name", "tracking"),
    [("utm_source", True), ("utm_anything_new", True), ("fbclid", True), ("XTOR", True), ("id", False),
     ("page", False), ("q", False), ("utmost", False)],
    ids=["utm", "utm-prefix", "fbclid", "case", "id", "page", "q", "not-a-prefix"],
)
def test_is_tracking_param(name, tracking):
    assert is_tracking_param(name) is tracking


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/very/\n      long/path", "https://example.com/very/long/path"),
        ("https://example.com/a?q=x y", "https://example.com/a?q=x%20y"),
        ("https://example.com/a?q=ü", "https://example.com/a?q=%C3%BC"),
        ("https://example.com/a\x00b", "https://example.com/ab"),
    ],
    ids=["wrapped-link", "space-in-query", "non-ascii-query", "nul-removed"],
)
def test_whitespace_and_controls(url, expected):
    assert canonical_url(url) == expected
