"""docs/protocol.schema.json is what the typed requests and events generate."""

from __future__ import annotations

import json

from protocol import schema
from protocol.events import EVENT_TYPES
from protocol.messages import OP_TYPES

REGENERATE = "python -m protocol.schema --write"


def test_committed_schema_is_up_to_date():
    assert schema.SCHEMA_PATH.exists(), f"{schema.SCHEMA_PATH} is missing: run `{REGENERATE}`"
    committed = schema.SCHEMA_PATH.read_text(encoding="utf-8")
    assert committed == schema.render(), (
        f"{schema.SCHEMA_PATH.name} differs from what protocol/messages.py and protocol/events.py generate:"
        f" run `{REGENERATE}` and commit the result"
    )


def test_schema_is_stable_and_complete():
    assert schema.render() == schema.render()
    doc = json.loads(schema.render())
    defs = doc["$defs"]
    assert {cls.__name__ for cls in OP_TYPES.values()} <= set(defs)
    assert {cls.__name__ for cls in EVENT_TYPES.values()} <= set(defs)
    assert {"Request", "Event", "UserObj", "MessageObj", "Role", "JoinPolicy", "ReportTarget", "NewRole"} <= set(defs)
    assert len(defs["Request"]["anyOf"]) == len(OP_TYPES)
    assert defs["Request"]["discriminator"]["propertyName"] == "op"
    assert defs["Event"]["discriminator"]["propertyName"] == "ev"
    assert defs["Send"]["properties"]["group_id"]["pattern"] == "^[0-9]{9,12}$"
    assert set(defs["Send"]["required"]) == {"op", "rid", "group_id", "text"}


def test_main_prints_the_schema(capsys):
    assert schema.main([]) == 0
    assert capsys.readouterr().out == schema.render()
