// What this browser keeps between visits (the sign-in token, the language, the unsent outbox, the
// user's own reactions): the site's localStorage. A browser set to block site data throws at the
// first touch of localStorage, and the page used to stop there, blank. Then this page keeps them
// in a map of its own instead: everything works, and is forgotten when the tab closes.
// A full storage refuses a write: the write is dropped, the page goes on.

// Probed with a read: a write would also fail on a full storage, and what it holds (the token, the
// outbox) must still be read then.
function siteStorage() {
  try {
    const s = window.localStorage;
    s.getItem("qg.lang");
    return s;
  } catch {
    return null;
  }
}

const site = siteStorage();
const page = new Map();

export const browserStore = {
  get(key) {
    if (!site) return page.has(key) ? page.get(key) : null;
    try { return site.getItem(key); } catch { return null; }
  },
  set(key, value) {
    if (!site) { page.set(key, String(value)); return; }
    try { site.setItem(key, String(value)); } catch { /* full: dropped */ }
  },
  remove(key) {
    if (!site) { page.delete(key); return; }
    try { site.removeItem(key); } catch { /* gone meanwhile */ }
  },
  keys() {
    if (!site) return [...page.keys()];
    try { return Object.keys(site); } catch { return []; }
  },
};
