"""What radio does after changes in the resources app commit (registered in RadioConfig).

Resources sits below radio and never imports it: it records `assignment.created`, and radio
queues the despatch message here, after the assignment has committed. A message lost between
that commit and this reaction (the process died) is queued by the sweeper instead
(`radio.services.despatch_messages_queue_missing`), so it is late, never lost.
"""

from typing import Any

from radio.services import despatch_message_for_assignment


def despatch_message_on_assignment(data: dict[str, Any]) -> None:
    """`assignment.created`: queue the despatch message to the unit's terminal."""
    despatch_message_for_assignment(assignment_id=data["assignment"])
