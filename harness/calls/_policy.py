"""``calls.yaml``: which expectations apply to production calls, and what each needs of a call.

An unscripted call has no scenario: nobody labelled which turn gives an order number, which
sound was not meant for the agent, or what the caller intended. An expectation that needs what
the call does not have is not graded; its verdict says *not applicable* and why (see
:func:`not_applicable`), and it never passes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.scenario.models import AgentConfig, Expectation

POLICY_VERSION: Literal[1] = 1


class CallsPolicy(BaseModel):
    """``calls.yaml``: the checks production calls get (version 1)."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = POLICY_VERSION
    checks: list[Expectation] = Field(
        ..., min_length=1, description="expectations, written as in a scenario's expect list")
    agent: str | None = Field(
        None, description="agent config file (relative to this file): its tools' write, "
                          "escalation and wait flags")
    labels: list[str] = Field(default_factory=list, description="labels every call gets")
    transcribe: Literal["local", "openai", "none"] = Field(
        "local", description="what transcribes a call without a sidecar transcript, when a "
                             "check needs its words: the local recogniser (the asr extra), "
                             "OpenAI's transcription endpoint or one that answers like it "
                             "(OPENAI_API_KEY, OPENAI_BASE_URL), or nothing")
    transcribe_model: str = Field("gpt-4o-mini-transcribe",
                                  description="the model asked for with transcribe: openai")
    sample: float = Field(1.0, gt=0, le=1, description="the share of calls graded (chosen by "
                                                       "call id, so a re-run grades the same)")


DEFAULT_CHECKS: list[dict[str, Any]] = [
    {"turn_answered": {}},
    {"latency": {"p50_ms": 1500}},
    {"dead_air": {"max_ms": 4000}},
]
"""What a call gets without a policy file: what the audio alone can grade."""

NEEDS_TOOL_LOG = {"preamble", "confirmation_before_write", "tools_honest", "claims_backed",
                  "tool_called", "no_tool_call", "tool_failure_recovery", "escalation"}
NEEDS_TRANSCRIPT = {"transcript", "one_question", "language", "claims_backed", "tools_honest",
                    "rubric", "confirmation_before_write", "preamble"}
NEEDS_SCRIPT = {
    "entity_confirmed": "it needs to know which caller turn gave the value (a scenario's "
                        "`entity:` label)",
    "input_heard": "it compares the agent's hearing with the words the caller was scripted to say",
    "no_response": "it needs to know which turns were silence or audio not meant for the agent",
    "no_filler_on_noise": "it needs to know which sounds were not meant for the agent",
    "speech_matches_transcript": "it compares the agent's audio with the transcript the agent "
                                 "itself sent, which a recording does not keep",
}

NEVER_AROSE: dict[str, Callable[[dict[str, Any]], bool]] = {
    "claims_backed": lambda measured: not measured.get("claims") and not measured.get("calls"),
}
"""Kinds whose verdict can show that the situation they grade never arose in the call (what it
measured is empty): not applicable on a production call."""


def default_policy() -> CallsPolicy:
    return CallsPolicy.model_validate({"checks": DEFAULT_CHECKS})


def load_policy(path: Path) -> tuple[CallsPolicy, AgentConfig | None]:
    """Read ``calls.yaml`` (located errors, exit 2) and the agent config it names."""
    from harness.scenario.loader import load_agent_config, load_yaml_model  # noqa: PLC0415

    policy = load_yaml_model(path, CallsPolicy, what="a calls policy")
    agent = None
    if policy.agent is not None:
        resolved = (Path(path).parent / policy.agent).resolve()
        agent = load_agent_config(resolved)
        policy = policy.model_copy(update={"agent": str(resolved)})
    return policy, agent


def sampled(policy: CallsPolicy, call_id: str) -> bool:
    """Whether a call is in the policy's sample (by a hash of its id: stable across runs)."""
    if policy.sample >= 1:
        return True
    h = int(hashlib.sha256(call_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return h < policy.sample


@dataclass(frozen=True)
class CallFacts:
    """What a call has to be graded on."""

    has_tool_log: bool
    has_transcript: bool
    has_barge_in: bool
    tools_called: frozenset[str]
    write_tools: frozenset[str]


def not_applicable(kind: str, facts: CallFacts, params: dict[str, Any] | None = None
                   ) -> str | None:
    """Why an expectation kind cannot be graded on this call, or None when it can. A scripted
    call fails a check whose situation never arose (the scenario was written to raise it); a
    production call simply did not have it, so that is not applicable too."""
    if kind in NEEDS_SCRIPT:
        return f"an unscripted call cannot be graded on {kind}: {NEEDS_SCRIPT[kind]}"
    if kind in NEEDS_TOOL_LOG and not facts.has_tool_log:
        return "the call has no tool log (give a sidecar with tool_calls)"
    if kind in NEEDS_TRANSCRIPT and not facts.has_transcript:
        return ("the call has no transcript (give a sidecar with a transcript, or install the "
                "asr extra for the local recogniser)")
    if kind == "escalation" and (params or {}).get("mode") == "required" and not (
            facts.has_transcript):
        return ("the call has no transcript, and a required hand-off is graded on what the agent "
                "said around it")
    if kind == "latency" and (params or {}).get("turns") in ("tool", "plain") and not (
            facts.has_tool_log):
        return ("the call has no tool log, so its turns cannot be told apart by whether the "
                "agent called a tool")
    if kind == "barge_in" and not facts.has_barge_in:
        return "the caller never spoke over the agent"
    if kind == "preamble" and not facts.tools_called:
        return "the agent called no tool"
    if kind == "confirmation_before_write" and not facts.tools_called & facts.write_tools:
        return "the agent called no write tool"
    return None


def calls_policy_schema_text() -> str:
    """The JSON Schema of ``calls.yaml`` (checks as a scenario's ``expect`` items)."""
    import json  # noqa: PLC0415

    from pydantic.json_schema import models_json_schema  # noqa: PLC0415

    from harness.scenario.kinds import expectation_kinds  # noqa: PLC0415
    from harness.scenario.schema import (  # noqa: PLC0415
        JSON_SCHEMA_DIALECT,
        _expectation_schema,
        _reachable,
    )

    _, combined = models_json_schema(
        [(CallsPolicy, "validation"),
         *((k.params_model, "validation") for k in expectation_kinds().values())],
        ref_template="#/$defs/{model}")
    defs = combined["$defs"]
    root = dict(defs.pop("CallsPolicy"))
    defs["Expectation"] = _expectation_schema()
    keep = _reachable(root, defs)
    schema = {"$schema": JSON_SCHEMA_DIALECT, **root,
              "$defs": {k: v for k, v in sorted(defs.items()) if k in keep}}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
