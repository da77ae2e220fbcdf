"""Full text (WIREWATCH_FULL_TEXT): an alerted item whose feed carries only a summary is assessed on its article
page, fetched once through the same polite fetcher and kept in the store. Everything runs against the loopback
FeedServer; the feed items and the article page are written for these tests."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from xml.sax.saxutils import escape

import pytest

from bot.adapters.article_text import extract_page
from bot.adapters.http_fetcher import HttpFetcher
from bot.adapters.lexicons import load_lexicons
from bot.adapters.memory import MemoryStore
from bot.adapters.parse_pool import InlineParser
from bot.adapters.sql_store import open_store
from bot.app.bootstrap import build_app
from bot.app.settings import Settings
from bot.core.models import Delivery, SendResult
from bot.core.polling import PollPolicy
from bot.service import Service, ServiceConfig
from tests.feedserver import FeedServer

HTML = "text/html; charset=utf-8"
SUMMARY = "Families with children were ordered to leave villages near Kupiansk, officials said."
PAGE_BODY = [
    "KUPIANSK, Ukraine (Northern Wire) — Families with children were ordered on Monday to leave five villages "
    "east of the Oskil river near Kupiansk, the regional military administration said in a statement published "
    "on its website.",
    "\u201cWe are asking every family with children to leave within 48 hours, and buses are waiting at the "
    "school in Petropavlivka,\u201d Governor Oleh Syniehubov told reporters at a briefing in Kharkiv.",
    "The order, signed by the head of the Kupiansk district administration Andriy Kanashevych, covers "
    "Petropavlivka, Kurylivka, Pishchane, Kucherivka and Podoly, according to a copy of the decree.",
    "\u201cThe shelling has not stopped for three nights, and the school has no windows left,\u201d said "
    "Nadiya Hrytsenko, the head of the Petropavlivka village council, who spoke to a Northern Wire reporter "
    "at the bus stop on Monday morning.",
    "Police said in a separate statement that 212 people, among them 64 children, had been taken to Kharkiv "
    "by the evening, and that evacuation buses would run again on Tuesday and Wednesday from the same stop.",
    "Reporting by Olena Bondar; editing by Mark Ellison.",
]
ARTICLE_HTML = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>Families ordered out of five villages "
    "near Kupiansk</title><meta name=author content='Olena Bondar'></head><body><nav><a href='/'>Home</a> "
    "<a href='/world'>World</a></nav><main><article><h1>Families ordered out of five villages near Kupiansk"
    "</h1><p class=byline>By Olena Bondar</p>"
    + "".join(f"<p>{escape(p)}</p>" for p in PAGE_BODY)
    + "<p>Read the <a href='https://kharkivoda.gov.ua/orders/2025-47.pdf'>order</a>.</p>"
    "</article></main><footer>Subscribe to our newsletter. Cookie settings.</footer></body></html>"
).encode()


def rss(items: list[tuple[str, str, str]]) -> bytes:
    body = "".join(
        f"<item><title>{escape(t)}</title><link>{link}</link><guid>{link}</guid>"
        f"<description>{escape(text)}</description><pubDate>Mon, 10 Mar 2025 10:{i:02d}:00 +0000</pubDate></item>"
        for i, (t, link, text) in enumerate(items)
    )
    return f'<rss version="2.0"><channel><title>Test Wire</title>{body}</channel></rss>'.encode()


class Recorder:
    def __init__(self):
        self.sent: list[Delivery] = []

    async def send(self, delivery: Delivery) -> SendResult:
        self.sent.append(delivery)
        return SendResult.sent(message_ref=f"m{len(self.sent)}")


@pytest.fixture(scope="module")
def lexicons():
    return load_lexicons()


@pytest.fixture
async def fetcher():
    f = HttpFetcher(timeout_s=5, allow_private_networks=True, user_agent="wirewatch/test (+full-text)")
    yield f
    await f.close()


def make_service(store, fetcher, rec, lexicons, *, full_text=True, cap_s=20.0, clock=None):
    config = ServiceConfig(policy=PollPolicy(min_interval_s=1), full_text_cap_s=cap_s)
    return Service(store, fetcher, InlineParser(), {"console": rec}, config=config, rng=random.Random(1),
                   lexicons=lexicons, article_extractor=extract_page if full_text else None,
                   **({"clock": clock} if clock else {}))


async def setup(svc, server, feeds: dict[str, bytes]) -> None:
    for path, body in feeds.items():
        server.serve(path, body)
        await svc.add_feed(server.url(path), interval_s=60, baseline=False)
    await svc.add_watch("Kupiansk", "console")


async def test_short_item_is_assessed_on_its_page_read_once_and_kept(tmp_path, fetcher, lexicons):
    rec = Recorder()
    async with FeedServer() as server:
        page = server.url("/world/kupiansk-evacuation")
        server.serve("/world/kupiansk-evacuation", ARTICLE_HTML, HTML)
        store = await open_store(f"sqlite:///{tmp_path / 'ww.db'}")
        svc = make_service(store, fetcher, rec, lexicons)
        await setup(svc, server, {
            "/wire.xml": rss([("Families ordered out of villages near Kupiansk", page, SUMMARY),
                              ("Bakery reopens in Lviv", server.url("/world/lviv-bakery"), "A bakery reopened.")]),
        })
        await svc.poll_due_feeds(force=True)
        await svc.deliver_all()

        [alert] = rec.sent
        sourcing = alert.payload["sourcing"]
        assert "(summary only)" not in sourcing, sourcing
        assert alert.payload["grade"] == "strong", sourcing
        assert "named on-record" in sourcing
        # Read once, through the feeds' own fetcher (its user agent), and only for the alerted item.
        assert len(server.requests_to("/world/kupiansk-evacuation")) == 1
        assert server.requests_to("/world/kupiansk-evacuation")[0].headers["user-agent"] == "wirewatch/test (+full-text)"
        assert server.requests_to("/world/lviv-bakery") == [], "items that alert nobody are never fetched"

        # The text used is stored: the assessment can be reproduced from it.
        [kept] = (await store.article_texts([page])).values()
        assert kept.source == "page" and "Nadiya Hrytsenko" in kept.text and "Cookie settings" not in kept.text
        assert "https://kharkivoda.gov.ua/orders/2025-47.pdf" in kept.links

        # Another feed carrying the same article (a syndicated copy): no second fetch, the stored text is used.
        server.serve("/copy.xml", rss([("Families ordered out of villages near Kupiansk (copy)", page, SUMMARY)]))
        await svc.add_feed(server.url("/copy.xml"), interval_s=60, baseline=False)
        await svc.poll_due_feeds(force=True)
        assert len(server.requests_to("/world/kupiansk-evacuation")) == 1
        await store.close()


@pytest.mark.parametrize(
    "route, reason",
    [
        pytest.param("missing", "HTTP 404", id="page-404"),
        pytest.param("pdf", "not a web page", id="not-html"),
        pytest.param("empty", "no main text", id="page-without-article"),
    ],
)
async def test_a_page_that_cannot_be_read_leaves_the_summary_grade_and_is_not_asked_again(
    fetcher, lexicons, route, reason
):
    rec = Recorder()
    store = MemoryStore()
    async with FeedServer() as server:
        page = server.url(f"/a/{route}")
        if route == "missing":
            server.status("/a/missing", 404)
        elif route == "pdf":
            server.serve("/a/pdf", b"%PDF-1.4 not a page", "application/pdf")
        else:
            server.serve("/a/empty", b"<html><body><nav><a href='/'>Home</a></nav></body></html>", HTML)
        svc = make_service(store, fetcher, rec, lexicons)
        await setup(svc, server, {"/f.xml": rss([("Kupiansk villages told to leave", page, SUMMARY)])})
        await svc.poll_due_feeds(force=True)
        await svc.deliver_all()
        [alert] = rec.sent
        assert alert.payload["sourcing"].endswith("(summary only)")
        [kept] = (await store.article_texts([page])).values()
        assert kept.source.startswith("failed:") and reason in kept.source and not kept.usable

        # Another feed links the same article: it alerts (the same story), and the page is not asked again.
        server.serve("/g.xml", rss([("Kupiansk: families told to leave five villages", page, SUMMARY)]))
        await svc.add_feed(server.url("/g.xml"), interval_s=60, baseline=False)
        await svc.poll_due_feeds(force=True)
        assert len(server.requests_to(f"/a/{route}")) == 1, "a failed page is tried once, not at every poll"


async def test_the_time_cap_bounds_the_poll_and_the_alert_still_goes(fetcher, lexicons):
    """A page that trickles in slower than the cap: the poll ends at the cap, the alert is assessed on the
    summary, and the page is recorded as not read (so it is not asked for again)."""
    rec = Recorder()
    store = MemoryStore()
    async with FeedServer() as server:
        page = server.url("/slow/page")
        server.slow("/slow/page", bytes_per_second=200, body=ARTICLE_HTML)
        svc = make_service(store, fetcher, rec, lexicons, cap_s=0.3)
        await setup(svc, server, {"/f.xml": rss([("Kupiansk evacuation ordered", page, SUMMARY)])})
        report = await svc.poll_due_feeds(force=True)
        await svc.deliver_all()
    assert report.feeds[0].outcome == "modified" and report.feeds[0].alerts == 1
    [alert] = rec.sent
    assert "(summary only)" in alert.payload["sourcing"]
    [kept] = (await store.article_texts([page])).values()
    assert kept.source == "failed: time cap reached"


async def test_off_means_no_page_is_fetched(fetcher, lexicons):
    rec = Recorder()
    async with FeedServer() as server:
        page = server.url("/world/kupiansk-evacuation")
        server.serve("/world/kupiansk-evacuation", ARTICLE_HTML, HTML)
        svc = make_service(MemoryStore(), fetcher, rec, lexicons, full_text=False)
        await setup(svc, server, {"/f.xml": rss([("Families ordered out near Kupiansk", page, SUMMARY)])})
        await svc.poll_due_feeds(force=True)
        await svc.deliver_all()
        assert server.requests_to("/world/kupiansk-evacuation") == []
    assert "(summary only)" in rec.sent[0].payload["sourcing"]


async def test_a_long_feed_text_is_assessed_as_it_is(fetcher, lexicons):
    """An item whose feed carries the whole article (150 words or more) needs no page."""
    rec = Recorder()
    async with FeedServer() as server:
        page = server.url("/world/kupiansk-evacuation")
        server.serve("/world/kupiansk-evacuation", ARTICLE_HTML, HTML)
        svc = make_service(MemoryStore(), fetcher, rec, lexicons)
        await setup(svc, server, {"/f.xml": rss([("Families ordered out near Kupiansk", page, " ".join(PAGE_BODY))])})
        await svc.poll_due_feeds(force=True)
        await svc.deliver_all()
        assert server.requests_to("/world/kupiansk-evacuation") == []
    assert "(summary only)" not in rec.sent[0].payload["sourcing"]


@pytest.mark.parametrize("value, on", [("1", True), ("0", False), ("", False)], ids=["on", "off", "default"])
async def test_setting_wires_the_extractor(tmp_path, value, on):
    env = {"WIREWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'ww.db'}", "WIREWATCH_ENV_FILE": str(tmp_path / "none")}
    if value:
        env["WIREWATCH_FULL_TEXT"] = value
    settings = Settings.from_env(env)
    assert settings.full_text is on
    async with build_app(settings, isolated_parser=False) as app:
        assert (app.service._full_text is not None) is on
