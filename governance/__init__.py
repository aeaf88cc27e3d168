"""Pure policy: decides from plain data and ``now``; no I/O, never imports ``server``."""
