"""The agent's voice: responses as tasks that wait for a turn's transcript, ask the dialogue
policy what to do, then speak (TTS sentence by sentence, faster than real time) and call tools.

The responder also estimates where the client's playback is (a client plays a response's audio
from its first delta at real-time rate); the idle timeout, barge-in and the ``ignore_barge_in``
fault use it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.agent import tts
from harness.agent.conversation import Item, Response, spoken_text
from harness.agent.dialogue import Action, CallTool, DialoguePolicy, PolicyFactory, Say
from harness.agent.events import audio_tokens, text_tokens
from harness.agent.faults import INVENTED_TOOL, FaultInjector, Faults
from harness.agent.protocol import AgentProtocol

if TYPE_CHECKING:
    from harness.agent.listener import Listener

_SAY_INSTRUCTION = re.compile(r"^\s*say(?:\s+exactly)?\s*:?\s*[\"“'](.+?)[\"”']\s*\.?\s*$",
                              re.IGNORECASE | re.DOTALL)
log = logging.getLogger(__name__)


class Responder:
    """Output side of one session; ``listener`` is set by the connection before audio flows."""

    def __init__(self, protocol: AgentProtocol, faults: Faults, injector: FaultInjector,
                 policy_factory: PolicyFactory, *, audio_speed: float, delta_ms: int) -> None:
        self.protocol = protocol
        self.faults = faults
        self.injector = injector
        self.policy_factory = policy_factory
        self.audio_speed = audio_speed
        self.delta_ms = delta_ms
        self.listener: Listener
        self._policy: DialoguePolicy | None = None
        self._loop = asyncio.get_running_loop()
        self._tasks: dict[Response, asyncio.Task[None]] = {}
        self.playback_end = 0.0  # loop time the client's playback of agent audio ends
        self._interrupted: tuple[Item, float] | None = None
        # The caller's turns whose words the policy holds (a turn that goes on from them is
        # heard together with them as well).
        self._held_items: list[Item] = []
        # Each reply's policy as it was before the reply (see _take_back).
        self._before: dict[Response, DialoguePolicy] = {}

    def policy(self) -> DialoguePolicy:
        """The session's dialogue policy (built on first use, from the session's tools)."""
        if self._policy is None:
            self._policy = self.policy_factory(self.protocol.tools, self.faults)
        return self._policy

    def tools_changed(self) -> None:
        if self._policy is not None:
            self._policy = self.policy_factory(self.protocol.tools, self.faults)

    def close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()

    # ----------------------------------------------------------------------- playback estimate

    def audible(self) -> bool:
        return self._loop.time() < self.playback_end

    def barge_in(self) -> None:
        """Caller speech started: a client stops its playback on ``speech_started``."""
        if not self.audible():
            return
        now = self._loop.time()
        for item in reversed(self.protocol.items):
            if item.type == "message" and item.role == "assistant" and item.play_start is not None:
                if item.play_start <= now:
                    self._interrupted = (item, (now - item.play_start) * 1000.0)
                break
        self.playback_end = now

    def truncated(self, item: Item, audio_end_ms: int) -> None:
        """The client played ``audio_end_ms`` of ``item`` and stopped."""
        if self._interrupted is None or self._interrupted[0] is item:
            self._interrupted = (item, float(audio_end_ms))
        if item.play_start is not None:
            self.playback_end = min(self.playback_end, self._loop.time())

    # ----------------------------------------------------------------------- responses

    def start(self, params: dict[str, Any], input_items: list[Item] | None = None) -> None:
        """Open a response and run it as a task (a mute agent never does)."""
        if not self.injector.answers():
            return
        response = self.protocol.open_response(params, input_items)
        if response.in_conversation:
            self.listener.response_started()
        self._tasks[response] = self.listener.spawn(self._run(response))

    def cancel(self, response: Response, reason: str) -> None:
        task = self._tasks.get(response)
        if task is not None:
            task.cancel()
        if reason == "turn_detected":
            self._take_back(response)
        self._finish(response, "cancelled", reason)

    def _take_back(self, response: Response) -> None:
        """A spoken reply the caller went on over before hearing a word of it (they had paused
        between two sentences of one answer, and were talking again as it began) is taken
        back: the policy is as it was before it, and the turns it answered are answered again
        with the one that goes on from them ("No, don't cancel it." and "I changed my mind." got
        "Okay, I won't cancel it.", cut off, then an answer to the second alone). A reply that
        called a tool stays: the call went out."""
        before = self._before.pop(response, None)
        if before is None or not any(i.type == "message" for i in response.output) or any(
                i.type == "function_call" for i in response.output):
            return
        if self._interrupted is not None and self._interrupted[0] in response.output:
            if spoken_text(*self._interrupted):
                return  # some of it was heard
            self._interrupted = None
        self._policy = before
        for item in response.consumed_items:
            item.consumed = False

    def _finish(self, response: Response, status: str, reason: str | None = None,
                failure: BaseException | None = None) -> None:
        if failure is not None:
            finished = self.protocol.response_failed(response, failure)
        else:
            finished = self.protocol.finish_response(response, status, reason)
        if not finished:
            return
        self._tasks.pop(response, None)
        self._before.pop(response, None)
        if response.in_conversation:
            self.listener.response_finished(
                max(0.0, (self.playback_end - self._loop.time()) * 1000.0))

    async def _run(self, response: Response) -> None:
        try:
            actions = self.injector.actions(await self._decide(response))
            pending_text: list[str] = []
            for action in [*actions, None]:
                if isinstance(action, Say):
                    pending_text.append(action.text)
                    continue
                if pending_text:
                    await self._say(response, self.faults.spoken(" ".join(pending_text)))
                    pending_text = []
                if isinstance(action, CallTool):
                    await self._added_latency(response)
                    self.protocol.function_call(response, action.name, action.arguments)
                    self.injector.called(action.name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the client must learn the response failed
            log.exception("response %s failed", response.id)
            self._finish(response, "failed", failure=exc)
            return
        self._finish(response, "completed")

    async def _decide(self, response: Response) -> list[Action]:
        """Wait for the turn's transcript and ask the policy what to do."""
        if response.instructions:
            said = _SAY_INSTRUCTION.match(response.instructions)
            if said:
                return [Say(said.group(1).strip())]
        policy = self.policy()
        if not response.in_conversation:
            # An out-of-band response must not move the conversation's state.
            policy = copy.deepcopy(policy)
            inputs = [i for i in response.input_items or [] if i.role == "user"] or [
                i for i in self.protocol.items if i.is_user_message][-1:]
        else:
            inputs = response.consumed_items
            self._before[response] = copy.deepcopy(policy)
        texts: list[str] = []
        not_addressed: list[str] = []
        as_one: str | None = None
        actions: list[Action] = []
        messages = [i for i in inputs if i.type == "message"]
        no_input = any(i.no_input for i in messages)
        addressed = [i for i in messages if i.addressed]
        held = self._held_items if response.in_conversation and policy.hold_ms is not None \
            else []
        together = [*held, *addressed]
        # several turns make this utterance: hear them as one too, beside the last turn's own
        # hearing (its search for a value's runners-up took 1.2 s on the example suite's
        # cancel-confirmed, and hearing the turns as one began only after it)
        hearing_as_one = asyncio.ensure_future(self.listener.hearing.heard_as_one(together)) \
            if len(together) > 1 else None
        try:
            for item in addressed:
                if text := await self.listener.hearing.transcript(item):
                    texts.append(text)
            if texts and hearing_as_one is not None:
                as_one = await hearing_as_one
        finally:
            if hearing_as_one is not None and not hearing_as_one.done():
                hearing_as_one.cancel()
        # Audio not meant for the agent (the TV, hold music) matters only when nothing else was
        # said: an answer to the caller does not wait for its transcript.
        for item in messages if not texts else []:
            if not item.addressed and (text := await self.listener.hearing.transcript(item)):
                not_addressed.append(text)
        if self._interrupted is not None and response.in_conversation:
            item, spoken_ms = self._interrupted
            self._interrupted = None
            policy.on_interrupted(spoken_text(item, spoken_ms))
        if texts:
            actions.extend(policy.on_user_turn(" ".join(texts), heard_as_one=as_one))
        elif not_addressed:
            actions.extend(policy.on_user_turn(" ".join(not_addressed), addressed=False))
        elif no_input:
            actions.extend(policy.on_no_input())
        elif any(i.type == "message" for i in inputs) or not inputs:
            actions.extend(policy.on_user_turn(""))
        for item in inputs:
            if item.type == "function_call_output":
                call = next((i for i in self.protocol.items if i.type == "function_call"
                             and i.call_id == item.call_id), None)
                if call is None or call.name is None or call.name == INVENTED_TOOL:
                    # no call of the policy's (the invent_tool fault made it)
                    continue
                try:
                    arguments = json.loads(call.arguments or "{}")
                except ValueError:
                    arguments = {}
                actions.extend(policy.on_tool_output(call.name, arguments, item.output))
        if response.in_conversation:
            for item in inputs:
                item.consumed = True
            hold_ms = policy.hold_ms
            holding = not actions and hold_ms is not None
            self._held_items = [*held, *addressed] if holding else []
            if holding and hold_ms is not None:
                actions = await self._hold(policy, hold_ms, self._held_items)
        choice = response.tool_choice
        if choice == "none":
            actions = [a for a in actions if isinstance(a, Say)]
        elif isinstance(choice, dict):
            actions = [a for a in actions if isinstance(a, Say) or a.name == choice["name"]]
        response.input_tokens = (
            sum(text_tokens(t) for t in texts),
            sum(audio_tokens(i.audio_ms) for i in inputs if i.audio is not None))
        return actions

    async def _hold(self, policy: DialoguePolicy, hold_ms: int,
                    items: list[Item]) -> list[Action]:
        """An unfinished utterance: the response stays open and silent, as a model still
        listening would, so the caller knows the agent owes an answer. When the caller goes on
        (speech starts; the response is usually cancelled then) the policy keeps the held words
        for the next turn; after ``hold_ms`` without that, it answers them."""
        expired = await self.listener.hold(hold_ms, items)
        return list(policy.on_hold_expired()) if expired else []

    async def _added_latency(self, response: Response) -> None:
        """The ``added_latency_ms`` fault: the response's first output (text, audio or tool call)
        leaves that much later than it was ready, so the delay adds to what the caller measures
        exactly, whatever else the agent was busy with meanwhile."""
        delay_ms = self.faults.added_latency_ms
        if delay_ms and not response.delayed:
            response.delayed = True
            await asyncio.sleep(delay_ms / 1000.0)

    async def _say(self, response: Response, text: str) -> None:
        """Speak ``text``: transcript deltas, then the sentence's audio, paced faster than real
        time from the first delta on."""
        protocol = self.protocol
        item = protocol.open_message(response)
        audio_out = "audio" in response.modalities
        pcm_parts: list[np.ndarray] = []
        sent_ms = 0.0
        stream_start: float | None = None
        for sentence in tts.split_sentences(text):
            if not audio_out:
                await self._added_latency(response)
                protocol.text_sentence(response, item, sentence)
                continue
            speech = self.injector.speech(
                await tts.synthesize_sentence_async(sentence, response.voice, response.speed,
                                                    response.output_format),
                response.output_format, head=not response.spoken)
            response.spoken = True
            await self._added_latency(response)
            protocol.transcript_sentence(response, item, sentence)
            item.sentences.append((sent_ms, sent_ms + speech.duration_ms, sentence))
            pcm_parts.append(speech.pcm)
            item.audio = np.concatenate(pcm_parts)
            bytes_per_ms = len(speech.encoded) / max(speech.duration_ms, 1e-6)
            chunk = max(2, int(bytes_per_ms * self.delta_ms) // 2 * 2)
            for offset in range(0, len(speech.encoded), chunk):
                piece = speech.encoded[offset: offset + chunk]
                if stream_start is None:
                    stream_start = self._loop.time()
                    item.play_start = max(stream_start, self.playback_end)
                else:
                    # Faster than real time, as the service sends it.
                    due = stream_start + sent_ms / 1000.0 / self.audio_speed
                    if due > self._loop.time():
                        await asyncio.sleep(due - self._loop.time())
                protocol.audio_delta(response, item, piece)
                sent_ms += len(piece) / bytes_per_ms
                assert item.play_start is not None
                self.playback_end = max(self.playback_end, item.play_start + sent_ms / 1000.0)
                for consumed in response.consumed_items:
                    protocol.flush_transcription(consumed)
        protocol.close_message(response, item, "completed")
