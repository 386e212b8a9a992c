"""Every client event the protocol builds is a valid event of the ``openai`` package's own types
(GA, and beta for the beta dialect), for every agent config the repository ships; a misspelt
field or a value out of range is refused by the same check, so the check can fail."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
from openai.types.beta.realtime import RealtimeClientEventParam as BetaClientEventParam
from openai.types.realtime import RealtimeClientEventParam
from pydantic import ConfigDict, TypeAdapter, ValidationError

from harness.realtime import events
from harness.realtime.protocol import RealtimeProtocol
from harness.scenario import load_agent_config

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted([*REPO.glob("agents/*.yaml"), *REPO.glob("examples/*/agent.yaml")])
STRICT = ConfigDict(extra="forbid")
GA = TypeAdapter(RealtimeClientEventParam, config=STRICT)
BETA = TypeAdapter(BetaClientEventParam, config=STRICT)


def _events(protocol: RealtimeProtocol, config_path: Path) -> list[Any]:
    config = load_agent_config(config_path)
    return [protocol.session_update(config, "Answer the caller."),
            {"type": "input_audio_buffer.append", "audio": "AAAA"},
            protocol.commit(), protocol.response_create(), protocol.response_cancel(),
            protocol.response_cancel("resp_1"), protocol.truncate("item_1", 1234),
            protocol.function_output("call_1", {"status": "shipped"})]


@pytest.mark.parametrize("config_path", CONFIGS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_client_event_is_valid_for_the_openai_types(config_path: Path) -> None:
    for event in _events(RealtimeProtocol("ga"), config_path):
        GA.validate_python(event)


@pytest.mark.parametrize("config_path", CONFIGS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_the_beta_dialect_sends_valid_beta_events(config_path: Path) -> None:
    for event in _events(RealtimeProtocol("beta"), config_path):
        BETA.validate_python(event)


def test_the_check_refuses_a_misspelt_field_and_a_wrong_value() -> None:
    with pytest.raises(ValidationError):
        GA.validate_python({"type": "response.cancel", "respnse_id": "resp_1"})
    event = RealtimeProtocol("ga").session_update(load_agent_config(CONFIGS[0]), None)
    event["session"]["audio"]["input"]["format"] = {"type": "audio/pcm", "rate": 16000}
    with pytest.raises(ValidationError):
        GA.validate_python(event)


def test_the_types_name_the_events_the_openai_package_knows() -> None:
    known = {typing.get_type_hints(member)["type"].__args__[0]
             for member in typing.get_args(RealtimeClientEventParam)}
    ours = {typing.get_type_hints(member)["type"].__args__[0]
            for member in typing.get_args(events.ClientEvent)}
    assert len(ours) == 8 and ours <= known, ours - known
