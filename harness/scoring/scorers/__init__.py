"""One module per expectation kind; importing this package registers every scorer."""

from harness.scoring.scorers import (  # noqa: F401
    barge_in,
    claims_backed,
    confirmation_before_write,
    dead_air,
    entity_confirmed,
    escalation,
    input_heard,
    language,
    latency,
    no_filler_on_noise,
    no_response,
    one_question,
    preamble,
    rubric,
    speech_matches_transcript,
    tool_called,
    tool_failure_recovery,
    tools_honest,
    transcript,
    turn_answered,
)
