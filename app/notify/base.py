"""What every provider is: the messages it is handed, what it answers, and what it declares it can
do. The registry of providers is app.notify.providers; app.notify.dispatch routes messages to them.
"""

from dataclasses import dataclass, field
from typing import Literal, Protocol

OutcomeStatus = Literal["accepted", "rejected", "retry"]


@dataclass
class Outgoing:
    """A message as a provider receives it (the webhook's JSON body has these fields)."""

    message_id: str
    call_id: str | None  # None for a message outside any call (a contact's report link)
    warning_id: str | None  # None for a call about a hazard report, which `hazard_id` names
    kind: str
    channel: str
    to: str
    text: str
    ack_url: str | None
    level: str  # the warning's; red (urgent) or orange for a hazard report; blue outside any call
    hazard_id: str | None = None
    contact_id: str | None = None  # ours, not sent: whom a message outside any call is for
    region_code: str | None = None  # ours, not sent: that contact's region, for the record
    attempt: int = 1  # ours, not sent: 0 for notices outside the ladder
    priority: int = 0  # ours, not sent: lower goes first when messages must wait (see call.priority)


@dataclass
class Outcome:
    """What became of one message: `accepted` by the gateway, `rejected` (never deliverable: a
    failure on the record), or `retry` (not taken now: sent again later, by the next provider of
    its channel when the gateway was `unreachable`)."""

    message_id: str
    status: OutcomeStatus
    error: str | None = None
    provider: str | None = None  # the provider that gave this answer (set by the dispatcher)
    # `retry` because the gateway could not be reached or failed (refused, timed out, an error
    # status), not by its own word: the message goes on to the channel's next provider.
    unreachable: bool = False

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


@dataclass(frozen=True)
class CalleeLimit:
    """At most `calls` messages of a channel to one number within `seconds` (a cloud rations calls
    per callee); an attempt that would break it waits, and merges with the next if that comes first."""

    calls: int
    seconds: float


@dataclass(frozen=True)
class Capabilities:
    """What a provider declares it can do; the dispatcher and the sender ask, never assume."""

    channels: frozenset[str]
    batch_size: int = 1  # messages per request to the gateway
    in_flight: int = 8  # requests at once
    rates: dict[str, float] = field(default_factory=dict)  # messages per second per channel; absent: no limit
    per_callee: dict[str, tuple[CalleeLimit, ...]] = field(default_factory=dict)
    personal_text: bool = True  # each recipient gets its own text (its own link) in a batch
    writes_database: bool = False  # hands messages to our own database (the console), not a network
    # Per channel, the message kinds it can carry (a cloud sends only approved templates); a channel
    # absent here carries every kind.
    kinds: dict[str, frozenset[str]] = field(default_factory=dict)
    # Sends Jiaoying's text as written, in the person's language; a cloud sends its approved
    # (Chinese) templates instead.
    own_text: bool = True

    def carries(self, channel: str, kind: str) -> bool:
        return channel not in self.kinds or kind in self.kinds[channel]


def templated(chains: dict[str, list["Provider"]]) -> frozenset[str]:
    """The channels whose first provider sends approved templates, not Jiaoying's own text."""
    return frozenset(channel for channel, chain in chains.items() if chain and not chain[0].capabilities.own_text)


def kinds_carried(chains: dict[str, list["Provider"]]) -> dict[str, frozenset[str]]:
    """Per channel, the kinds some provider of it carries; left out where one carries every kind."""
    found: dict[str, frozenset[str]] = {}
    for channel, chain in chains.items():
        if chain and all(channel in p.capabilities.kinds for p in chain):
            found[channel] = frozenset().union(*(p.capabilities.kinds[channel] for p in chain))
    return found


@dataclass
class Plan:
    """What making messages needs to know: the channels some provider carries (and which kinds of
    message), the per-callee limits of each channel's first provider, and the deployment's SMS
    signature and public address (for the links), from the settings the process was started with."""

    channels: list[str]
    signature: str = field(kw_only=True)
    public_url: str = field(kw_only=True)
    callee_limits: dict[str, tuple[CalleeLimit, ...]] = field(default_factory=dict)
    # Per channel, the message kinds some provider of it carries; a channel absent carries every kind.
    kinds: dict[str, frozenset[str]] = field(default_factory=dict)
    # Channels whose first provider sends approved templates (Chinese), not the person's own words.
    templated: frozenset[str] = frozenset()

    def carries(self, channel: str, kind: str) -> bool:
        """Whether a message of this kind can go by the channel (else the person's other channels go)."""
        return channel in self.channels and (channel not in self.kinds or kind in self.kinds[channel])


class Provider(Protocol):
    """A way to the phone network. `send` makes one request of at most `batch_size` messages and
    answers for each; it raises nothing for a gateway's failure (a refused connection, a timeout,
    an error status): those are `retry` outcomes, which the dispatcher counts against the gateway."""

    name: str
    capabilities: Capabilities

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def send(self, batch: list[Outgoing]) -> list[Outcome]: ...
