"""The ``wirewatch`` command line. Its surface is stable: scripts and checks rely on it (DESIGN.md).

Exit status: 0 on success, 2 on a usage error (the message says what is wrong and what to do),
1 on an unexpected failure (with a traceback in the log).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from bot import __version__
from bot.app.bootstrap import build_app, gazetteer
from bot.app.logs import setup_logging
from bot.app.settings import Settings
from bot.core.commands import format_duration, parse_duration, render_watch_test
from bot.core.errors import UsageError
from bot.core.models import Feed

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 too; keep its text but name the fix
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"wirewatch: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="wirewatch",
        description="Watch news feeds for places and topics; alert Slack, Discord, a terminal or a file.",
        epilog="Settings come from the environment (or .env); the README lists them all.",
    )
    p.add_argument("--version", action="version", version=f"wirewatch {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    sub.add_parser("demo", help="run the whole pipeline over the bundled demo feeds; alerts print here")
    s = sub.add_parser("run", help="run the bot: scheduler, polling, delivery (Ctrl-C stops it)")
    s.add_argument("--role", choices=("all", "poller", "sender", "chat"), default="all",
                   help="all (default, one machine); poller, sender or chat to scale them apart "
                        "(run exactly one chat or all process per bot token)")

    s = sub.add_parser("poll", help="poll due feeds once (or the named ones), deliver what is pending, exit")
    s.add_argument("ids", nargs="*", type=int, metavar="ID", help="feed IDs to poll now, due or not")
    s.add_argument("--force", action="store_true", help="poll every feed now, due or not")

    s = sub.add_parser("parse", help="print the normalised entries of one feed file or URL")
    s.add_argument("source", metavar="FILE|URL")
    s.add_argument("--json", action="store_true", help="one JSON document instead of text")

    s = sub.add_parser("match", help="does QUERY match the article on stdin (JSON {title,text} or text)?")
    s.add_argument("query")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("assess", help="how the article on stdin (JSON {title,text,...} or text) is sourced")
    s.add_argument("--json", action="store_true", help="one JSON object: grade, score, reasons, signals")

    feed = sub.add_parser("feed", help="add, list or remove feeds").add_subparsers(
        dest="action", metavar="ACTION", parser_class=_Parser)
    feed.required = True
    s = feed.add_parser("add", help="add a feed (its first poll is a silent baseline)")
    s.add_argument("url")
    s.add_argument("--interval", default=None, help="poll interval, e.g. 10m (default WIREWATCH_DEFAULT_INTERVAL)")
    s.add_argument("--no-baseline", action="store_true", help="alert on the items already in the feed too")
    s = feed.add_parser("list", help="the feeds and their health")
    s.add_argument("--json", action="store_true")
    s = feed.add_parser("remove", help="remove a feed and its stored items")
    s.add_argument("id", type=int)

    watch = sub.add_parser("watch", help="add, list or remove watches").add_subparsers(
        dest="action", metavar="ACTION", parser_class=_Parser)
    watch.required = True
    s = watch.add_parser("add", help="watch QUERY and alert DESTINATION")
    s.add_argument("query")
    s.add_argument("--to", required=True, metavar="DESTINATION",
                   help="console, jsonl:PATH, slack:CHANNEL_ID, discord:CHANNEL_ID, webhook:NAME, ...")
    s = watch.add_parser("test", help="how many stored items of the last days QUERY would have matched")
    s.add_argument("query")
    s.add_argument("--days", type=int, default=None, metavar="N", help="look back N days (default 7)")
    s.add_argument("--json", action="store_true")
    s = watch.add_parser("list", help="the watches")
    s.add_argument("--json", action="store_true")
    s = watch.add_parser("remove", help="remove a watch")
    s.add_argument("id", type=int)

    digest = sub.add_parser("digest", help="the daily digest").add_subparsers(
        dest="action", metavar="ACTION", parser_class=_Parser)
    digest.required = True
    s = digest.add_parser("now", help="post today's digest to DESTINATION now (once per local day)")
    s.add_argument("--to", required=True, metavar="DESTINATION", help="console, jsonl:PATH, slack:CHANNEL_ID, ...")

    s = sub.add_parser("import-opml", help="add every feed of an OPML file (as baselines)")
    s.add_argument("file")
    s.add_argument("--interval", default=None)
    sub.add_parser("export-opml", help="print the feeds as OPML")

    s = sub.add_parser("bench", help="measure the performance figures of BENCHMARKS.md here and now")
    s.add_argument("--json", action="store_true", help="one JSON document with every figure")
    s.add_argument("--quick", action="store_true", help="small inputs, under a minute (CI)")
    s.add_argument("--corpus", metavar="DIR", help="feed files to use for the parsing figures")
    s.add_argument("--only", metavar="NAMES", help="measure only these figures, comma-separated "
                   "(e.g. match,assess; names as in BENCHMARKS.md)")

    dc = sub.add_parser("discord", help="register the Discord commands, or print the invite URL").add_subparsers(
        dest="action", metavar="ACTION", parser_class=_Parser)
    dc.required = True
    s = dc.add_parser("sync", help="register the slash commands with Discord (after an install or upgrade)")
    s.add_argument("--guild", type=int, metavar="ID",
                   help="only in this server, at once (without it: globally, which Discord may take a while to show)")
    dc.add_parser("invite", help="print the URL that adds the bot to a server with the permissions it needs")

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="action", metavar="ACTION",
                                                                          parser_class=_Parser)
    db.required = True
    db.add_parser("upgrade", help="migrate the database to the current schema")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        setup_logging(settings, quiet=args.command not in ("run",))
        handler = _HANDLERS[args.command]
        return asyncio.run(handler(args, settings)) or 0
    except UsageError as exc:
        print(f"wirewatch: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


# ------------------------------------------------------------------------------------------------------
# Handlers: parse -> service -> render
# ------------------------------------------------------------------------------------------------------


async def cmd_run(args, settings: Settings) -> int:
    from bot.app.roles import run

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run(settings, getattr(args, "role", "all"), stop)
    return 0


async def cmd_poll(args, settings: Settings) -> int:
    async with build_app(settings) as app:
        report = await app.service.poll_due_feeds(feed_ids=args.ids or None, force=args.force)
        for f in report.feeds:
            detail = f" ({f.error})" if f.error else ""
            print(f"feed {f.feed_id}: {f.outcome}, {f.new_entries} new, {f.alerts} alerts{detail}  {f.url}")
        if not report.feeds:
            print("no feed is due (use --force or name feed IDs to poll anyway)")
        delivered = await app.service.deliver_all()
        print(f"delivered {delivered.sent}, retrying {delivered.retried}, dead-lettered {delivered.dead}")
    return 0


async def cmd_parse(args, settings: Settings) -> int:
    from bot.adapters.parse_pool import InlineParser

    source = args.source
    if source.startswith(("http://", "https://")):
        from bot.adapters.http_fetcher import HttpFetcher
        from bot.app.bootstrap import user_agent
        from bot.core.models import FetchOutcome

        fetcher = HttpFetcher(timeout_s=settings.fetch_timeout_s, max_body_bytes=settings.max_body_bytes,
                              allow_private_networks=settings.allow_private_networks,
                              user_agent=user_agent(settings))
        try:
            result = await fetcher.fetch(source)
        finally:
            await fetcher.close()
        if result.outcome is not FetchOutcome.MODIFIED:
            raise UsageError(f"could not fetch {source}: {result.error or result.outcome.value}")
        body, headers, url = result.body, result.headers, result.final_url or source
    else:
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"{source!r} is neither a file nor an http(s) URL")
        body, headers, url = path.read_bytes(), {}, path.resolve().as_uri()
    parsed = await InlineParser().parse(body, headers, url, 0)
    if args.json:
        print(json.dumps(_parsed_json(parsed), ensure_ascii=False, indent=2))
        return 0
    if not parsed.is_feed:
        raise UsageError(f"{source}: {parsed.problem}")
    print(f"{parsed.title or '(untitled feed)'}: {len(parsed.entries)} entries"
          + (f" ({parsed.problem})" if parsed.problem else ""))
    for e in parsed.entries:
        print(f"- {e.title}\n  {e.url or '(no link)'}\n  {_when(e.published, settings)}  id {e.identity[:16]}")
    return 0


def _parsed_json(parsed) -> dict:
    return {
        "is_feed": parsed.is_feed, "title": parsed.title, "link": parsed.link, "language": parsed.language,
        "ttl_s": parsed.ttl_s, "problem": parsed.problem, "alternates": list(parsed.alternates),
        "entries": [
            {"identity": e.identity, "guid": e.guid, "title": e.title, "url": e.url, "summary": e.summary,
             "author": e.author, "language": e.language, "story_key": e.story_key,
             "published": e.published.isoformat() if e.published else None}
            for e in parsed.entries
        ],
    }


async def cmd_match(args, settings: Settings) -> int:
    from bot.core.matching import match_query
    from bot.core.query import parse as parse_query

    query = parse_query(args.query)
    title, text = read_article(sys.stdin.read())
    # The gazetteer is opened (and built, the first time) only if the query has place: or near:.
    matched, hits = match_query(query, title, text, places=gazetteer(settings))
    if args.json:
        print(json.dumps({"matched": matched, "query": str(query), "hits": [
            {"term": h.term, "field": h.field, "start": h.start, "end": h.end, "text": h.matched_text,
             "place": h.place} for h in hits]}, ensure_ascii=False))
        return 0
    print(("MATCH" if matched else "no match") + f": {query}")
    for h in hits:
        print(f"  {h.term!r} matched {h.matched_text!r} in {h.field} at {h.start}-{h.end}"
              + (f" ({h.place})" if h.place else ""))
    return 0


def read_article(raw: str) -> tuple[str, str]:
    """An article on stdin: a JSON object with title and text (or summary), or plain text."""
    fields = read_article_fields(raw)
    return fields["title"], fields["text"]


ARTICLE_FIELDS = ("title", "text", "url", "outlet", "published", "author")


def read_article_fields(raw: str) -> dict[str, str]:
    """Every field of an article on stdin, as strings ("" when absent): a JSON object with ``title``
    and ``text`` (or ``summary``) and optionally ``url``, ``outlet``, ``published``, ``author``; or
    plain text, whose first line is the title."""
    stripped = raw.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise UsageError(f"stdin looks like JSON but does not parse: {exc}") from None
        if not isinstance(data, dict):
            raise UsageError("stdin JSON must be an object with title and text")
        fields = {k: data.get(k) for k in ARTICLE_FIELDS}
        fields["text"] = data.get("text") or data.get("summary")
        for k, v in fields.items():
            if v is not None and not isinstance(v, str):
                raise UsageError(f"stdin JSON field {k!r} must be a string, got {type(v).__name__}")
        return {k: (v or "") for k, v in fields.items()}
    if not stripped:
        raise UsageError("nothing on stdin: pipe in an article as JSON {\"title\": ..., \"text\": ...} or text")
    first, _, rest = stripped.partition("\n")
    return {**dict.fromkeys(ARTICLE_FIELDS, ""), "title": first.strip(), "text": rest.strip()}


def _read_stdin() -> str:
    """stdin as UTF-8 text; bytes that are not UTF-8 are a usage error, not a traceback."""
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"stdin is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


async def cmd_assess(args, settings: Settings) -> int:
    """``wirewatch assess``: the sourcing assessment of one article, as an alert would carry it. It
    describes sourcing as presented in the text, not whether the claims are true."""
    from bot.adapters.lexicons import load_lexicons
    from bot.core.sourcing import Article, assess

    fields = read_article_fields(_read_stdin())
    if not (fields["title"] or fields["text"]):
        raise UsageError("the article has neither a title nor a text: give JSON {\"title\": ..., \"text\": ...}")
    published = None
    if fields["published"]:
        try:
            published = datetime.fromisoformat(fields["published"].replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"published {fields['published']!r} is not an ISO 8601 date "
                             "(e.g. 2025-03-10T12:00:00Z)") from None
    article = Article(title=fields["title"], text=fields["text"], url=fields["url"], outlet=fields["outlet"],
                      published=published, author=fields["author"])
    result = assess(article, load_lexicons())
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return 0
    print(result.reasons)
    print(f"grade {result.grade}, score {result.score}/100 (how the text presents its sourcing; not a verdict "
          "on whether it is true)")
    for rule in result.signals.get("points", ()):
        if rule["points"] or rule["reason"]:
            print(f"  {rule['points']:+5g}  {rule['reason']}")
    return 0


async def cmd_feed(args, settings: Settings) -> int:
    async with build_app(settings, isolated_parser=False) as app:
        svc = app.service
        if args.action == "add":
            interval = parse_duration(args.interval, what="--interval") if args.interval else None
            feed, created = await svc.add_feed(args.url, interval_s=interval, baseline=not args.no_baseline)
            if created:
                mode = "alerting on its current items too" if args.no_baseline else (
                    "its first poll stores what is there without alerting")
                print(f"added feed {feed.id}: {feed.url} every {format_duration(feed.interval_s)}; {mode}")
            else:
                print(f"feed {feed.id} already watches {feed.url}; nothing changed")
        elif args.action == "list":
            feeds = await svc.store.list_feeds()
            if args.json:
                print(json.dumps([_feed_json(f, _now()) for f in feeds], ensure_ascii=False, indent=2))
            else:
                print(render_feed_list(feeds, settings, _now()))
        elif args.action == "remove":
            await svc.remove_feed(args.id)
            print(f"removed feed {args.id} and its stored items")
    return 0


def _feed_json(f: Feed, now: datetime) -> dict:
    return {
        "id": f.id, "url": f.url, "title": f.title, "status": f.status.value, "interval_s": f.interval_s,
        "last_success_at": _iso(f.last_success_at), "last_polled_at": _iso(f.last_polled_at),
        "next_poll_at": _iso(f.next_poll_at), "last_error": f.last_error,
        "consecutive_failures": f.consecutive_failures, "items_per_day": items_per_day(f, now),
        "baseline_pending": f.baseline_pending,
    }


def items_per_day(feed: Feed, now: datetime) -> float:
    if not feed.created_at:
        return 0.0
    days = max((now - feed.created_at).total_seconds() / 86400, 1.0)
    return round(feed.entries_seen / days, 1)


def render_feed_list(feeds: Sequence[Feed], settings: Settings, now: datetime) -> str:
    if not feeds:
        return "no feeds yet: add one with `wirewatch feed add URL` or `wirewatch import-opml FILE`"
    lines = []
    for f in feeds:
        lines.append(f"#{f.id} [{f.status.value}] {f.title or f.url}")
        lines.append(f"    {f.url}")
        lines.append(
            f"    every {format_duration(f.interval_s)} · last success {_when(f.last_success_at, settings)}"
            f" · next poll {_when(f.next_poll_at, settings)} · {items_per_day(f, now)} items/day"
        )
        if f.last_error:
            lines.append(f"    last error: {f.last_error}"
                         + (f" ({f.consecutive_failures} failures in a row)" if f.consecutive_failures > 1 else ""))
    return "\n".join(lines)


async def cmd_watch(args, settings: Settings) -> int:
    async with build_app(settings, isolated_parser=False) as app:
        svc = app.service
        if args.action == "add":
            watch = await svc.add_watch(args.query, _absolute_destination(args.to), created_by="cli")
            print(f"added watch {watch.id}: {watch.query} → {watch.destination}")
            warning = await svc.breadth_warning(watch.query)
            if warning:
                print(f"wirewatch: {warning.replace('`', '')}", file=sys.stderr)
        elif args.action == "test":
            if args.days is not None and args.days < 1:
                raise UsageError("--days must be at least 1")
            days = args.days or svc.config.watch_test_days
            found, scanned = await svc.test_watch(args.query, days=days)
            if args.json:
                print(json.dumps({"query": args.query, "days": days, "scanned": scanned, "matched": len(found),
                                  "examples": [{"title": e.title, "url": e.url, "published": _iso(e.published)}
                                               for e in found[:5]]}, ensure_ascii=False))
            else:
                print(render_watch_test(args.query, found, scanned, days).text.replace("`", ""))
        elif args.action == "list":
            watches = await svc.store.list_watches()
            if args.json:
                print(json.dumps([{"id": w.id, "query": w.query, "destination": w.destination,
                                   "created_at": _iso(w.created_at)} for w in watches], ensure_ascii=False))
            elif not watches:
                print("no watches yet: add one with `wirewatch watch add QUERY --to console`")
            else:
                for w in watches:
                    print(f"#{w.id} {w.query} → {w.destination}")
        elif args.action == "remove":
            await svc.remove_watch(args.id)
            print(f"removed watch {args.id}")
    return 0


def _absolute_destination(text: str) -> str:
    """A jsonl path is stored absolute: the bot may run from another directory than the CLI."""
    kind, sep, target = text.partition(":")
    if kind.strip().lower() == "jsonl" and sep and target:
        return f"jsonl:{Path(target).expanduser().resolve()}"
    return text


async def cmd_digest(args, settings: Settings) -> int:
    """``wirewatch digest now --to DESTINATION``: the same as ``/digest now`` there (one digest per local
    day: a second run the same day sends nothing and says so), then deliver what is pending."""
    from bot.core.destinations import parse_destination
    from bot.core.digests import render_digest_now

    destination = str(parse_destination(_absolute_destination(args.to)))
    async with build_app(settings, isolated_parser=False) as app:
        outcome = await app.service.digest_now(destination)
        if outcome.digest is None:
            print(render_digest_now(outcome, _now()).replace("`", ""))
            return 0
        delivered = await app.service.deliver_all()
        print(f"digest for {outcome.digest.local_date} queued to {destination}: {outcome.digest.total} stories "
              f"in {len(outcome.digest.groups)} groups; delivered {delivered.sent}, retrying {delivered.retried}")
    return 0


async def cmd_discord(args, settings: Settings) -> int:
    """``discord sync`` is explicit, not done at every start: Discord's command endpoints have tight
    limits, and a bulk overwrite is only needed when the commands change."""
    if not settings.discord_bot_token:
        raise UsageError("DISCORD_BOT_TOKEN is not set: create the bot first (README, section Discord)")
    async with build_app(settings, isolated_parser=False) as app:
        assert app.discord is not None
        if args.action == "invite":
            print(await app.discord.invite_url())
            return 0
        names = await app.discord.sync(args.guild)
        where = f"in server {args.guild}" if args.guild else "globally (may take a while to appear)"
        print(f"registered {len(names)} commands {where}: " + ", ".join(f"/{n}" for n in sorted(names)))
    return 0


async def cmd_import_opml(args, settings: Settings) -> int:
    from bot.core.opml import parse_opml

    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{args.file!r} is not a file: give the path of an OPML export")
    items = parse_opml(path.read_bytes())
    interval = parse_duration(args.interval, what="--interval") if args.interval else None
    added = 0
    async with build_app(settings, isolated_parser=False) as app:
        for n, item in enumerate(items, 1):
            try:
                _, created = await app.service.add_feed(
                    item.url, interval_s=interval, baseline=True, title=item.title,
                    outlet=item.outlet, language=item.language)
            except UsageError as exc:
                print(f"  skipped {item.url}: {exc}", file=sys.stderr)
                continue
            added += created
            print(f"\r[{n}/{len(items)}] {'added' if created else 'known'}: {item.title or item.url}"[:100].ljust(100),
                  end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    print(f"imported {len(items)} feeds from {path.name}: {added} new, {len(items) - added} already present")
    return 0


async def cmd_export_opml(args, settings: Settings) -> int:
    from bot.core.opml import OpmlFeed, render_opml

    async with build_app(settings, isolated_parser=False) as app:
        feeds = await app.service.store.list_feeds()
    items = [OpmlFeed(url=f.url, title=f.title or f.url, outlet=f.outlet, language=f.language) for f in feeds]
    sys.stdout.write(render_opml(items, title="wirewatch feeds", now=_now()).decode("utf-8"))
    return 0


async def cmd_db(args, settings: Settings) -> int:
    from bot.adapters.sql_store import upgrade

    await upgrade(settings.database_url)
    print("database is at the current schema")
    return 0


async def cmd_bench(args, settings: Settings) -> int:
    from bot.app.bench import run_bench

    return await run_bench(args, settings)


async def cmd_demo(args, settings: Settings) -> int:
    from bot.app.demo import run_demo

    return await run_demo(settings)


_HANDLERS = {
    "run": cmd_run, "poll": cmd_poll, "parse": cmd_parse, "match": cmd_match, "assess": cmd_assess, "feed": cmd_feed,
    "watch": cmd_watch, "import-opml": cmd_import_opml, "export-opml": cmd_export_opml, "db": cmd_db,
    "demo": cmd_demo, "bench": cmd_bench, "discord": cmd_discord, "digest": cmd_digest,
}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _when(when: datetime | None, settings: Settings) -> str:
    from bot.adapters.console import format_time

    return format_time(when, settings.zone) if when else "never"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
