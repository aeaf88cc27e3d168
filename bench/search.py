"""``python -m bench.search``: message search on one big group, through the Store.

Fills one group with generated chat (Chinese words drawn from 3,500 characters
by a Zipf law, English words, mixed case) directly through the Store's hot path
in big batches, then times ``search_messages`` for about 200 queries of 2, 3
and 4 characters: pieces of stored messages (hits) and strings that occur
nowhere (misses: characters and letters the generator never uses). Prints the
fill rate and the p50/p99 latency per query length and outcome, per backend.

    python -m bench.search                          # both backends, 1,000,000 messages
    python -m bench.search --backends sqlite --messages 200000
    python -m bench.search --postgres postgresql://postgres@127.0.0.1:5432/postgres

Each backend gets a throw-away database (SQLite in a temporary folder; PostgreSQL
``qunguan_bench_<pid>``, dropped at the end). A script, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import pgdb
from server.storage import changes as ch
from server.storage.base import MessageRow

GROUP = "100000001"
OWNER = "u1"
CHARS = [chr(c) for c in range(0x4E00, 0x4E00 + 3500)]  # the generator's Chinese characters
ABSENT_CHARS = [chr(c) for c in range(0x9E00, 0x9F00)]  # never generated: misses
ENGLISH = ("the of and to in is you that it was for on are as with they at be this have from or one had by"
           " word but not what all were we when your can said there use each which she do how their if will up"
           " other about out many then them these so some her would make like him into time has look two more"
           " write go see number way could people my than first water been call who its now find long down day"
           " did get come made may part hello world message group meeting tomorrow lunch photo").split()
ABSENT_LETTERS = "qzjx"  # in no English word above: letter strings of these are misses


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        order = CHARS[:]
        self.rng.shuffle(order)
        self.chars = order
        self.cum = list(itertools.accumulate(1.0 / (i + 1) ** 1.05 for i in range(len(order))))

    def message(self) -> str:
        rng = self.rng
        parts: list[str] = []
        for _ in range(rng.randint(2, 8)):
            if rng.random() < 0.35:
                word = rng.choice(ENGLISH)
                parts.append((word.capitalize() if rng.random() < 0.2 else word) + " ")
            else:
                parts.append("".join(rng.choices(self.chars, cum_weights=self.cum, k=rng.randint(2, 5))))
        return "".join(parts).strip()


def queries(gen: Generator, sample: list[str], n: int) -> list[str]:
    """About ``n`` queries: for each length 2, 3, 4, half pieces of stored texts, half misses."""
    rng = random.Random(5)
    out: list[str] = []
    per = max(1, n // 6)
    for length in (2, 3, 4):
        hits = 0
        while hits < per:
            text = rng.choice(sample)
            if len(text) < length:
                continue
            at = rng.randrange(len(text) - length + 1)
            piece = text[at:at + length]
            if piece.strip() == piece:
                out.append(piece)
                hits += 1
        for i in range(per):
            if i % 2:
                out.append("".join(rng.choice(ABSENT_CHARS) for _ in range(length)))
            else:  # a common character or two with letters that never occur
                out.append(rng.choice(gen.chars[:50]) + "".join(rng.choice(ABSENT_LETTERS) for _ in range(length - 1)))
    return out


async def fill(store: Any, gen: Generator, n: int, batch: int) -> tuple[float, list[str]]:
    """Append ``n`` messages in batches of ``batch`` (each queued at once: one commit); (seconds, a sample)."""
    await store.apply(ch.InsertUser(OWNER, "owner", "owner", "h", "Owner", b"p" * 32, b"e", 100, 1))
    await store.apply(ch.CreateGroup(GROUP, "big", "tech", "open", OWNER, 1))
    loop = asyncio.get_running_loop()
    sample: list[str] = []
    started = time.perf_counter()
    seq = 0
    while seq < n:
        futs = []
        for _ in range(min(batch, n - seq)):
            seq += 1
            text = gen.message()
            if seq % 997 == 0:
                sample.append(text)
            fut = loop.create_future()
            store.append_message(MessageRow(GROUP, seq, seq, OWNER, "owner", text, None, 0),
                                 lambda exc, fut=fut: fut.set_result(exc))
            futs.append(fut)
        failed = [e for e in await asyncio.gather(*futs) if e is not None]
        if failed:
            raise RuntimeError(f"{len(failed)} messages were not stored: {failed[0]!r}")
        if seq % (batch * 20) == 0:
            print(f"  {seq:,} messages", file=sys.stderr, flush=True)
    return time.perf_counter() - started, sample


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def measure(store: Any, qs: list[str], limit: int) -> list[tuple[str, int, float]]:
    """(query, results, seconds) for each query, after one search (warm caches)."""
    await store.search_messages(GROUP, 0, "warm up", None, limit)
    out = []
    for q in qs:
        t0 = time.perf_counter()
        rows = await store.search_messages(GROUP, 0, q, None, limit)
        out.append((q, len(rows), time.perf_counter() - t0))
    return out


def report(name: str, timings: list[tuple[str, int, float]]) -> None:
    print(f"\n{name}")
    print("| queries | n | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    rows: list[tuple[str, list[float]]] = []
    for length in (2, 3, 4):
        for hit in (True, False):
            ms = [t * 1000 for q, k, t in timings if len(q) == length and (k > 0) == hit]
            if ms:
                rows.append((f"{length} characters, {'hits' if hit else 'misses'}", ms))
    rows.append(("all", [t * 1000 for _, _, t in timings]))
    for label, ms in rows:
        print(f"| {label} | {len(ms)} | {statistics.median(ms):.2f} | {pct(ms, 0.99):.2f} | {max(ms):.2f} |")


async def run_backend(backend: str, args: argparse.Namespace) -> None:
    gen = Generator(1)
    pg_name = None
    tmp = None
    if backend == "sqlite":
        from server.storage.sqlite import SqliteStore

        tmp = tempfile.TemporaryDirectory(prefix="qunguan-search-")
        store: Any = SqliteStore(Path(tmp.name) / "search.db")
    else:
        from server.storage.postgres import PostgresStore

        pg_name, url = await pgdb.create(args.postgres)
        store = PostgresStore(url)
    try:
        await store.open()
        store.set_record_key(b"k" * 32)
        print(f"[{backend}] filling {args.messages:,} messages", file=sys.stderr, flush=True)
        fill_s, sample = await fill(store, gen, args.messages, args.batch)
        print(f"\n{backend}: {args.messages:,} messages filled in {fill_s:.1f} s"
              f" ({args.messages / fill_s:,.0f} messages/s)")
        qs = queries(gen, sample, args.queries)
        if backend == "sqlite":
            # The fill leaves up to sqlite.INDEX_BACKLOG_ROWS messages unindexed: searches read
            # them directly while the idle writer indexes them; then the same with none left.
            backlog = store.search_index_backlog()
            report(f"sqlite, {backlog:,} messages not yet indexed at the start (read directly)",
                   await measure(store, qs, args.limit))
            started = time.perf_counter()
            left = store.search_index_backlog()
            while store.search_index_backlog() > 0:
                await asyncio.sleep(0.05)
            took = time.perf_counter() - started
            print(f"\nthe idle writer indexed the last {left:,} messages in {took:.1f} s")
            report("sqlite, all indexed", await measure(store, qs, args.limit))
        else:
            # The index task copies the fill into message_search after the commits: searches meanwhile
            # read the unindexed messages directly. Then what autovacuum does on a live server, done
            # now rather than waited for: first the statistics only (the trigram index's pending list
            # still as the slices left it), then a VACUUM too (the pending list merged into the index).
            import asyncpg

            backlog = store.search_index_backlog()
            report(f"postgresql, {backlog:,} messages not yet indexed at the start (read directly)",
                   await measure(store, qs, args.limit))
            started = time.perf_counter()
            left = store.search_index_backlog()
            while store.search_index_backlog() > 0:
                await asyncio.sleep(0.05)
            print(f"\nthe index task indexed the last {left:,} messages in {time.perf_counter() - started:.1f} s")
            conn = await asyncpg.connect(url)
            try:
                await conn.execute("ANALYZE messages, message_search")
                report("postgresql, after ANALYZE", await measure(store, qs, args.limit))
                await conn.execute("VACUUM message_search")
                report("postgresql, after VACUUM", await measure(store, qs, args.limit))
            finally:
                await conn.close()
        await store.close()
    finally:
        if pg_name is not None:
            await pgdb.drop(args.postgres, pg_name)
        if tmp is not None:
            tmp.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--batch", type=int, default=10_000, help="messages queued per commit while filling")
    ap.add_argument("--limit", type=int, default=20, help="the search's limit (the op's default is 20)")
    ap.add_argument("--postgres", default=pgdb.DEFAULT_ADMIN_URL, help="a database URL on the PostgreSQL server")
    args = ap.parse_args()
    for backend in (b.strip() for b in args.backends.split(",") if b.strip()):
        if backend not in ("sqlite", "postgresql"):
            raise SystemExit(f"unknown backend {backend!r}")
        asyncio.run(run_backend(backend, args))


if __name__ == "__main__":
    main()
