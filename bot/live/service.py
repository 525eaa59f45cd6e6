"""What happens in a live hand-off, whatever carries it: queueing, accepting, messages
both ways, handing back, and putting a conversation whose agent vanished back in the
queue. Each step changes the record (:mod:`bot.live.store`) first and then publishes an
event on the bus (:mod:`bot.live.bus`), so every web process can tell its own members'
and agents' browsers; a process that restarts reads the state back from the record.

The assistant is silenced by Rasa's own mechanism: the action that offers the hand-off
pauses the conversation, and :class:`LiveService` resumes it (through Rasa's HTTP API,
``resume``) when the live exchange ends, however it ends.

Events are plain dicts with a ``kind``: ``queue`` (the queue changed), ``status`` (a
conversation was accepted, requeued or ended), ``message`` and ``typing``. They carry the
member's conversation id (for the member's sockets) and the agent's name (for theirs);
browsers are sent only what is theirs to see (:mod:`bot.web.live`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import statistics
from collections.abc import Awaitable, Callable
from typing import Any

from bot.live.bus import LocalBus
from bot.live.store import ACTIVE, WAITING, LiveConversation, LiveMessage, LiveStore
from bot.privacy.cards import redact_card_data
from bot.privacy.masking import mask_text

log = logging.getLogger(__name__)

#: What the member is told when a person takes the chat, when the live exchange ends
#: (by why it ended) and when their person was disconnected. English, with the agent's
#: first name for ``%(agent)s``: the widget shows them in the member's language from the
#: gettext catalogues (they are among bot.web.member.WIDGET_TEXTS).
JOINED = "%(agent)s from member services has joined the chat."
ENDINGS = {
    "handed_back": "%(agent)s handed you back to the assistant. You can ask me anything again.",
    "closed": "%(agent)s closed the chat. Thank you for talking to member services. "
    "You can still ask me questions here.",
    "member_left": "You left the chat with member services. You can ask me questions again.",
}
REQUEUED = "%(agent)s was disconnected. You are back in the queue and the next available person will join you."
#: Refusals a member's live socket sends (shown in the widget's language too).
TOO_FAST = "You're sending messages very fast. Please wait a moment."
NOT_SENT = "Sorry, your message could not be sent. Please try again."


#: The wait estimate members are told: the median of the last accepts within this window.
WAIT_HISTORY_SECONDS = 2 * 3600.0
WAIT_HISTORY_ACCEPTS = 20


class LiveError(Exception):
    """A live step that is not possible now (the conversation ended, another agent has it);
    the message says why, for the person who tried."""


def first_name(agent: str) -> str:
    """What members see of an agent's account name: its first part, capitalised
    (``maria.lopez`` -> ``Maria``)."""
    first = re.split(r"[._@\-\s]+", agent.strip(), maxsplit=1)[0]
    return first[:1].upper() + first[1:] if first else "An agent"


def stored_text(text: str) -> str:
    """A live message as it is stored and shown: card data cut out, personal data masked."""
    return mask_text(redact_card_data(text)[0])


class LiveService:
    """The steps of live hand-offs over a store, a bus and a way to resume the assistant."""

    def __init__(self, store: LiveStore, bus: LocalBus, resume: Callable[[str], Awaitable[None]]) -> None:
        self.store = store
        self.bus = bus
        self._resume = resume

    async def _db(self, method: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(method, *args)

    async def _publish(self, kind: str, live: LiveConversation | None = None, **extra: Any) -> None:
        event: dict[str, Any] = {"kind": kind, **extra}
        if live is not None:
            event.update(live_id=live.id, conversation=live.conversation_id, agent=live.agent, status=live.status)
        await self.bus.publish(event)

    async def _say(self, live: LiveConversation, role: str, author: str, text: str) -> LiveMessage:
        message = await self._db(self.store.add_message, live.id, role, author, text)
        await self._publish("message", live, message=message.as_dict())
        return message

    # ----------------------------------------------------------------- member

    async def open_for(self, conversation: str) -> LiveConversation | None:
        return await self._db(self.store.open_for, conversation)

    async def join(self, conversation: str) -> LiveConversation:
        """Queue the member's conversation (once: a second call keeps its place)."""
        live, new = await self._db(self.store.enqueue, conversation)
        if new:
            await self._publish("queue")
            await self._publish("status", live)
        return live

    async def position(self, live: LiveConversation) -> int:
        return await self._db(self.store.position, live)

    async def wait_estimate(self) -> float | None:
        """How long members waited for an agent lately: the median of the last
        ``WAIT_HISTORY_ACCEPTS`` accepts in the last ``WAIT_HISTORY_SECONDS``; None when
        there were none, so no member is told a figure without data behind it."""
        since = self.store.clock() - WAIT_HISTORY_SECONDS
        waits = await self._db(self.store.recent_waits, since, WAIT_HISTORY_ACCEPTS)
        return statistics.median(waits) if waits else None

    async def member_says(self, conversation: str, text: str) -> LiveMessage:
        live = await self.open_for(conversation)
        if live is None:
            raise LiveError("This chat with member services has ended.")
        return await self._say(live, "member", "", stored_text(text))

    async def member_typing(self, conversation: str) -> None:
        live = await self.open_for(conversation)
        if live is not None and live.status == ACTIVE:
            await self._publish("typing", live, role="member")

    async def member_leaves(self, conversation: str) -> None:
        live = await self.open_for(conversation)
        if live is not None:
            await self._end(live, "member_left")

    # ----------------------------------------------------------------- agent

    async def accept(self, live_id: int, agent: str) -> LiveConversation:
        """``agent`` takes a waiting conversation; LiveError when another agent was first."""
        if not await self._db(self.store.accept, live_id, agent):
            raise LiveError("Another agent has already taken this conversation, or the member left.")
        live = await self._db(self.store.get, live_id)
        await self._publish("status", live)
        await self._say(live, "system", agent, JOINED % {"agent": first_name(agent)})
        await self._publish("queue")
        return live

    async def _handled(self, live_id: int, agent: str) -> LiveConversation:
        live = await self._db(self.store.get, live_id)
        if live is None or live.status != ACTIVE or live.agent != agent:
            raise LiveError("This conversation is no longer yours: it ended or went back to the queue.")
        return live

    async def agent_says(self, live_id: int, agent: str, text: str) -> LiveMessage:
        live = await self._handled(live_id, agent)
        return await self._say(live, "agent", agent, stored_text(text))

    async def agent_typing(self, live_id: int, agent: str) -> None:
        live = await self._handled(live_id, agent)
        await self._publish("typing", live, role="agent")

    async def finish(self, live_id: int, agent: str, reason: str) -> None:
        """The agent hands the member back to the assistant (``handed_back``) or closes (``closed``)."""
        if reason not in ("handed_back", "closed"):
            raise LiveError("Unknown way to end a chat.")
        live = await self._handled(live_id, agent)
        await self._end(live, reason)

    async def _end(self, live: LiveConversation, reason: str) -> None:
        if not await self._db(self.store.end, live.id, reason):
            return  # someone else ended it at the same moment
        ended = await self._db(self.store.get, live.id)
        await self._say(ended, "system", live.agent or "", ENDINGS[reason] % {"agent": first_name(live.agent or "")})
        try:
            await self._resume(live.conversation_id)
        except Exception:  # the member is told; the next hand-off or Rasa's restart sorts the tracker out
            log.exception("could not resume the assistant after a live chat")
        await self._publish("status", ended, reason=reason, previous_agent=live.agent)
        if live.status == WAITING:
            await self._publish("queue")

    # ----------------------------------------------------------------- faults

    async def sweep(self, grace_seconds: float) -> int:
        """Put back in the queue every conversation whose agent's console has been gone for
        ``grace_seconds`` (their browser dropped, or their web process died); the member
        is told. Returns how many went back."""
        requeued = 0
        for live in await self._db(self.store.abandoned, grace_seconds):
            agent = live.agent or ""
            if not await self._db(self.store.requeue, live.id, agent):
                continue  # another process swept it, or the agent came back
            requeued += 1
            back = await self._db(self.store.get, live.id)
            await self._say(back, "system", agent, REQUEUED % {"agent": first_name(agent)})
            await self._publish("status", back, reason="requeued", previous_agent=agent)
            await self._publish("queue")
        return requeued
