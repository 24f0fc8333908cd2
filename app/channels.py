"""The channels a person is called on, declared once: what each carries and how an answer on it
is recorded. The roster, policies, sender, pages and exports ask this registry instead of naming
`sms` and `voice` themselves; which provider serves a channel is the notify package's business
(app.notify.providers).
"""

from dataclasses import dataclass
from typing import Literal

ChannelName = Literal["sms", "voice"]


@dataclass(frozen=True)
class Channel:
    name: str
    label: str  # as pages and exports name it
    # "text": a short message with the 【signature】 and the person's link, at most two segments;
    # "speech": a script read out on a call, without a link, ending with the key to press.
    form: Literal["text", "speech"]
    ack_method: str  # how an answer on this channel is recorded (a reply, a key)


CHANNELS: dict[str, Channel] = {
    "sms": Channel("sms", "短信", "text", "sms_reply"),
    "voice": Channel("voice", "语音", "speech", "voice_key"),
}
NAMES: tuple[str, ...] = tuple(CHANNELS)


def label(name: str) -> str:
    """A channel's Chinese name (the code itself for one this version does not know)."""
    channel = CHANNELS.get(name)
    return channel.label if channel else name


def is_text(name: str) -> bool:
    """Whether the channel carries text (a signature and the person's link), not speech."""
    return CHANNELS[name].form == "text"


def notice_channel(available: list[str]) -> str:
    """The channel a notice (lifting, withdrawal) goes by: text where the person has it."""
    for name in sorted(available, key=lambda name: CHANNELS[name].form != "text"):
        return name
    raise ValueError("a person without channels cannot be told anything")


def speech_first(available: list[str]) -> str:
    """The channel a one-click call (一键呼叫) uses: a call where the person has one, else text."""
    for name in sorted(available, key=lambda name: CHANNELS[name].form != "speech"):
        return name
    raise ValueError("a person without channels cannot be called")
