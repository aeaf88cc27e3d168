"""Owner and admin powers (Art. 8, 9). Filled in by the group-governance work."""

from __future__ import annotations

from protocol.errors import ContractError


async def request_to_join(app, g, user) -> None:
    raise ContractError("forbidden", "join requests are not available yet")
