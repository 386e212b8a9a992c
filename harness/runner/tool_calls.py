"""The session's side of the agent's function calls: each answered from the scenario's mocks
after the mock's latency, and one ``response.create`` once the response that made the calls is
done and all are answered (a mixin of :class:`harness.runner.session.TrialSession`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from harness.realtime.protocol import FunctionCall
from harness.recording import ToolCallAnswered
from harness.runner.tools import answer_call


class ToolCalls:
    """Answers function calls over the session's state (see the module docstring)."""

    config: Any
    scenario: Any
    protocol: Any
    writer: Any
    pending: Any
    persona: Any
    tool_counts: dict[str, int]
    tool_tasks: set[asyncio.Task[None]]
    awaiting_response: bool
    last_agent_activity_ms: float
    now_ms: Callable[[], float]
    send: Callable[[Any], Awaitable[None]]

    def _start_tool_answer(self, call: FunctionCall) -> None:
        if call.response_id is not None:
            self.pending.calls[call.response_id].add(call.call_id)
        task = asyncio.create_task(self._answer_tool(call))
        self.tool_tasks.add(task)
        task.add_done_callback(self.tool_tasks.discard)

    async def _answer_tool(self, call: FunctionCall) -> None:
        index = self.tool_counts[call.name]
        self.tool_counts[call.name] += 1
        answer = answer_call(call.name, call.arguments_raw, config=self.config,
                             mocks=self.scenario.tools, call_index=index)
        if answer.latency_ms:
            await asyncio.sleep(answer.latency_ms / 1000.0)
        await self.send(self.protocol.function_output(call.call_id, answer.output))
        t = self.now_ms()
        self.last_agent_activity_ms = max(self.last_agent_activity_ms, t)
        self.writer.annotate(t, "harness.tool.answered", ToolCallAnswered(
            call_id=call.call_id, name=call.name, arguments=answer.arguments,
            arguments_raw=answer.arguments_raw, invented=answer.invented, output=answer.output,
            latency_ms=answer.latency_ms, call_index=answer.call_index))
        if self.persona is not None:
            self.persona.tool_called(call.name, answer.arguments)
        if call.response_id is not None:
            self.pending.calls[call.response_id].discard(call.call_id)
            await self._maybe_follow_up(call.response_id)

    async def _maybe_follow_up(self, response_id: str) -> None:
        """One ``response.create`` once a completed response's calls are all answered."""
        state = self.protocol.responses.get(response_id)
        if (state is None or state.in_progress or not state.call_ids
                or self.pending.calls.get(response_id) or response_id in self.pending.followed_up):
            return
        self.pending.followed_up.add(response_id)
        # a cancelled response (barge-in) or one overtaken by another response needs no follow-up:
        # the outputs are in the conversation for whatever answers next
        if state.status != "completed" or self.protocol.in_progress():
            return
        self.awaiting_response = True
        await self.send(self.protocol.response_create())
