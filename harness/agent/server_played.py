"""An agent session whose server plays the agent's audio out: a WebRTC call, a SIP call.

The same session as over a WebSocket (protocol core, listener, responder, dialogue policy and
faults); what the transport changes is done here:

- **Caller audio** arrives on the call's media and is fed to the listener as
  ``input_audio_buffer.append`` audio would be, at the session's input rate (:meth:`hear`).
- **Agent audio**: the responder's ``response.output_audio.delta`` events do not go to the
  client; their audio goes into the server's output buffer (:class:`OutputQueue`), which the
  transport plays at real-time rate.
- **Interruptions**: the server knows what was played, so it truncates by itself. When the caller
  starts speaking (``input_audio_buffer.speech_started``) while a response plays and turn
  detection interrupts responses, the buffer is cleared and the item playing is truncated at the
  audio that went out, exactly as a client's ``conversation.item.truncate`` would. The client's
  ``output_audio_buffer.clear`` does the same.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import numpy as np

from harness import audio
from harness.agent import config
from harness.agent.output_queue import BUFFER_RATE, OutputQueue, Pcm
from harness.agent.session import AgentSession

log = logging.getLogger(__name__)


class ServerPlayedSession(AgentSession):
    """An agent session whose server plays the agent's audio out (see the module docstring).

    A subclass sets ``self.output`` (an :class:`OutputQueue` played by its transport) before
    calling ``__init__`` with its connection.
    """

    output: OutputQueue

    def hear(self, pcm: Pcm, _arrived_ns: int, rate: int = BUFFER_RATE) -> None:
        """Caller audio from the call's media (``rate``: its sample rate), as the listener takes
        appended audio."""
        try:
            want = self.protocol.input_rate
            samples = pcm if rate == want else audio.resample(pcm, rate, want)
            if len(samples):
                self.listener.append(samples)
        except Exception:  # noqa: BLE001 - a packet must not break the transport's receive path
            log.exception("caller audio packet failed")

    def _send(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "response.output_audio.delta":
            self.output.add(event["response_id"], event["item_id"], self._decode(event["delta"]))
            return
        if kind == "response.done":
            self.output.response_done(event["response"]["id"])
        super()._send(event)
        if kind == "input_audio_buffer.speech_started":
            td = config.turn_detection(self.protocol.session)
            if td is not None and td.interrupt_response:
                self._clear_output()

    def _decode(self, delta: str) -> Pcm:
        raw = base64.b64decode(delta)
        kind = self.protocol.session["audio"]["output"]["format"]["type"]
        if kind == "audio/pcm":
            return np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.int16)
        law = "ulaw" if kind == "audio/pcmu" else "alaw"
        return audio.decode_g711(raw, law, sample_rate=BUFFER_RATE)

    def _clear_output(self) -> None:
        """Stop the agent's audio now and truncate the item at what was played."""
        item_id, played = self.output.clear()
        if item_id is None or not any(i.id == item_id for i in self.protocol.items):
            return
        audio_end_ms = played * 1000 // BUFFER_RATE
        self.handle(json.dumps({"type": "conversation.item.truncate", "item_id": item_id,
                                "content_index": 0, "audio_end_ms": audio_end_ms}))

    def handle(self, message: str | bytes) -> None:
        """One client event; ``output_audio_buffer.clear`` is the transport's own."""
        if isinstance(message, str) and '"output_audio_buffer.clear"' in message:
            try:
                event = json.loads(message)
            except ValueError:
                event = None
            if isinstance(event, dict) and event.get("type") == "output_audio_buffer.clear":
                self._clear_output()
                return
        super().handle(message)
