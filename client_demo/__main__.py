"""``python -m client_demo [--url URL]``: the terminal chat client."""

from __future__ import annotations

import sys

from client_demo.echo import echo_off

echo_off()  # first thing: a password typed while Python imports the client is not echoed

from client_demo.tui import main  # noqa: E402

sys.exit(main())
