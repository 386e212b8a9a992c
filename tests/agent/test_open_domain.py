"""The local agent in a domain of its own: a profile and an agent config written from scratch
(a library's loan line), found relative to the agent config, checked by ``harness validate`` and
driven over a real socket; nothing of the example suite is needed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from agent_client import run, session

from harness.agent import LocalAgent, agent_config_options
from harness.cli import main
from harness.scenario.loader import load_agent_config

PROFILE = r"""
name: library_loans
slots:
  card:
    kind: digits
    label: library card number
    min_length: 7
    max_length: 7
    numerals: true
    prompt: "What is your library card number?"
    partial_prompt: "I only got part of the card number. All seven digits, please?"
    unclear_prompt: "Sorry, what was the card number?"
    readback: "Card {value}, right?"
  title:
    kind: text
    label: book title
    prompt: "Which book would you like to renew?"
    partial_prompt: "Which book?"
    unclear_prompt: "Sorry, which book?"
intents:
  - name: librarian
    patterns: ['\blibrarian\b']
    escalate: reader asked for the librarian
  - name: renew
    patterns: ['\brenew\w*']
    slots: [card, title]
    tool: loans
    arguments: {card_number: card, title: title}
    action: renew loans
    preambles: ["Renewing it now."]
    results:
      - {requires: [due], say: "Renewed. It is due back on {due}."}
    not_found: "I can't find card {card}. What is the card number?"
signals:
  affirm: ['\b(yes|yep|right|correct|go ahead)\b']
  deny: ['\b(no|not|wrong)\b']
  frustration: ['\bfed up\b']
  incomplete: [',\s*$']
  not_speech: ['^\W*$']
  domain: ['\b(book|card|renew\w*|loan)\b']
messages:
  unclear: ["Sorry, say that again?"]
  handoff: "Fetching the librarian for you."
  handoff_done: "The librarian is coming."
  cannot: "I can't {action} here."
  cannot_escalate: "Nobody else is here, sorry."
  failed_again: "That failed again. Shall I fetch the librarian?"
  frustration: "Sorry about that."
  anything_else: "Anything else?"
  no_input: "Hello?"
  nothing_pending: "Anything else?"
  confirm_write: "I'll {action} for card {card}: {title}. Shall I?"
escalation:
  reasons: {frustration: upset reader, failures: system down, no_input: silent line}
tools:
  loans: [extend_loan]
"""

AGENT = """
name: library
local_profile: profiles/library.yaml
tools:
  - name: extend_loan
    write: true
    parameters:
      type: object
      properties: {card_number: {type: string}, title: {type: string}}
  - name: fetch_librarian
    escalation: true
    parameters: {type: object, properties: {reason: {type: string}}}
  - name: stay_quiet
    wait: true
"""


@pytest.fixture
def library(tmp_path: Path) -> Path:
    (tmp_path / "agents" / "profiles").mkdir(parents=True)
    (tmp_path / "agents" / "profiles" / "library.yaml").write_text(PROFILE)
    agent = tmp_path / "agents" / "library.yaml"
    agent.write_text(AGENT)
    return agent


def test_the_profile_path_is_relative_to_the_agent_config(library: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(library.parents[1].parent)  # somewhere else: not the agent's folder
    config = load_agent_config(library)
    assert config.local_profile == str(library.parent / "profiles" / "library.yaml")
    assert config.wait_tools == ["stay_quiet"]


def test_validate_rejects_a_missing_profile_file_with_its_line(
        library: Path, capsys: pytest.CaptureFixture[str]) -> None:
    library.write_text(AGENT.replace("profiles/library.yaml", "profiles/gone.yaml"))
    with pytest.raises(SystemExit) as stopped:
        main(["validate", str(library)])
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert err.splitlines()[0].startswith(f"{library}:3:")
    assert "local_profile" in err and "'profiles/gone.yaml' not found" in err
    library.write_text(AGENT.replace("profiles/library.yaml", "no_such_profile"))
    with pytest.raises(SystemExit):
        main(["validate", str(library)])
    assert "unknown agent profile 'no_such_profile'" in capsys.readouterr().err


def test_a_domain_of_its_own_over_a_real_socket(library: Path) -> None:
    config = load_agent_config(library)

    async def call() -> list[dict[str, Any]]:
        async with LocalAgent(**agent_config_options(config), preload_asr=False) as agent, \
                session(agent.url) as client:
            await client.update(output_modalities=["text"], audio={"input": {
                "turn_detection": None}}, tools=[t.session_tool() for t in config.tools])

            async def answer(item: dict[str, Any]) -> dict[str, Any]:
                await client.send("conversation.item.create", item=item)
                await client.send("response.create")
                return (await client.until("response.done"))["response"]

            turns = ["I'd like to renew a book, card number four, seven, one, nine, oh, two, six.",
                     "Yes.", "The Old Man and the Sea.", "Yes, go ahead."]
            answers = [await answer({"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": text}]}) for text in turns]
            (fc,) = [o for o in answers[-1]["output"] if o["type"] == "function_call"]
            answers.append(await answer({"type": "function_call_output", "call_id": fc["call_id"],
                                         "output": json.dumps({"due": "June 3"})}))
            return answers

    answers = run(asyncio.wait_for(call(), 60))

    def text(response: dict[str, Any]) -> str:
        return " ".join(c.get("text", "") for o in response["output"] if o["type"] == "message"
                        for c in o["content"])

    assert text(answers[0]) == "Card 4, 7, 1, 9, 0, 2, 6, right?"
    assert text(answers[1]) == "Which book would you like to renew?"
    # A write tool (by the agent config's flag) is confirmed first, with the profile's wording.
    assert text(answers[2]) == ("I'll renew loans for card 4, 7, 1, 9, 0, 2, 6: "
                                "The Old Man and the Sea. Shall I?")
    assert text(answers[3]) == "Renewing it now."
    calls = [o for o in answers[3]["output"] if o["type"] == "function_call"]
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [
        ("extend_loan", {"card_number": "4719026", "title": "The Old Man and the Sea"})]
    assert text(answers[4]) == "Renewed. It is due back on June 3."
