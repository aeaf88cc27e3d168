"""Loading the prohibited-content word lists (Art. 10) into a filter; reloading them on SIGHUP."""

from __future__ import annotations

import logging

from governance.content import ContentFilter, Verdict, load_terms
from server.config import Config, list_text
from server.metrics import METRICS

log = logging.getLogger("qunguan.content")


class CountingFilter(ContentFilter):
    """The filter, counting each text's verdict (its most severe match) for the metrics."""

    __slots__ = ()

    def check_normalized(self, norm: str) -> Verdict | None:
        verdict = super().check_normalized(norm)
        if verdict is not None:
            METRICS.filter_hit(verdict.category, verdict.action.value)
        return verdict


def build_filter(cfg: Config) -> ContentFilter:
    lists = []
    for wl in cfg.content.lists:
        terms = load_terms(list_text(wl.text, wl.path))
        lists.append((wl.category, wl.action, terms))
    flt = CountingFilter(lists)
    if flt.short_terms:
        log.warning("single-character terms match inside any text: %s", ", ".join(flt.short_terms[:10]))
    log.info("content filter: %d terms in %d lists", len(flt), len(cfg.content.lists))
    return flt
