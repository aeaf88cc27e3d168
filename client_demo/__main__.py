"""``python -m client_demo [--url URL]``: the terminal chat client."""

from __future__ import annotations

import sys

from client_demo.tui import main

sys.exit(main())
