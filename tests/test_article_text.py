"""Main-text extraction on HTML pages written for these tests, with the network switched off."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bot.adapters.article_text import extract_main_text, extract_page
from bot.adapters.lexicons import load_lexicons
from bot.core.sourcing import Article, assess

SAMPLES = Path(__file__).parent / "samples" / "articles"
URL = "https://daily.example/world/court-charges-commander"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Extraction must never reach out: any connection attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("extraction tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def page(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def test_main_text_keeps_the_article_and_drops_the_chrome():
    text = extract_main_text(page("page_full.html"), URL)
    assert "charged a Russian battalion commander in absentia" in text
    assert "Prosecutor General Andriy Kostin said" in text
    for chrome in ("cookies", "Ten recipes", "Transfer window", "All rights reserved", "Privacy"):
        assert chrome not in text


def test_page_metadata_and_outbound_links():
    p = extract_page(page("page_full.html"), URL)
    assert p.title.startswith("Court charges commander")
    assert p.author == "Maria Example"
    assert p.links == ("https://www.gp.gov.ua/ua/posts/indictment-kupiansk-school",)


EMPTY_ROWS = [
    ("login_form", "page_empty.html"),
    ("no_bytes", None),
]


@pytest.mark.parametrize("name", [r[1] for r in EMPTY_ROWS], ids=[r[0] for r in EMPTY_ROWS])
def test_pages_without_an_article_give_empty_text(name):
    assert extract_main_text(page(name) if name else b"", URL) == ""


def test_extracted_text_feeds_the_assessment():
    p = extract_page(page("page_full.html"), URL)
    a = assess(Article(title=p.title, text=p.text, url=URL, author=p.author, links=p.links, is_summary=False),
               load_lexicons())
    assert a.signals["links"]["primary"] == 1
    assert "Andriy Kostin" in a.signals["named_on_record"]
    assert a.grade in ("strong", "moderate")
