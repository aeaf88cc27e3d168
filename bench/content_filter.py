"""Throughput of the prohibited-content filter (governance.content), standalone.

    python bench/content_filter.py                  # 10,000 terms, 20,000 messages
    python -m bench.content_filter --terms 50000

Builds a filter from random terms (CJK 2-4 characters and Latin 4-10 letters,
fixed seed), then times ``ContentFilter.check`` over generated chat messages
(20-200 characters, mostly Chinese, some mixed and some English, with ASCII and
full-width punctuation and emoji; about 1% carry a term, some disguised), and
the same with an empty filter. Prints build time, messages/s and us/message.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from governance.content import ContentFilter, normalize  # noqa: E402

ZH_WORDS = (
    "今天 明天 晚上 下午 周末 我们 大家 一起 开会 吃饭 项目 进度 好的 没问题 谢谢 老师 同学 作业 "
    "孩子 学校 天气 下雨 出去 公园 电影 北京 上海 工作 客户 文件 发送 群里 通知 时间 地点 报名 活动 "
    "照片 视频 链接 价格 快递 到了 已经 还没 可以 需要 问题 解决 会议室 准备 材料 辛苦了 收到 "
    "麻烦 看一下 哈哈 真的 什么 怎么 为什么 这个 那个 因为 所以 但是 如果 觉得 知道 喜欢 "
    "會議 時間 謝謝 問題 這個 還沒 學校 電影 銀行 手机 电脑 地铁 公司 领导 同事 朋友 家长"
).split()
EN_WORDS = (
    "the a to and of is in it you that for on are with as this be at have from or by "
    "meeting tomorrow today tonight project deadline please thanks ok sure link file send "
    "check update review team lunch dinner weekend photo video price order delivery "
    "WeChat PPT PDF Excel API bug fix release version iPhone Android CEO HR"
).split()
ZH_PUNCT = ("，", "。", "！", "？", "、", "……", "～", "：")
EN_PUNCT = (",", ".", "!", "?", " ", " ", " ", ":", "...")
EMOJI = ("😂", "👍", "🙏", "😊", "🎉", "[微笑]", "[捂脸]")


def make_terms(n: int, rng: random.Random) -> list[str]:
    terms: set[str] = set()
    while len(terms) < n:
        if rng.random() < 0.7:
            t = "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(rng.randint(2, 4)))
        else:
            t = "".join(chr(rng.randint(97, 122)) for _ in range(rng.randint(4, 10)))
        terms.add(t)
    return sorted(terms)


def disguise(term: str, rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return term
    if kind == 1:  # spaces / zero-width between characters
        return rng.choice((" ", "\u200b", ".", "·")).join(term)
    if kind == 2:  # full-width / upper case
        return "".join(chr(ord(c) + 0xFEE0) if c.isascii() else c for c in term.upper())
    return "\u200d".join(term)


def make_message(rng: random.Random, terms: list[str], hit_rate: float) -> str:
    length = rng.randint(20, 200)
    style = rng.random()  # 60% Chinese, 25% mixed, 15% English
    parts: list[str] = []
    size = 0
    while size < length:
        r = rng.random()
        if style < 0.60:
            tok = rng.choice(ZH_WORDS) if r < 0.8 else rng.choice(ZH_PUNCT) if r < 0.97 else rng.choice(EMOJI)
        elif style < 0.85:
            tok = (
                rng.choice(ZH_WORDS) if r < 0.5
                else " " + rng.choice(EN_WORDS) + " " if r < 0.8
                else rng.choice(ZH_PUNCT + EN_PUNCT) if r < 0.97
                else rng.choice(EMOJI)
            )
        else:
            tok = rng.choice(EN_WORDS) + rng.choice(EN_PUNCT) if r < 0.95 else rng.choice(EMOJI)
            if r < 0.9:
                tok = tok if tok.endswith(" ") else tok + " "
        parts.append(tok)
        size += len(tok)
    text = "".join(parts)[:length]
    if rng.random() < hit_rate:
        at = rng.randint(0, len(text))
        text = text[:at] + disguise(rng.choice(terms), rng) + text[at:]
    return text


def time_per_message(fn, messages: list[str], repeat: int) -> float:
    """Median over ``repeat`` rounds of seconds per message."""
    rounds = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for m in messages:
            fn(m)
        rounds.append((time.perf_counter() - t0) / len(messages))
    return statistics.median(rounds)


def line(label: str, per_msg: float) -> str:
    return f"  {label:<34} {1 / per_msg:>12,.0f} msg/s  {per_msg * 1e6:>7.2f} us/msg"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--terms", type=int, default=10_000)
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--hit-rate", type=float, default=0.01)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=2017)
    args = ap.parse_args(argv)

    rng = random.Random(args.seed)
    terms = make_terms(args.terms, rng)
    messages = [make_message(rng, terms, args.hit_rate) for _ in range(args.messages)]
    normalize("預熱")  # load OpenCC outside the timings

    t0 = time.perf_counter()
    third = len(terms) // 3
    cf = ContentFilter(
        [
            ("pornography", "block", terms[:third]),
            ("rumour_fraud", "review", terms[third : 2 * third]),
            ("pyramid_gambling", "flag", terms[2 * third :]),
        ]
    )
    build = time.perf_counter() - t0
    empty = ContentFilter([])

    hits = sum(cf.check(m) is not None for m in messages)  # also warms the char table
    chars = sum(len(m) for m in messages)
    ascii_msgs = [m for m in messages if m.isascii()]
    cjk_msgs = [m for m in messages if not m.isascii()]

    print(f"python {sys.version.split()[0]}, {len(cf):,} terms, build {build * 1e3:.0f} ms")
    print(
        f"{len(messages):,} messages, mean {chars / len(messages):.0f} chars, "
        f"{len(ascii_msgs) / len(messages):.0%} pure ASCII, {hits / len(messages):.2%} matched"
    )
    print(line(f"check(), {len(cf):,} terms", time_per_message(cf.check, messages, args.repeat)))
    print(line("check(), empty filter", time_per_message(empty.check, messages, args.repeat)))
    print(line("normalize() only", time_per_message(normalize, messages, args.repeat)))
    if ascii_msgs:
        print(line("check(), pure-ASCII messages", time_per_message(cf.check, ascii_msgs, args.repeat)))
    if cjk_msgs:
        print(line("check(), messages with CJK", time_per_message(cf.check, cjk_msgs, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
