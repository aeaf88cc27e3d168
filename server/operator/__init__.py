"""Operator code: the admin channel, its commands, the ``qunguan admin`` CLI and the supervision export.

- :mod:`server.operator.channel`: the Unix-socket channel, the ``command`` registry, ``Result``, ``OperatorError``
- :mod:`server.operator.common`: what the command modules share (arguments, targets, record entries, writes)
- :mod:`server.operator.groups_people`, :mod:`~server.operator.platform`, :mod:`~server.operator.records`: commands
- :mod:`server.operator.export`: the export for supervision (G13)
- :mod:`server.operator.cli`: ``qunguan admin`` (the client side; imports nothing of the server's)
"""

from server.operator.channel import COMMANDS, OperatorChannel, OperatorError, Result, command, load_commands

__all__ = ["COMMANDS", "OperatorChannel", "OperatorError", "Result", "command", "load_commands"]
