"""Pages kept for the next test, so that a browser test does not start a renderer for each page.

Measured on 2026-12-07: Chromium spent about half the whole suite's CPU, and most of it on each new
page's start (a new browser context starts a new renderer process, about 0.9 s of CPU, before the web
client has loaded). A page of a context that ended its test clean is given back here instead of
closed, and the next test's :func:`tests.web.browser.new_page` with the same settings takes it: its
renderer goes on, and a register-and-chat cycle costs about half as much.

Nothing of one test reaches the next:

- every test's server listens on a port of its own, and a browser keeps a site's storage per origin
  (scheme, host and port): a page at the next server starts with none of the last one's storage. A
  later server may get a port an earlier one had: so the storage of every origin a page was at is
  cleared when it is given back, and the new origin's when it is taken (``Storage.clearDataForOrigin``);
  cookies are cleared too (a host's cookies are shared by its ports);
- a page given back goes to ``about:blank`` first: its scripts, timers and connections end there;
- a context is given back only if the test changed nothing of it but what the page loads: one page
  in it (the one :func:`new_page` made), and none of the calls that change a page or context beyond
  that (init scripts, routes, listeners, permissions, going offline, the clock, the viewport...);
  :func:`track_changes` marks those, and a marked context is closed, as every context was before.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlsplit

# The calls after which a page or context is not given back: what they change outlives a navigation.
_CHANGING = (
    "add_init_script", "add_locator_handler", "route", "route_from_har", "route_web_socket",
    "expose_binding", "expose_function", "emulate_media", "set_extra_http_headers", "set_viewport_size",
    "set_default_timeout", "set_default_navigation_timeout", "on", "once", "set_offline",
    "grant_permissions", "set_geolocation", "add_cookies", "new_page", "set_http_credentials",
    "expect_popup", "new_cdp_session",
)
MAX_IDLE = 6  # contexts kept per setting; more are closed (no test uses more pages at once)


def track_changes() -> None:
    """Wrap the changing calls of Playwright's (sync) Page and BrowserContext to mark their context;
    the ``clock`` property too. Once per process."""
    from playwright.sync_api import BrowserContext, Page

    if getattr(Page, "_qg_tracked", False):
        return
    for cls in (Page, BrowserContext):
        for name in _CHANGING:
            if hasattr(cls, name):
                setattr(cls, name, _marking(getattr(cls, name)))
        clock = cls.clock
        cls.clock = property(lambda self, _get=clock.fget: (_mark(self), _get(self))[1])
    Page._qg_tracked = True


def _marking(method: Any) -> Any:
    @functools.wraps(method)
    def marked(self: Any, *args: Any, **kwargs: Any) -> Any:
        _mark(self)
        return method(self, *args, **kwargs)
    return marked


def _mark(obj: Any) -> None:
    ctx = obj.context if hasattr(obj, "main_frame") else obj  # (a Page, or a BrowserContext)
    if not getattr(ctx, "_qg_setting_up", False):
        ctx._qg_changed = True


class PagePool:
    """The pages given back, by their settings (viewport, language, touch)."""

    def __init__(self) -> None:
        self.idle: dict[tuple[Any, ...], list[Any]] = {}

    def take(self, key: tuple[Any, ...], make_context: Any, prepare: Any, origin: str) -> Any:
        """A page with these settings, at ``about:blank`` with no storage for ``origin``: given back
        by an earlier test, or a new one in a new context (``make_context()``), ``prepare(page)``
        called on it (what it does to the page is not a test's change)."""
        kept = self.idle.get(key)
        if kept:
            page = kept.pop()
            page.context._qg_idle = False
        else:
            ctx = make_context()
            ctx._qg_setting_up = True
            page = ctx.new_page()
            page._qg_cdp = ctx.new_cdp_session(page)
            page._qg_origins = set()
            page.on("framenavigated", lambda frame, p=page: p._qg_origins.add(_origin(frame.url)))
            prepare(page)
            ctx._qg_setting_up = False
            ctx._qg_key = key
            ctx._qg_page = page
        _clear(page, origin)
        return page

    def give_back_or_close(self, browser: Any) -> None:
        """At a test's end: each context the pool may keep goes back to it, the others are closed."""
        for ctx in list(browser.contexts):
            if getattr(ctx, "_qg_idle", False):
                continue  # (kept already, from an earlier test)
            page = getattr(ctx, "_qg_page", None)  # (set, with _qg_key, on the contexts the pool made)
            kept = self.idle.setdefault(ctx._qg_key, []) if page is not None else []
            if (page is None or getattr(ctx, "_qg_changed", False) or ctx.pages != [page]
                    or len(kept) >= MAX_IDLE or not self._reset(page)):
                ctx.close()
            else:
                ctx._qg_idle = True
                kept.append(page)

    @staticmethod
    def _reset(page: Any) -> bool:
        """The page at ``about:blank`` with nothing kept of the sites it was at; False if that failed."""
        try:
            # Navigated by the page itself, not page.goto: the server's pages are sent with
            # Cross-Origin-Opener-Policy: same-origin, and a browser-initiated about:blank (no COOP)
            # swapped the page into a new renderer process, and the next test's page into another.
            with page.expect_navigation(url="about:blank", timeout=5000):
                page.evaluate("() => { location.href = 'about:blank'; }")
            for origin in page._qg_origins:
                _clear(page, origin)
            page._qg_origins.clear()
            page.context.clear_cookies()
            return True
        except Exception:  # (a page that will not leave is closed with its context)
            return False


def _clear(page: Any, origin: str) -> None:
    if origin and origin != "null":
        page._qg_cdp.send("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"})


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else ""
