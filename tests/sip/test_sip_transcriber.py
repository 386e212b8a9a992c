"""What hears the agent's words on a SIP call: the local recogniser, or a transcription endpoint
the user names (``HARNESS_SIP_TRANSCRIBE``), chosen and checked before any call."""

from __future__ import annotations

import pytest

from harness import api
from harness.errors import InputError
from harness.scoring.scorers.speech_matches_transcript import transcribe_line


def test_the_local_recogniser_hears_a_sip_call_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(api.SIP_TRANSCRIBE_ENV, raising=False)
    options = api.session_options(["local-sip"], None)
    assert options is not None and options.transcribe is not None
    assert options.transcribe.hear is transcribe_line
    # it decodes as English whatever was spoken, and says so
    assert options.transcribe.writes_only == "en"
    assert api.session_options(["local"], None) is None  # a WebSocket call has its transcripts


def test_a_transcription_endpoint_needs_its_key_before_any_call(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(api.SIP_TRANSCRIBE_ENV, "openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(InputError) as raised:
        api.session_options(["sip:agent@127.0.0.1:5060"], None)
    assert raised.value.field == "OPENAI_API_KEY"
    assert "the transcription endpoint needs an API key" in str(raised.value)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    options = api.session_options(["sip:agent@127.0.0.1:5060"], None)
    assert options is not None and options.transcribe is not None
    assert options.transcribe.hear is not transcribe_line
    assert options.transcribe.writes_only is None  # it writes the language spoken


def test_an_unknown_transcriber_is_a_located_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(api.SIP_TRANSCRIBE_ENV, "whisper-large")
    with pytest.raises(InputError) as raised:
        api.session_options(["local-sip"], None)
    assert raised.value.field == api.SIP_TRANSCRIBE_ENV
    assert "expected local or openai, got 'whisper-large'" in str(raised.value)


def test_the_pytest_plugin_gives_sip_calls_the_runs_transcriber(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Items of the pytest plugin get what ``harness run`` gives a SIP call (they had no
    transcriber: ``when_agent_says`` errored and read-backs were graded against nothing)."""
    from harness.pytest_plugin._options import _Options

    monkeypatch.delenv(api.SIP_TRANSCRIBE_ENV, raising=False)
    options = _Options(api.RunOptions(target="local-sip"), None).session_options()
    assert options is not None and options.transcribe is not None
    assert options.transcribe.hear is transcribe_line
