"""Synthetic inputs for ``wirewatch bench``: feeds, articles and watches, generated from a seed.

WHY synthetic and seeded: the figures must be reproducible from run to run and machine to machine
without shipping anyone's articles, and their shape must be close enough to real news that the costs are
the real ones. So:

* Feed items are ~150-word HTML descriptions (paragraphs, links, emphasis, entities, a typographic
  apostrophe), 30 per feed, RSS 2.0 and Atom mixed: 40-60 KB a feed, like a news outlet's feed.
* Article words come from a common news vocabulary; one or two *rare names* (invented organisations
  and people) and, in 30 % of the items, a place name are mixed in. Watches are built mostly from the
  rare names, so an entry matches a handful of watches, not thousands (which would measure the outbox,
  not matching). The names in items come from a population (``NAME_POPULATION``) ten times larger than
  the names watches use (``WATCHED_NAMES``, the first of them): news names far more people and
  organisations than any team watches. With every name watched, every item matched ~9 watches (median)
  and 37 at the 90th percentile, which no real stream does.
* Every text here is written by this module; nothing is copied from a real outlet.

Item fragments come from a fixed pool (``ItemPool``) so that a server can build any feed body with a
string join: a loopback server that spends its time generating text would measure itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html import escape

ITEMS_PER_FEED = 30
NEW_PER_GENERATION = 5  # a changed feed shows this many new items at the top
POOL_SIZE = 600
WATCHED_NAMES = 4_000  # the names watches are made of: the first of ``rare_names(NAME_POPULATION)``
NAME_POPULATION = 40_000  # the names items mention
EPOCH = datetime(2025, 1, 6, 6, 0, tzinfo=timezone.utc)

COMMON_WORDS = """
officials said the attack on city region overnight forces government minister report reports people
water power station bridge road rail village town area front line troops drone drones missile missiles
strike strikes shelling damage damaged residents evacuation aid border talks ceasefire week month
year statement spokesperson according police investigation court ruling budget energy prices market
election parliament vote council mayor hospital school children workers union strike protest
weather flood fire storm emergency services rescue teams repair crews equipment supply supplies
convoy checkpoint district settlement river bank bridgehead positions advance retreat counteroffensive
artillery air defence defense intercepted launched fired killed wounded injured missing civilians
officials confirmed denied claimed warned announced promised rejected accepted agreed signed plan
deal sanctions exports imports grain fuel gas oil pipeline port ships shipping cargo railway station
morning evening night afternoon later earlier today yesterday tomorrow local regional national
international european allies partners envoy delegation meeting summit visit agreement negotiations
military civilian infrastructure housing heating electricity outage outages restored repairs
""".split()

PLACES = (  # (query name with country, spellings a naive regex would list)
    ("Kupiansk,UA", ("Kupiansk", "Kupyansk", "Куп'янськ", "Купянск")),
    ("Izium,UA", ("Izium", "Izyum", "Ізюм", "Изюм")),
    ("Balakliia,UA", ("Balakliia", "Balakleya", "Балаклія", "Балаклея")),
    ("Kharkiv,UA", ("Kharkiv", "Kharkov", "Харків", "Харьков")),
    ("Sloviansk,UA", ("Sloviansk", "Slovyansk", "Слов'янськ", "Славянск")),
    ("Kramatorsk,UA", ("Kramatorsk", "Краматорськ", "Краматорск")),
    ("Pokrovsk,UA", ("Pokrovsk", "Покровськ", "Покровск")),
    ("Kherson,UA", ("Kherson", "Херсон")),
    ("Zaporizhzhia,UA", ("Zaporizhzhia", "Zaporozhye", "Запоріжжя", "Запорожье")),
    ("Odesa,UA", ("Odesa", "Odessa", "Одеса", "Одесса")),
    ("Mykolaiv,UA", ("Mykolaiv", "Nikolaev", "Миколаїв", "Николаев")),
    ("Sumy,UA", ("Sumy", "Суми", "Сумы")),
    ("Chernihiv,UA", ("Chernihiv", "Chernigov", "Чернігів", "Чернигов")),
    ("Dnipro,UA", ("Dnipro", "Дніпро", "Днепр")),
    ("Poltava,UA", ("Poltava", "Полтава")),
    ("Vovchansk,UA", ("Vovchansk", "Volchansk", "Вовчанськ", "Волчанск")),
    ("Lyman,UA", ("Lyman", "Liman", "Лиман")),
    ("Bakhmut,UA", ("Bakhmut", "Бахмут")),
    ("Belgorod,RU", ("Belgorod", "Белгород")),
    ("Kursk,RU", ("Kursk", "Курск")),
    ("Warsaw,PL", ("Warsaw", "Warszawa")),
    ("Vilnius,LT", ("Vilnius",)),
    ("Tbilisi,GE", ("Tbilisi",)),
    ("Chisinau,MD", ("Chisinau", "Chişinău")),
    ("Kyiv,UA", ("Kyiv", "Kiev", "Київ", "Киев")),
    ("Lviv,UA", ("Lviv", "Lvov", "Львів", "Львов")),
    ("Kostiantynivka,UA", ("Kostiantynivka", "Konstantinovka", "Костянтинівка", "Константиновка")),
    ("Toretsk,UA", ("Toretsk", "Торецьк", "Торецк")),
    ("Avdiivka,UA", ("Avdiivka", "Avdeyevka", "Авдіївка", "Авдеевка")),
    ("Vuhledar,UA", ("Vuhledar", "Ugledar", "Вугледар", "Угледар")),
    ("Siversk,UA", ("Siversk", "Сіверськ", "Северск")),
    ("Druzhkivka,UA", ("Druzhkivka", "Druzhkovka", "Дружківка", "Дружковка")),
    ("Orikhiv,UA", ("Orikhiv", "Orekhov", "Оріхів", "Орехов")),
    ("Nikopol,UA", ("Nikopol", "Нікополь", "Никополь")),
    ("Enerhodar,UA", ("Enerhodar", "Energodar", "Енергодар", "Энергодар")),
    ("Kryvyi Rih,UA", ("Kryvyi Rih", "Krivoy Rog", "Кривий Ріг", "Кривой Рог")),
    ("Kremenchuk,UA", ("Kremenchuk", "Kremenchug", "Кременчук", "Кременчуг")),
    ("Zhytomyr,UA", ("Zhytomyr", "Zhitomir", "Житомир")),
    ("Vinnytsia,UA", ("Vinnytsia", "Vinnitsa", "Вінниця", "Винница")),
    ("Rivne,UA", ("Rivne", "Rovno", "Рівне", "Ровно")),
    ("Lutsk,UA", ("Lutsk", "Луцьк", "Луцк")),
    ("Uzhhorod,UA", ("Uzhhorod", "Uzhgorod", "Ужгород")),
    ("Chernivtsi,UA", ("Chernivtsi", "Chernovtsy", "Чернівці", "Черновцы")),
    ("Ternopil,UA", ("Ternopil", "Ternopol", "Тернопіль", "Тернополь")),
    ("Cherkasy,UA", ("Cherkasy", "Cherkassy", "Черкаси", "Черкассы")),
    ("Izmail,UA", ("Izmail", "Ізмаїл", "Измаил")),
    ("Pavlohrad,UA", ("Pavlohrad", "Pavlograd", "Павлоград")),
    ("Lozova,UA", ("Lozova", "Lozovaya", "Лозова", "Лозовая")),
    ("Chuhuiv,UA", ("Chuhuiv", "Chuguev", "Чугуїв", "Чугуев")),
    ("Lysychansk,UA", ("Lysychansk", "Lisichansk", "Лисичанськ", "Лисичанск")),
    ("Melitopol,UA", ("Melitopol", "Мелітополь", "Мелитополь")),
    ("Berdiansk,UA", ("Berdiansk", "Berdyansk", "Бердянськ", "Бердянск")),
    ("Mariupol,UA", ("Mariupol", "Маріуполь", "Мариуполь")),
    ("Donetsk,UA", ("Donetsk", "Донецьк", "Донецк")),
    ("Luhansk,UA", ("Luhansk", "Lugansk", "Луганськ", "Луганск")),
    ("Horlivka,UA", ("Horlivka", "Gorlovka", "Горлівка", "Горловка")),
    ("Sevastopol,UA", ("Sevastopol", "Севастополь")),
    ("Kerch,UA", ("Kerch", "Керч", "Керчь")),
    ("Bryansk,RU", ("Bryansk", "Брянск")),
    ("Voronezh,RU", ("Voronezh", "Воронеж")),
    ("Taganrog,RU", ("Taganrog", "Таганрог")),
    ("Krasnodar,RU", ("Krasnodar", "Краснодар")),
    ("Novorossiysk,RU", ("Novorossiysk", "Новороссийск")),
    ("Moscow,RU", ("Moscow", "Moskva", "Москва")),
    ("Smolensk,RU", ("Smolensk", "Смоленск")),
    ("Saratov,RU", ("Saratov", "Саратов")),
    ("Minsk,BY", ("Minsk", "Мінск", "Минск")),
    ("Gomel,BY", ("Gomel", "Homel", "Гомель")),
    ("Rzeszow,PL", ("Rzeszow", "Rzeszów")),
    ("Krakow,PL", ("Krakow", "Kraków", "Cracow")),
    ("Riga,LV", ("Riga", "Rīga")),
    ("Tallinn,EE", ("Tallinn",)),
    ("Bucharest,RO", ("Bucharest", "București")),
    ("Budapest,HU", ("Budapest",)),
    ("Batumi,GE", ("Batumi",)),
    ("Yerevan,AM", ("Yerevan",)),
)
NEAR_PLACES = 18  # the first places of PLACES are front-line towns: where a near: watch makes sense

_ONSETS = "b br d dr f g gr k kl l m n p pr r s st t tr v z sh ch".split()
_VOWELS = "a e i o u ae io ei".split()
_CODAS = "n r l s x k t m nd rk st".split()


def rare_names(count: int, seed: int = 7) -> list[str]:
    """Invented proper names (``Varnexo``, ``Tolbrin``): the terms watches look for."""
    rng = random.Random(seed)
    out: dict[str, None] = {}
    while len(out) < count:
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.randint(1, 2)))
        word += rng.choice(_CODAS) + rng.choice(("", "a", "o", "ex", "ia", "on"))
        if len(word) >= 5:
            out[word.capitalize()] = None
    return list(out)


def _sentence(rng: random.Random, words: int, names: list[str]) -> str:
    toks = [rng.choice(COMMON_WORDS) for _ in range(words)]
    if names and rng.random() < 0.35:
        toks[rng.randrange(len(toks))] = rng.choice(names)
    if rng.random() < 0.25:
        toks[rng.randrange(len(toks))] = str(rng.randint(2, 480))
    text = " ".join(toks)
    return text[0].upper() + text[1:] + "."


@dataclass(frozen=True)
class ItemFragment:
    title: str
    html: str  # the description, HTML


class ItemPool:
    """A fixed pool of item texts; item ``k`` of feed ``i`` uses fragment ``(i * 7919 + k) % size``."""

    def __init__(self, size: int = POOL_SIZE, seed: int = 11, names: list[str] | None = None):
        rng = random.Random(seed)
        names = names if names is not None else rare_names(NAME_POPULATION)
        self.names = names
        self.fragments: list[ItemFragment] = []
        for n in range(size):
            picked = [rng.choice(names) for _ in range(rng.randint(1, 2))]
            place = rng.choice(PLACES)[1][0] if rng.random() < 0.3 else ""
            title_words = [rng.choice(COMMON_WORDS) for _ in range(rng.randint(6, 10))]
            title_words.insert(rng.randrange(len(title_words)), picked[0])
            if place:
                title_words.insert(rng.randrange(len(title_words)), place)
            title = " ".join(title_words)
            title = title[0].upper() + title[1:]
            paras = []
            for p in range(rng.randint(2, 3)):
                sents = [_sentence(rng, rng.randint(9, 18), picked) for _ in range(rng.randint(2, 4))]
                if p == 0:
                    sents.insert(1, f"\u201cThe situation is {rng.choice(('stable', 'difficult', 'tense'))},"
                                    f"\u201d said {rng.choice(names)}, a spokesperson for the regional council.")
                body = " ".join(escape(s, quote=False) for s in sents)
                if p == 1:
                    body += (f' <a href="https://news.example.org/story/{n}-{p}?utm_source=rss">More on '
                             f"{escape(picked[-1])}</a> &amp; <em>analysis</em> at O&#8217;Neill Street.")
                if place and p == 0:
                    body = f"<strong>{escape(place)}</strong> \u2014 " + body
                paras.append(f"<p>{body}</p>")
            self.fragments.append(ItemFragment(title, "\n".join(paras)))


def _rss_item(i: int, k: int, frag: ItemFragment, when: datetime) -> str:
    link = f"https://feed{i}.example.org/news/{k}-{frag.title[:24].lower().replace(' ', '-')}"
    return (
        f"<item><title>{escape(frag.title)}</title><link>{escape(link)}</link>"
        f'<guid isPermaLink="false">feed{i}-item{k}</guid>'
        f"<pubDate>{when.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
        f"<author>desk@feed{i}.example.org (News desk)</author>"
        f"<category>News</category><description><![CDATA[{frag.html}]]></description></item>\n"
    )


def _atom_entry(i: int, k: int, frag: ItemFragment, when: datetime) -> str:
    link = f"https://feed{i}.example.org/news/{k}"
    return (
        f"<entry><title>{escape(frag.title)}</title><link rel=\"alternate\" href=\"{escape(link)}\"/>"
        f"<id>tag:feed{i}.example.org,2025:{k}</id><updated>{when.strftime('%Y-%m-%dT%H:%M:%SZ')}</updated>"
        f"<author><name>News desk</name></author>"
        f"<summary type=\"html\">{escape(frag.html)}</summary></entry>\n"
    )


def feed_body(i: int, generation: int, pool: ItemPool, items: int = ITEMS_PER_FEED) -> bytes:
    """Feed ``i`` as it looks at ``generation``: the newest ``items`` items, ``NEW_PER_GENERATION``
    of them new since the generation before. Every third feed is Atom, the others RSS 2.0."""
    top = generation * NEW_PER_GENERATION + items
    ks = range(top - 1, top - 1 - items, -1)
    atom = i % 3 == 2
    parts = []
    for k in ks:
        frag = pool.fragments[(i * 7919 + k) % len(pool.fragments)]
        when = EPOCH + timedelta(minutes=7 * k + (i % 60))
        parts.append((_atom_entry if atom else _rss_item)(i, k, frag, when))
    if atom:
        head = (f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
                f"<title>Bench feed {i}</title><id>tag:feed{i}.example.org,2025:feed</id>"
                f'<link rel="alternate" href="https://feed{i}.example.org/"/>'
                f"<updated>{EPOCH.strftime('%Y-%m-%dT%H:%M:%SZ')}</updated>\n")
        return (head + "".join(parts) + "</feed>\n").encode()
    head = (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>Bench feed {i}</title><link>https://feed{i}.example.org/</link>"
            f"<description>Synthetic news feed {i} for wirewatch bench</description><language>en</language>\n")
    return (head + "".join(parts) + "</channel></rss>\n").encode()


# --------------------------------------------------------------------------------------------------
# Watches
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchSpec:
    """A generated watch: its query, and the words a naive per-watch regex would search for."""

    query: str
    terms: tuple[str, ...]
    kind: str  # "keywords", "phrase", "boolean", "place", "near", "regex"


def make_watches(count: int, names: list[str], *, places: bool, seed: int = 5) -> list[WatchSpec]:
    """``count`` mixed watches: keyword ORs, phrases, AND/NOT combinations, a few RE2 patterns and, when
    the gazetteer is loaded, 30 % place watches (issue 3's mix): ``place:`` alone, ``place:`` with topic
    words, and ``near:`` with a topic word (10 % each). The non-place kinds keep their shares of the
    rest."""
    rng = random.Random(seed)
    out: list[WatchSpec] = []
    topics = ("drone", "shelling", "evacuation", "strike", "power", "bridge", "water", "hospital")
    for n in range(count):
        roll = rng.random()
        if places and roll < 0.30:
            if roll < 0.10:
                q, spellings = rng.choice(PLACES)
                out.append(WatchSpec(f'place:"{q}"', spellings, "place"))
            elif roll < 0.20:
                q, spellings = rng.choice(PLACES)
                words = tuple(rng.sample(topics, rng.randint(1, 2)))
                out.append(WatchSpec(f'place:"{q}" AND ({" OR ".join(words)})', spellings + words, "place"))
            else:
                q, spellings = rng.choice(PLACES[:NEAR_PLACES])
                word = rng.choice(topics)
                out.append(WatchSpec(f'near:"{q}"~{rng.choice((10, 20, 30))}km AND {word}', spellings + (word,),
                                     "near"))
            continue
        if places:  # the rest of the mix, spread over the other 70 %
            roll = (roll - 0.30) / 0.70
        if roll < 0.01:
            name = rng.choice(names)
            out.append(WatchSpec(f"re:/{name[:4]}[a-z]+ex/i AND {name}", (name,), "regex"))
            continue
        if roll < 0.55:
            terms = tuple(rng.sample(names, rng.randint(1, 3)))
            out.append(WatchSpec(" OR ".join(terms), terms, "keywords"))
        elif roll < 0.75:
            a, b = rng.choice(names), rng.choice(COMMON_WORDS)
            out.append(WatchSpec(f'"{a} {b}" OR {rng.choice(names)}', (f"{a} {b}",), "phrase"))
        else:
            a, b, c = rng.choice(names), rng.choice(names), rng.choice(COMMON_WORDS)
            out.append(WatchSpec(f"({a} OR {b}) AND {c} AND NOT exercise", (a, b), "boolean"))
    return out


# --------------------------------------------------------------------------------------------------
# Articles (sourcing, stories)
# --------------------------------------------------------------------------------------------------

_ATTRIBUTIONS = (
    "{name}, a spokesperson for the regional administration, said in a statement on {day}.",
    "According to {outlet}, {n} people were moved from the area overnight.",
    "A senior official, speaking on condition of anonymity, said the repairs could take weeks.",
    "Officials told reporters the damage was being assessed.",
    "It is believed that the supply route was targeted, though this could not be independently verified.",
    "\u201cWe are doing everything we can to restore power,\u201d {name} told {outlet}.",
    "The ministry published a report on its website listing {n} damaged buildings.",
    "Residents said they heard several explosions before dawn.",
)


def article_text(rng: random.Random, words: int, names: list[str]) -> str:
    """About ``words`` words of news prose with attributions, quotes, hedges and numbers."""
    out: list[str] = []
    count = 0
    while count < words:
        if rng.random() < 0.3:
            s = rng.choice(_ATTRIBUTIONS).format(
                name=f"{rng.choice(names)} {rng.choice(names)}", outlet=rng.choice(("Look", "the Herald", "Ria")),
                day=rng.choice(("Monday", "Tuesday", "Friday")), n=rng.randint(3, 400))
        else:
            s = _sentence(rng, rng.randint(10, 22), names)
            if rng.random() < 0.1:
                s = "Reportedly, " + s[0].lower() + s[1:]
        out.append(s)
        count += len(s.split())
    return " ".join(out)
