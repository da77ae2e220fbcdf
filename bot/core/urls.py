"""Canonical URLs: one spelling per article, so that identity and story keys do not split on noise.

Publishers hand out the same article under many spellings: with ``utm_*`` or ``xtor`` tracking that
changes from one poll to the next (Qolors/FeedCord#67), with a ``#fragment``, with ``HTTP://Example.COM:80``,
relative to the feed. Every rule below removes one kind of noise and keeps everything that can change which
page a server returns (path, remaining query in its order, user info).
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

#: Query parameters that only tell the publisher where a click came from. They never change the page, and
#: they vary per campaign, per share and per poll, so keeping them would make one article many.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid",
        "li_fat_id", "igshid", "igsh", "xtor", "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi",
        "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id", "vero_conv", "wt.mc_id", "wt_mc_id",
        "__twitter_impression", "at_medium", "at_campaign", "at_custom1", "at_custom2", "at_custom3",
        "at_custom4", "cmpid", "ocid", "sr_share", "guccounter", "guce_referrer",
        "guce_referrer_sig", "spm", "ref_src", "s_cid", "ns_mchannel", "ns_source", "ns_campaign",
        "ns_linkname", "ns_fee", "rb_clickid", "soc_src", "soc_trk",
    }
)
#: Prefixes of tracking parameter families (Google Analytics ``utm_*``, Piwik/Matomo, HubSpot, Adobe).
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "__hs", "_branch", "icid_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters left as they are when re-quoting a path: the reserved set plus "%" so that existing escapes
# survive. Spaces and non-ASCII become %XX, so "a b" and "a%20b" are one URL.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_WRAP_RE = re.compile(r"\s*[\r\n]+\s*")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# The query keeps its encoding; only what cannot appear in a URL at all (space, non-ASCII) is quoted.
_QUERY_SAFE = _PATH_SAFE + "?/"
_SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def is_tracking_param(name: str) -> bool:
    """True for a query parameter that only records where a click came from (case-insensitive)."""
    key = unquote(name).strip().lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def _clean_query(query: str) -> str:
    """Drop tracking parameters; keep the others verbatim and in their order.

    Order and encoding are kept because some servers read them (``?id=1&id=2``); re-encoding could turn a
    ``+`` into ``%20`` and a different URL into the same one, or the same one into two."""
    kept = []
    for piece in query.split("&"):
        if not piece:
            continue
        name = piece.split("=", 1)[0]
        if not is_tracking_param(name):
            kept.append(piece)
    return "&".join(kept)


def _tracking_fragment(fragment: str) -> bool:
    """``#xtor=RSS-3`` or ``#utm_source=feed``: a fragment that is only tracking parameters."""
    pieces = [p for p in fragment.split("&") if p]
    return bool(pieces) and all("=" in p and is_tracking_param(p.split("=", 1)[0]) for p in pieces)


def canonical_url(url: str, base: str = "", *, keep_fragment: bool = False) -> str:
    """The one spelling of ``url`` that identity and story keys use; ``""`` when it is unusable.

    Rules, and why:

    - Resolved against ``base`` (the feed URL or ``xml:base``): feeds may give ``/2024/05/story``; an alert
      needs a link people can click, and two feeds' relative links must not look alike.
    - Only ``http`` and ``https`` with a host: ``javascript:``, ``data:`` and ``mailto:`` are not articles
      and must never be posted as links. Anything else, or nothing, gives ``""``.
    - Scheme and host lower-case, trailing dot of the host dropped: DNS is case-insensitive, so
      ``Example.COM`` and ``example.com`` are one site.
    - Default port dropped: ``:80`` on http and ``:443`` on https name the same server.
    - Empty path becomes ``/``: ``http://a.b`` and ``http://a.b/`` are the same request.
    - Path re-quoted (spaces and non-ASCII as UTF-8 ``%XX``, existing escapes kept): one spelling per path.
    - Fragment dropped: it never reaches the server, and publishers append ``#xtor=RSS-1`` or
      ``#comments`` to the same article. ``keep_fragment=True`` keeps a meaningful fragment (GUIDs such
      as ``page#item-2`` name different items) but still drops a tracking-only one.
    - Tracking parameters dropped (:data:`TRACKING_PARAMS`, :data:`TRACKING_PREFIXES`), the rest of the
      query kept verbatim and in order; an empty ``?`` is dropped.
    """
    if not isinstance(url, str):
        return ""
    url = url.strip()
    if not url:
        return ""
    # Feeds wrap long links over lines: a line break and the indentation around it are not part of the
    # URL. Other control characters never are. A plain space is kept (and quoted below), as browsers do.
    url = _CONTROL_RE.sub("", _WRAP_RE.sub("", url))
    if base and not _SCHEME_RE.match(url):
        try:
            url = urljoin(base.strip(), url)
        except ValueError:
            return ""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname or ""
    except ValueError:  # a malformed port or IPv6 literal
        return ""
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return ""
    host = host.rstrip(".")
    if not host:
        return ""
    if ":" in host:  # IPv6 literal: urlsplit strips the brackets
        host = f"[{host}]"
    netloc = host
    if parts.username is not None or parts.password is not None:
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{host}"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = quote(parts.path, safe=_PATH_SAFE) or "/"
    query = quote(_clean_query(parts.query), safe=_QUERY_SAFE)
    fragment = ""
    if keep_fragment and parts.fragment and not _tracking_fragment(parts.fragment):
        fragment = parts.fragment
    return urlunsplit((scheme, netloc, path, query, fragment))
