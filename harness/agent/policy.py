"""Rule-based dialogue policy of the local reference agent, driven by an agent profile YAML.

It implements :class:`harness.agent.dialogue.DialoguePolicy` for any domain the profile
describes. ``Policy(profile, session_tools, faults, flags)``: ``session_tools`` is the session's
tool list as ``session.update`` carries it; an intent names the session tool it calls (or an
entry of the profile's ``tools``), and a tool the session lacks makes the agent say it cannot do
that instead of calling an unknown name. ``flags`` (:class:`harness.agent.dialogue.ToolFlags`,
from the agent config) say which tools write (always confirmed first), which one hands the call
to a human, and which one is the no-op wait tool.

Behaviour: intents from trigger patterns (escalation intents first); slots collected one at a
time and heard by kind (``harness.agent.slots``); values read back before use; a confirmation
question naming the key arguments before a write and the call only after a clear yes (a no
cancels and says so); a short preamble before every tool call; answers built from the tool
output; escalation on request, on frustration, after repeated failures (offered) and after
repeated no-input; clarification on partial or unclear input (a cut-off ID never reaches a
tool; an answer given in several breaths is held and joined first); silence (or the wait tool)
on audio not addressed to the agent, on empty or non-speech transcripts ("[Music]") and, in the
middle of a task, on speech unrelated to the call. Policy-level faults
(``harness.agent.faults``) change exactly the behaviour they name.
"""

from __future__ import annotations

import re
from typing import Any

from harness.agent import slots
from harness.agent.dialogue import Action, CallTool, Say
from harness.agent.faults import Faults
from harness.agent.outputs import clean, decode_output, is_error
from harness.agent.policy_state import Awaiting, PolicyState, Task
from harness.agent.profile import IntentSpec, Profile, load_profile
from harness.agent.repairs import find_readbacks, repair_phrases, values_equal

__all__ = ["Action", "CallTool", "Faults", "Policy", "Profile", "Say", "load_profile"]


# --------------------------------------------------------------------------- policy state


_ANNOTATION = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|[♪♫]+")
# A turn that opens as an answer to the question just asked ("It's a count-fine to salmon." for
# "It's account five, two, seven,", a number's first breath): the value may come in the next.
_OPENS_AN_ANSWER = re.compile(r"^\W*(it's|it is|that's|that is)\b")


class Policy(PolicyState):
    """The dialogue policy of one session (see the module docstring for the interface)."""

    # ------------------------------------------------------------------ public interface

    @property
    def transcription_prompt(self) -> str | None:
        """The recogniser prompt of the profile (the setting of the call)."""
        return self.profile.transcription_prompt

    def part_of_a_value(self, transcript: str) -> bool:
        """Whether the transcript holds part of a value the dialogue listens for and no whole
        one it would take (:meth:`_heard`), with a fragment held from the caller's last
        utterance: "3, 5, 2, 1" after a held "The order number is 8." is a whole number."""
        return self._heard(transcript if self._held is None else f"{self._held} {transcript}")[0]

    def wants_a_value(self, transcript: str) -> bool:
        """Whether the dialogue waits for a value in this turn: the agent asked for one, or,
        before a task is open, the transcript names an intent that needs one ("Can you tell
        me my balance?"). Not hold music or a TV heard while a read-back waits for its yes."""
        if self._asked_slot() is not None:
            return True
        named = self._named_intent(transcript)
        return self._task is None and named is not None and bool(named.slots)

    def _named_intent(self, transcript: str) -> IntentSpec | None:
        """The intent a transcript names, as :meth:`on_user_turn` would find it."""
        return self._detect_intent(repair_phrases(clean(transcript))) if transcript else None

    def choose_transcript(self, transcripts: list[str]) -> str:
        """The first transcript (the recogniser's order) that holds a whole value the dialogue
        listens for, else the first."""
        return next((t for t in transcripts if self.holds_a_value(t)), transcripts[0])

    def holds_a_value(self, transcript: str) -> bool:
        """Whether the transcript holds a whole value the dialogue would take (:meth:`_heard`)."""
        return self._heard(transcript)[1]

    def _heard(self, text: str) -> tuple[bool, bool]:
        """(part, whole): ``text`` holds part of a value the dialogue listens for and no whole
        one it would take; it holds a whole one it would take. The dialogue stops at part of the
        slot it asked for, or of the first slot of the task or request named, before it takes
        any other (:meth:`_collect`): five digits said as the account number are not a reading."""
        asked = self._asked_slot()
        slots = self._listening_for(text)
        got = {s: self._extract(s, text, asked=s == asked).status for s in slots}
        first = asked if asked in got else slots[0] if slots and (
            self._task is not None or self._named_intent(text) is not None) else None
        stops = first is not None and got[first] == "partial"
        whole = not stops and "ok" in got.values()
        return stops or ("partial" in got.values() and not whole), whole

    def _listening_for(self, transcript: str = "") -> list[str]:
        """The slots the dialogue listens for in ``transcript``: the open task's missing ones;
        before a task is open, those of the intent the transcript names ("my balance", and
        its account number: five digits are not a whole one, though a meter reading has
        five), else those of every intent."""
        task = self._task
        if task is not None:
            return [s for s in task.intent.slots if s not in task.values]
        named = self._named_intent(transcript)
        if named is not None and named.slots:
            return list(named.slots)
        return list(dict.fromkeys(s for intent in self.profile.intents for s in intent.slots))

    @property
    def hold_ms(self) -> int | None:
        """How long to wait for the caller to go on before ``on_hold_expired`` (None: no hold)."""
        return self.profile.hold_ms if self._held is not None else None

    def on_user_turn(self, transcript: str, addressed: bool = True, *,
                     heard_as_one: str | None = None) -> list[Action]:
        """A committed caller utterance → actions (``[]``: stay silent). ``heard_as_one``: the
        turns that make the utterance (held words and this turn, or several turns answered
        together) heard as one; preferred to their transcripts joined when it holds a whole
        value the dialogue listens for."""
        text = _ANNOTATION.sub(" ", transcript or "").strip()
        if not addressed or self._matches("not_speech", text):
            return self._not_addressed()
        self._no_input = 0
        self._fresh = None
        if self._held is not None:
            self._fresh = text
            text = f"{self._held} {text}"
            self._held = None
        as_one = _ANNOTATION.sub(" ", heard_as_one or "").strip()
        if as_one and self.holds_a_value(as_one):
            text = as_one
        return self._handle(text, final=False)

    def on_hold_expired(self) -> list[Action]:
        """The caller did not go on after an unfinished utterance: answer what was heard."""
        if self._held is None:
            return []
        text, self._held = self._held, None
        self._fresh = None
        return self._handle(text, final=True)

    def on_tool_output(self, name: str, arguments: dict[str, Any], output: Any) -> list[Action]:
        """The output of a call this policy made → what to say next."""
        output = decode_output(output)
        if name in self.flags.wait:
            return []
        if name in self.flags.escalation:
            self._pending = None
            if self._handoff_after_call:
                self._handoff_after_call = False
                return self._say(self.profile.messages.handoff)
            return [] if not is_error(output) else self._say(self.profile.messages.handoff_done)
        pending, self._pending = self._pending, None
        task = self._task
        if task is None or pending is None or pending[0] != name:
            return []
        intent = task.intent
        if is_error(output) and self.faults.retries_failed_call(task.failures + 1):
            task.failures += 1
            self._pending = pending
            return [CallTool(*pending)]
        if is_error(output) and self.faults.false_success:
            return self._claim_success(intent, task)
        if is_error(output):
            task.failures += 1
            if self._is_not_found(output) and intent.not_found:
                text = self._fill(intent.not_found, task)
                for slot in intent.slots:
                    task.values.pop(slot, None)
                first = intent.slots[0] if intent.slots else None
                self._awaiting = Awaiting("slot", first) if first else None
                if task.failures >= self.profile.escalation.after_failures:
                    return self._after_repeated_failures(task)
                return self._say(text)
            if task.failures >= self.profile.escalation.after_failures:
                return self._after_repeated_failures(task)
            self._awaiting = Awaiting("retry")
            return self._say(self._fill(intent.failed or self.profile.messages.failed_again, task))
        task.failures = 0
        self._task = None
        self._awaiting = None
        return self._say(self._result_text(intent, task, output))

    def on_no_input(self) -> list[Action]:
        """The idle timeout fired: answer a held utterance, re-ask, or hand over."""
        if self._held is not None:
            return self.on_hold_expired()
        self._no_input += 1
        esc = self.profile.escalation
        if self._no_input >= esc.after_no_input and not self._escalated:
            return self._escalate(esc.reasons["no_input"])
        question = self._pending_question()
        text = self.profile.messages.no_input
        return self._say(f"{text} {question}" if question else text)

    def on_interrupted(self, spoken_text: str) -> None:
        """The caller barged in; ``spoken_text`` is what they heard of the reply."""
        self.interrupted_text = spoken_text

    # ------------------------------------------------------------------ turn handling

    def _handle(self, text: str, *, final: bool) -> list[Action]:
        """Decide what to do with one (possibly joined) utterance."""
        lowered = repair_phrases(clean(text))
        if not lowered:
            return self._not_addressed()
        esc = self.profile.escalation

        for intent in self.profile.intents:
            if intent.escalate is not None and self._said(intent, lowered):
                return self._escalate(intent.escalate)
        if esc.on_frustration and self._matches("frustration", lowered):
            return self._escalate(esc.reasons["frustration"],
                                  fallback=self.profile.messages.frustration)

        awaiting = self._awaiting
        if awaiting is not None and awaiting.kind in ("readback", "confirm", "retry", "transfer"):
            answered = self._answer_question(awaiting, lowered, text, final)
            if answered is not None:
                return answered

        intent = self._detect_intent(lowered)
        yes_or_no = self._matches("affirm", lowered) or self._matches("deny", lowered)
        if self._awaiting is None and yes_or_no and not find_readbacks(text) and (
                intent is None or self._matches("deny", lowered)):
            # A yes or a no ("No, don't cancel it") with no question open and no value in it:
            # nothing to act on.
            return self._say(self.profile.messages.anything_else)
        if intent is not None and (self._task is None or intent.name != self._task.intent.name):
            return self._start(intent, text, final)
        if intent is not None and self._task is not None:
            return self._collect(self._task, text, final)

        task = self._task
        if task is not None:
            missing = [s for s in task.intent.slots if s not in task.values]
            asked_slot = self._asked_slot()
            heard = any(self._extract(s, text, asked=s == asked_slot).status != "none"
                        for s in missing)
            asked = asked_slot is not None
            if missing and (heard or (asked and self._relevant(lowered))):
                return self._collect(task, text, final)

        if self._task is None and self.profile.default_intent:
            default = self.profile.intent(self.profile.default_intent)
            slot = default.slots[0] if default.slots else None
            if slot and self._extract(slot, text, asked=False).status != "none":
                return self._start(default, text, final)

        if (self._matches("incomplete", lowered) or self._opens_an_answer(lowered)) \
                and not final:
            return self._hold(text)
        busy = self._task is not None or self._awaiting is not None
        if busy and not self._relevant(lowered):
            # Mid-task speech unrelated to the call: side talk, TV, a hallucinated transcript.
            return self._not_addressed()
        return self._say(self._unclear())

    def _answer_question(self, awaiting: Awaiting, lowered: str, text: str,
                         final: bool) -> list[Action] | None:
        """The caller's answer to a yes/no question, or None when it is not an answer."""
        task = self._task
        denied = self._matches("deny", lowered)
        affirmed = self._matches("affirm", lowered) and not denied

        if awaiting.kind == "readback" and task is not None and awaiting.slot is not None:
            spec = self.profile.slots[awaiting.slot]
            corrected = slots.correction(spec, awaiting.value or "", lowered, text, self._fresh)
            if affirmed and spec.kind in ("name", "text"):
                # "Yes, go ahead" answers the read-back; it is not a new name or text.
                corrected = slots.Extracted("none")
            if corrected.status == "ok" and corrected.value is not None and not (
                    affirmed and values_equal(corrected.value, awaiting.value)):
                self._awaiting = Awaiting("readback", awaiting.slot, corrected.value)
                template = spec.corrected_readback or spec.readback or "{value}"
                return self._say(self._fill_value(template, spec, corrected.value))
            if corrected.status == "partial" and (denied or not affirmed):
                return self._partial(task, awaiting.slot, text, final)
            if affirmed:
                task.values[awaiting.slot] = awaiting.value or ""
                self._awaiting = None
                return self._next_step(task)
            if denied:
                self._awaiting = Awaiting("slot", awaiting.slot)
                return self._say(spec.reask or spec.prompt)
            return None

        if awaiting.kind == "confirm" and task is not None:
            merged = [s for s in task.intent.readback_in_confirmation if s in task.values]
            for slot in merged:
                spec = self.profile.slots[slot]
                corrected = slots.correction(spec, task.values[slot], lowered, text, self._fresh)
                if corrected.status == "ok" and corrected.value is not None and \
                        not values_equal(corrected.value, task.values[slot]):
                    task.values[slot] = corrected.value
                    return self._confirm(task)
            if affirmed:
                self._awaiting = None
                return self._call(task)
            if denied:
                self._task = None
                self._awaiting = None
                return self._say(task.intent.declined or self.profile.messages.anything_else)
            return None

        if awaiting.kind == "retry" and task is not None:
            if affirmed:
                self._awaiting = None
                return self._call(task)
            if denied:
                self._task = None
                self._awaiting = None
                return self._say(self.profile.messages.anything_else)
            return None

        if awaiting.kind == "transfer":
            if affirmed:
                self._awaiting = None
                return self._escalate(self.profile.escalation.reasons["failures"])
            if denied:
                self._task = None
                self._awaiting = None
                return self._say(self.profile.messages.anything_else)
            return None
        return None

    def _opens_an_answer(self, lowered: str) -> bool:
        """Whether a turn opens as an answer to the slot just asked for (``_OPENS_AN_ANSWER``)."""
        return self._task is not None and self._asked_slot() is not None \
            and bool(_OPENS_AN_ANSWER.match(lowered))

    def _start(self, intent: IntentSpec, text: str, final: bool) -> list[Action]:
        """Begin serving ``intent`` (a new request replaces an unfinished one)."""
        self._awaiting = None
        if intent.escalate is not None:
            return self._escalate(intent.escalate)
        if intent.say is not None and intent.tool is None:
            self._task = None
            return self._say(intent.say.strip())
        if intent.tool is not None and self._tool_name(intent.tool) is None:
            if self.faults.pretend_action:
                return self._claim_success(intent, Task(intent))
            self._task = None
            return self._say(self.profile.messages.cannot.format(action=intent.action))
        self._task = Task(intent)
        return self._collect(self._task, text, final)

    def _collect(self, task: Task, text: str, final: bool) -> list[Action]:
        """Take the values this utterance carries, then take the next step."""
        missing = [s for s in task.intent.slots if s not in task.values]
        asked, taken = self._asked_slot(), []
        for slot in missing:
            got = self._extract(slot, text, asked=slot == asked)
            if got.status == "ok" and got.value is not None \
                    and not slots.part_of_one_taken(got.value, taken, text):
                task.candidates[slot] = got.value
                taken.append(got.value)
            elif got.status == "partial" and (slot == asked or slot == missing[0]):
                return self._partial(task, slot, text, final)
        lowered = repair_phrases(clean(text))
        if not task.candidates and not final and (self._matches("incomplete", lowered)
                                                  or self._opens_an_answer(lowered)):
            return self._hold(text)
        return self._next_step(task)

    def _next_step(self, task: Task) -> list[Action]:
        """Ask for, read back or confirm the next value, or call the tool."""
        intent = task.intent
        for slot in intent.slots:
            if slot in task.values:
                continue
            spec = self.profile.slots[slot]
            candidate = task.candidates.pop(slot, None)
            if candidate is None:
                # Asked already and still no value: say so, and how to give it.
                asked = self._awaiting == Awaiting("slot", slot)
                self._awaiting = Awaiting("slot", slot)
                question = spec.unclear_prompt if asked else spec.prompt
                later = [s for s in intent.slots if s not in task.values and s != slot]
                if self.faults.two_questions and later:
                    question = f"{question} {self.profile.slots[later[0]].prompt}"
                return self._say(question)
            rest_done = all(s in task.values for s in intent.slots if s != slot)
            if slot in intent.readback_in_confirmation and self._confirms(intent) and rest_done:
                # The confirmation question reads this value back.
                task.values[slot] = candidate
                continue
            if spec.readback is None:
                task.values[slot] = candidate
                continue
            self._awaiting = Awaiting("readback", slot, candidate)
            return self._say(self._fill_value(spec.readback, spec, candidate))
        if self._confirms(intent) and not self.faults.skip_confirmation:
            return self._confirm(task)
        return self._call(task)

    def _confirm(self, task: Task) -> list[Action]:
        self._awaiting = Awaiting("confirm")
        return self._say(self._confirmation(task))

    def _confirms(self, intent: IntentSpec) -> bool:
        """Whether the intent asks before its call: it has a question, or its tool writes."""
        name = self._tool_name(intent.tool) if intent.tool else None
        return intent.confirm is not None or (name is not None and name in self.flags.write)

    def _confirmation(self, task: Task) -> str:
        template = task.intent.confirm or self.profile.messages.confirm_write
        return self._fill(template, task, {"action": task.intent.action})

    def _call(self, task: Task) -> list[Action]:
        """Preamble and the tool call for the task's intent."""
        intent = task.intent
        name = self._tool_name(intent.tool) if intent.tool else None
        if name is None:
            self._task = None
            return self._say(self.profile.messages.cannot.format(action=intent.action))
        properties = self._tool_schemas.get(name, {}).get("parameters", {}).get("properties")
        arguments = {arg: task.values[slot] for arg, slot in intent.arguments.items()
                     if slot in task.values and (properties is None or arg in properties)}
        self._pending = (name, arguments)
        self._awaiting = None
        actions: list[Action] = []
        if intent.preambles and not self.faults.no_preamble:
            i = self._preamble_next.get(intent.name, 0)
            self._preamble_next[intent.name] = i + 1
            actions.append(Say(intent.preambles[i % len(intent.preambles)]))
        actions.append(CallTool(name, arguments))
        self._last_said = None
        return actions

    def _partial(self, task: Task, slot: str, text: str, final: bool) -> list[Action]:
        """A partial value: wait for the rest, then ask again (or, faulty, use it)."""
        if not final:
            return self._hold(text)
        spec = self.profile.slots[slot]
        name = self._tool_name(task.intent.tool) if task.intent.tool else None
        reads = name is not None and name not in self.flags.write | self.flags.escalation
        if self.faults.tool_on_partial_id and reads and spec.kind in (
                "digits", "alphanumeric", "phone"):
            partial = self._extract(slot, text, asked=True).value
            if partial:
                task.values[slot] = partial
                return self._next_step(task)
        self._awaiting = Awaiting("slot", slot)
        return self._say(spec.partial_prompt)

    def _hold(self, text: str) -> list[Action]:
        self._held = text
        return []

    def _escalate(self, reason: str, fallback: str | None = None) -> list[Action]:
        """Hand the call to a human: one sentence, then the escalation tool."""
        name = self._flagged(self.flags.escalation)
        if self.faults.never_escalate:
            return self._say(fallback or self.profile.messages.cannot_escalate)
        if name is None:
            return self._say(self.profile.messages.cannot_escalate)
        self._escalated = True
        self._task = None
        self._awaiting = None
        self._pending = (name, {"reason": reason})
        call = CallTool(name, {"reason": reason})
        if self.faults.no_preamble:
            self._handoff_after_call = True
            return [call]
        return [Say(self.profile.messages.handoff), call]

    def _after_repeated_failures(self, task: Task) -> list[Action]:
        esc = self.profile.escalation
        if esc.on_failures == "transfer":
            return self._escalate(esc.reasons["failures"])
        if self._flagged(self.flags.escalation) is None or self.faults.never_escalate:
            self._task = None
            self._awaiting = None
            return self._say(self.profile.messages.anything_else)
        self._awaiting = Awaiting("transfer")
        return self._say(self.profile.messages.failed_again)

    def _claim_success(self, intent: IntentSpec, task: Task) -> list[Action]:
        """The intent's first result line, as if its tool had succeeded (a fault's lie)."""
        self._task = None
        self._awaiting = None
        line = intent.results[0].say if intent.results else self.profile.messages.anything_else
        return self._say(self._fill(line, task))

    def _not_addressed(self) -> list[Action]:
        """Silence (or the wait tool) for audio not meant for the agent."""
        if self.faults.talk_over_noise:
            return self._say(self._unclear())
        filler = self.faults.unaddressed_line()
        if filler is not None:
            return self._say(filler)
        wait = self._flagged(self.flags.wait)
        if self.profile.not_addressed == "wait" and wait is not None:
            return [CallTool(wait, {})]
        return []
