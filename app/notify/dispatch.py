"""The dispatcher: hands each message to a provider of its channel, in batches, within each
provider's limits, and fails over while a gateway is failing.

Each channel has its providers in order (app.notify.providers). A round's messages of one channel
go to the first provider that is not backing off, in batches of its `batch_size`, at most
`in_flight` requests at once, paced by its rate limit, the most urgent first (`priority`). What
that provider does not take (`retry`: a refused connection, a timeout, an error status, or the
gateway's own word) goes on to the next provider of the channel in the same round, under the same
`message_id`; what no provider takes goes back to the sender, which queues it again with back-off.

A provider that takes nothing in a round backs off (1, 2, 4 ... 60 s, jittered); meanwhile its
channel's messages go to the next provider. When the pause is over, one message probes it first;
if the probe is taken, the provider carries its traffic again. Back-off is what this process has
seen; the state is also written to the database (app.notify.health) so that every process's
/readyz and console can say when a whole channel is down.
"""

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import Counter, Gauge

from app.notify.base import CalleeLimit, Outcome, Outgoing, Provider

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 60.0
CLAIM_SECONDS = 5.0  # a rate-limited channel is claimed for about this long at a time

GATEWAY_BACKOFF = Gauge(
    "jiaoying_gateway_backoff_seconds", "Seconds a provider is backing off its failing gateway.", ["provider"]
)
FAILOVERS = Counter(
    "jiaoying_failover_messages_total",
    "Messages handed to a later provider of their channel because an earlier one did not take them.",
    ["channel", "provider"],
)
HealthListener = Callable[[str, bool, str | None], Awaitable[None]]


def backoff_s(tries: int, *, base: float = 1.0, cap: float = MAX_BACKOFF_S) -> float:
    """Exponential back-off with full jitter in its upper half: 1, 2, 4 ... seconds, at most `cap`."""
    ceiling = min(cap, base * 2 ** min(max(tries - 1, 0), 16))
    return random.uniform(ceiling / 2, ceiling)


class Pace:
    """A rate limit that waits, never drops: `rate` messages per second, with one second's burst."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.free_at = 0.0  # when everything reserved so far has gone out at the rate

    async def take(self, count: int) -> None:
        now = time.monotonic()
        self.free_at = max(self.free_at, now) + count / self.rate
        delay = self.free_at - now - 1.0
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass
class Health:
    """A provider's gateway as this process sees it."""

    failed_rounds: int = 0
    resume_at: float = 0.0

    def ready(self) -> bool:
        return time.monotonic() >= self.resume_at

    @property
    def probing(self) -> bool:
        """Back from a pause: one message goes first, to see whether the gateway takes it."""
        return self.failed_rounds > 0


class Dispatcher:
    """Every provider of this process, by channel, and how each is doing."""

    def __init__(self, chains: dict[str, list[Provider]], *, on_health: HealthListener | None = None) -> None:
        self.chains = chains
        self.providers: dict[str, Provider] = {p.name: p for providers in chains.values() for p in providers}
        self.health = {name: Health() for name in self.providers}
        self.gates = {name: asyncio.Semaphore(p.capabilities.in_flight) for name, p in self.providers.items()}
        self.paces = {
            (name, channel): Pace(rate)
            for name, provider in self.providers.items()
            for channel, rate in provider.capabilities.rates.items()
        }
        self.on_health = on_health

    @classmethod
    def serving(cls, provider: Provider) -> "Dispatcher":
        """One provider for every channel it carries (tests, benchmarks, the demo)."""
        return cls({channel: [provider] for channel in provider.capabilities.channels})

    async def start(self) -> None:
        for provider in self.providers.values():
            await provider.start()

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.close()

    @property
    def writes_database(self) -> bool:
        """Whether a provider in use hands messages to our own database (SQLite then sends in one lane)."""
        return any(p.capabilities.writes_database for p in self.providers.values())

    @property
    def channels(self) -> list[str]:
        """The channels some provider carries; the others are unavailable."""
        return list(self.chains)

    def _first_ready(self, channel: str) -> Provider | None:
        return next((p for p in self.chains[channel] if self.health[p.name].ready()), None)

    def batch_size(self, default: int) -> int:
        """How many due messages a round should claim: none while every channel is down; one while
        no channel has a provider that is taking messages, only ones about to be probed (claiming
        more would turn due attempts into messages that then wait, instead of letting them merge);
        and no more than a rate limit lets out in a few seconds."""
        first = [p for p in (self._first_ready(channel) for channel in self.chains) if p is not None]
        if not first:
            return 0
        flowing = [
            p for chain in self.chains.values() for p in chain
            if self.health[p.name].ready() and not self.health[p.name].probing
        ]  # fmt: skip
        if not flowing:
            return 1
        rates = [rate for p in first for rate in p.capabilities.rates.values()]
        return max(1, min(default, int(min(rates) * CLAIM_SECONDS))) if rates else default

    def callee_limits(self, channel: str) -> tuple[CalleeLimit, ...]:
        """Per-callee limits of the channel's first provider (the one that normally carries it)."""
        chain = self.chains.get(channel) or []
        return chain[0].capabilities.per_callee.get(channel, ()) if chain else ()

    async def hand_over(self, messages: list[Outgoing]) -> list[Outcome]:
        """Hand every message to a provider of its channel; an outcome for each, naming the provider.
        A provider that took none of what it was given this round backs off; one that took any
        after a pause carries its traffic again."""
        by_channel: dict[str, list[Outgoing]] = {}
        for message in sorted(messages, key=lambda m: m.priority):
            by_channel.setdefault(message.channel, []).append(message)
        seen: dict[str, list[str | None]] = {}  # provider -> per request: None if taken, else the error
        done = await asyncio.gather(*(self._channel(channel, waiting, seen) for channel, waiting in by_channel.items()))
        for name, answers in seen.items():
            provider = self.providers[name]
            if all(answer is not None for answer in answers):
                await self._failed(provider, answers[0])
            elif self.health[name].probing:
                await self._recovered(provider)
        return [outcome for outcomes in done for outcome in outcomes]

    async def _channel(self, channel: str, waiting: list[Outgoing], seen: dict[str, list[str | None]]) -> list[Outcome]:
        """One channel's messages down its providers in order, until every one is settled."""
        settled: list[Outcome] = []
        last_error: dict[str, str | None] = {}
        chain = self.chains.get(channel)
        if not chain:  # configured away while the message waited: it can never go
            error = f"no provider is configured for {channel}"
            return [Outcome(m.message_id, "rejected", error) for m in waiting]
        carried = {m.message_id for m in waiting if any(p.capabilities.carries(channel, m.kind) for p in chain)}
        never = [m for m in waiting if m.message_id not in carried]  # no provider has a template for it, say
        waiting = [m for m in waiting if m.message_id in carried]
        for position, provider in enumerate(chain):
            if not waiting:
                break
            health = self.health[provider.name]
            able = [m for m in waiting if provider.capabilities.carries(channel, m.kind)]
            if not health.ready() or not able:
                continue
            # A failover: messages an earlier provider would have carried, had it been taking them.
            passed_on = [m for m in able if any(p.capabilities.carries(channel, m.kind) for p in chain[:position])]
            if passed_on:
                FAILOVERS.labels(channel, provider.name).inc(len(passed_on))
            # After a pause, one message probes the gateway before the rest go.
            probing = health.probing
            outcomes = await self._send(provider, channel, able[:1] if probing else able)
            if probing and not outcomes[0].unreachable:
                outcomes += await self._send(provider, channel, able[1:])
            # What a gateway that answers takes, rejects or asks to have again later is settled here;
            # only what could not reach it (refused, timed out, an error status) goes on to the next.
            settled.extend(o for o in outcomes if not o.unreachable)
            unreached = {o.message_id: o.error for o in outcomes if o.unreachable}
            reached = len(outcomes) > len(unreached)
            seen.setdefault(provider.name, []).append(None if reached else next(iter(unreached.values())))
            last_error.update(unreached)
            answered = {o.message_id for o in outcomes if not o.unreachable}  # not those a failed probe held back
            waiting = [m for m in waiting if m.message_id not in answered]
        unavailable = f"no provider of {channel} is taking messages"
        return (
            settled
            + [
                Outcome(m.message_id, "retry", last_error.get(m.message_id) or unavailable, unreachable=True)
                for m in waiting
            ]
            + [Outcome(m.message_id, "rejected", f"no provider of {channel} carries {m.kind} messages") for m in never]
        )

    async def _send(self, provider: Provider, channel: str, messages: list[Outgoing]) -> list[Outcome]:
        """Messages to one provider: in batches, at most `in_flight` at once, at its pace."""
        if not messages:
            return []
        size = provider.capabilities.batch_size
        pace = self.paces.get((provider.name, channel))
        if pace is not None:  # a paced channel goes in small batches, so no batch waits long
            size = max(1, min(size, int(pace.rate)))
        gate = self.gates[provider.name]

        async def one(batch: list[Outgoing]) -> list[Outcome]:
            async with gate:
                if pace is not None:
                    await pace.take(len(batch))
                outcomes = await provider.send(batch)
            for outcome in outcomes:
                outcome.provider = provider.name
            return outcomes

        batches = [messages[start : start + size] for start in range(0, len(messages), size)]
        done = await asyncio.gather(*(one(batch) for batch in batches))
        return [outcome for outcomes in done for outcome in outcomes]

    async def _failed(self, provider: Provider, error: str | None) -> None:
        health = self.health[provider.name]
        if not health.ready():  # another lane saw the same failure and already backed off
            return
        health.failed_rounds += 1
        pause = backoff_s(health.failed_rounds)
        health.resume_at = time.monotonic() + pause
        GATEWAY_BACKOFF.labels(provider.name).set(pause)
        meanwhile = []
        for channel, chain in self.chains.items():
            if provider in chain:
                others = [p.name for p in chain if p is not provider and self.health[p.name].ready()]
                meanwhile.append(f"{channel} by {others[0]}" if others else f"{channel} waits")
        log.warning(
            "provider %s took nothing (%s), %d round(s) in a row; backing off %.1f s; meanwhile %s",
            provider.name, error, health.failed_rounds, pause, ", ".join(meanwhile),
        )  # fmt: skip
        if self.on_health is not None:
            await self.on_health(provider.name, False, error)

    async def _recovered(self, provider: Provider) -> None:
        health = self.health[provider.name]
        log.warning("provider %s takes messages again after %d failed round(s)", provider.name, health.failed_rounds)
        health.failed_rounds = 0
        health.resume_at = 0.0
        GATEWAY_BACKOFF.labels(provider.name).set(0)
        if self.on_health is not None:
            await self.on_health(provider.name, True, None)
