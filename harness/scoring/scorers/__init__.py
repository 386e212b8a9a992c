"""One module per expectation kind; importing this package registers every scorer."""

from harness.scoring.scorers import (  # noqa: F401
    barge_in,
    confirmation_before_write,
    dead_air,
    entity_confirmed,
    escalation,
    input_heard,
    latency,
    no_response,
    preamble,
    speech_matches_transcript,
    tool_called,
    transcript,
    turn_answered,
)
