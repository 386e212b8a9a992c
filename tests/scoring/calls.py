"""A realistic support call built with CallBuilder, with each local-agent fault as a variant.

The call: greeting request, a cut-off order ID, the full ID, a read-back and yes, a lookup with a
preamble, a confirmation and yes, the cancellation, a barge-in, hold music, and a hand-off.
"""

from __future__ import annotations

from typing import Any

from tests.scoring.builder import CallBuilder, Spoken

REACTION_GAP_MS = 700.0
AGENT_LATENCY_MS = 700.0
ADDED_LATENCY_MS = 900.0
LOOKUP_LATENCY_MS = 1200.0

FAULTS = ["no_preamble", "skip_confirmation", "misread_digit", "ignore_barge_in",
          "never_escalate", "tool_on_partial_id", "talk_over_noise", "added_latency_ms"]

EXPECT: list[dict[str, Any]] = [
    {"latency": {"max_ms": 1500, "turns": "plain"}},
    {"preamble": {"before_tool": "lookup_order", "max_sentences": 2,
                  "avoid": ["let me think"]}},
    {"entity_confirmed": {"entity": "order_id"}},
    {"confirmation_before_write": {"tool": "cancel_order"}},
    {"escalation": "required"},
    {"barge_in": {"max_stop_ms": 500}},
    {"no_response": {}},
    {"dead_air": {"max_ms": 3000}},
    {"turn_answered": {}},
    {"tool_called": {"name": "cancel_order", "arguments": {"order_id": "83521"}}},
    {"transcript": {"must_not_say": ["I'm going to use my tools"]}},
]

FAULT_FAILS = {
    "no_preamble": "preamble",
    "skip_confirmation": "confirmation_before_write",
    "misread_digit": "entity_confirmed",
    "ignore_barge_in": "barge_in",
    "never_escalate": "escalation",
    "tool_on_partial_id": "entity_confirmed",
    "talk_over_noise": "no_response",
    "added_latency_ms": "latency",
}
"""The one expectation kind each fault must fail (every other expectation passes)."""


class _Call:
    def __init__(self, fault: str | None, expect: list[Any] | None):
        self.b = CallBuilder(expect=expect if expect is not None else EXPECT)
        self.fault = fault
        self.latency = AGENT_LATENCY_MS + (ADDED_LATENCY_MS if fault == "added_latency_ms" else 0)
        self.busy_until = 0.0

    def reply(self, after: float, say: str | None, call: tuple[str, dict[str, Any]] | None = None,
              **kw: Any) -> Spoken:
        """A response whose audio is audible ``latency`` after ``after`` (queued after earlier
        audio, as the playback clock does)."""
        created = after + self.latency - 145.0
        first_audio = created + 120.0
        start = max(first_audio, self.busy_until)
        s = self.b.respond(created, say, call=call, play_start=start, **kw)
        if say is not None:
            self.busy_until = kw.get("stop_at") or start + s.audio_ms
        return s

    def tool_round(self, s: Spoken, latency_ms: float, follow: str | None,
                   output: Any = None) -> Spoken | None:
        answered = self.b.call_time(s) + latency_ms
        self.b.answer(s, answered, output)
        return self.reply(answered, follow) if follow is not None else None

    def next_start(self) -> float:
        return self.busy_until + REACTION_GAP_MS

    def turn(self, text: str | None, **kw: Any) -> int:
        return self.b.caller(self.next_start(), text, **kw)


def order_call(fault: str | None = None, expect: list[Any] | None = None) -> CallBuilder:
    """The support call, fault-free or with one local-agent fault."""
    c = _Call(fault, expect)
    b = c.b
    digits = "eight, three, five, two, one"
    heard = "eight, three, five, two, seven" if fault == "misread_digit" else digits

    t0 = b.caller(1000.0, "Hi, I need to cancel an order.")
    c.reply(b.speech_end(t0), "Sure, I can help with that. What is the order number?")

    t1 = c.turn("It's eight, three, five, two, one.", spoken_text="It's eight, three,",
                cut_off=True, duration=900.0)
    if fault == "tool_on_partial_id":
        s = c.reply(b.speech_end(t1), "I'll look up order eight three.",
                    call=("lookup_order", {"order_id": "83"}))
        c.tool_round(s, LOOKUP_LATENCY_MS, "I couldn't find that order. Could you repeat it?",
                     {"error": "not_found"})
    else:
        c.reply(b.speech_end(t1), "I only heard part of the order number. Could you repeat it "
                                  "digit by digit?")

    t2 = c.turn(f"{digits.capitalize()}.", entity={"order_id": "83521"})
    c.reply(b.speech_end(t2), f"Just to confirm, I heard {heard}. Is that right?")

    t3 = c.turn("Yes, that's right.", intent="affirm")
    pre = None if fault == "no_preamble" else "I'll check that order now."
    s = c.reply(b.speech_end(t3), pre, call=("lookup_order", {"order_id": "83521"}))
    if fault == "skip_confirmation":
        c.tool_round(s, LOOKUP_LATENCY_MS, None, {"status": "shipped"})
        answered = b.call_time(s) + LOOKUP_LATENCY_MS
        s2 = c.reply(answered, "It has shipped. I'll cancel it now.",
                     call=("cancel_order", {"order_id": "83521"}))
        c.tool_round(s2, 300.0, "Your order is cancelled.", {"cancelled": True})
        t4 = c.turn("Yes, please go ahead.", intent="affirm")
        final = c.reply(b.speech_end(t4), "Your order is already cancelled. You will get a refund "
                                          "within five business days. Anything else?")
    else:
        c.tool_round(s, LOOKUP_LATENCY_MS,
                     f"It has shipped. Should I cancel order {heard}?", {"status": "shipped"})
        t4 = c.turn("Yes, please go ahead.", intent="affirm")
        s = c.reply(b.speech_end(t4), "Cancelling it now.",
                    call=("cancel_order", {"order_id": "83521"}))
        answered = b.call_time(s) + 300.0
        b.answer(s, answered, {"cancelled": True})
        final = c.reply(answered, "Your order is cancelled. You will get a refund within five "
                                  "business days. Is there anything else I can help with?")

    # The caller barges in 900 ms into the agent's last answer.
    assert final.play_start_ms is not None
    onset = final.play_start_ms + 25.0 + 900.0
    # Under ignore_barge_in the agent only hears the caller once its own audio has played out.
    t5 = b.caller(onset - 20.0, "Actually wait, can I also change my email?", trigger="barge_in",
                  vad_started_at=final.play_start_ms + final.audio_ms
                  if fault == "ignore_barge_in" else None)
    if fault == "ignore_barge_in":
        c.busy_until = final.play_start_ms + final.audio_ms
    else:
        stop = onset + 90.0 + 5.0
        played = stop - final.play_start_ms
        _retime_stop(b, final, stop, played)
        b.truncate(stop + 1.0, final.item_id, int(played))
        c.busy_until = stop
    c.busy_until = max(c.busy_until, b.speech_end(t5))
    answer_after = b.speech_end(t5)
    if fault == "ignore_barge_in":
        # The deferred speech_started/stopped come after the agent's audio; so does the answer.
        answer_after = max(answer_after, final.play_start_ms + final.audio_ms)
    c.reply(answer_after, "Sure. What is the new email address?")

    play_start = c.next_start()
    b.caller(play_start, None, kind="play", duration=4000.0, vad=True)
    if fault == "talk_over_noise":
        c.reply(play_start + 800.0, "Sorry, I didn't catch that. Could you say it again?")
    else:
        s = b.respond(play_start + 1200.0, None, call=("wait_for_user", {}))
        b.answer(s, b.call_time(s) + 5.0, {"ok": True}, follow_up=False)
    c.busy_until = max(c.busy_until, play_start + 4040.0)

    t7 = c.turn("I'd like to talk to a person, please.")
    if fault == "never_escalate":
        c.reply(b.speech_end(t7), "I can help you with that myself. What do you need?")
    else:
        s = c.reply(b.speech_end(t7), "I'll connect you with a colleague now.",
                    call=("escalate_to_human", {}))
        b.answer(s, b.call_time(s) + 50.0, {"transferred": True}, follow_up=False)
    return b


def _retime_stop(b: CallBuilder, spoken: Spoken, stop: float, played: float) -> None:
    """Turn a drained playback into one the runner interrupted at ``stop``."""
    for i, (_t, order, d, ty, ev) in enumerate(b._frames):
        if ty == "harness.playback.stopped" and ev["response_id"] == spoken.response_id:
            ev = dict(ev, reason="interrupted", played_ms=played,
                      dropped_ms=spoken.audio_ms - played)
            b._frames[i] = (stop, order, d, ty, ev)
