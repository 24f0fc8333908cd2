"""The providers, by name, and which of them serve each channel.

Adding a provider is one module (a class with `name`, `channels`, `from_settings`, `capabilities`
and `send`, see app.notify.base) and one entry in PROVIDERS. JIAOYING_PROVIDERS
(`sms=kannel,webhook;voice=aliyun`) names each channel's providers in failover order;
JIAOYING_PROVIDER alone names one provider for every channel it can carry. A channel no configured
provider carries is unavailable: attempts go by the person's other channels.
"""

import logging
from typing import Protocol

from app.channels import NAMES
from app.config import Settings
from app.notify import health
from app.notify.aliyun import AliyunProvider
from app.notify.base import Plan, Provider, kinds_carried, templated
from app.notify.console import ConsoleProvider
from app.notify.dispatch import Dispatcher
from app.notify.kannel import KannelProvider
from app.notify.webhook import WebhookProvider

log = logging.getLogger(__name__)


class ProviderClass(Protocol):
    """A provider's class: its name, the channels it can carry, and how settings make one."""

    name: str
    channels: frozenset[str]

    def from_settings(self, settings: Settings) -> Provider: ...


PROVIDERS: dict[str, ProviderClass] = {
    "console": ConsoleProvider,
    "webhook": WebhookProvider,
    "kannel": KannelProvider,
    "aliyun": AliyunProvider,
}


def chains(settings: Settings) -> dict[str, list[str]]:
    """Each channel's providers, in failover order; a channel left out is unavailable. Raises
    ValueError with a sentence for a name the registry does not know or a channel a provider cannot carry."""
    if settings.providers:
        named: dict[str, list[str]] = {}
        for part in filter(None, (part.strip() for part in settings.providers.split(";"))):
            channel, sep, listed = part.partition("=")
            channel = channel.strip()
            if not sep or channel not in NAMES:
                raise ValueError(
                    f"JIAOYING_PROVIDERS: {part!r} should read CHANNEL=PROVIDER[,PROVIDER...] with a channel of "
                    f"{', '.join(NAMES)}"
                )
            if channel in named:
                raise ValueError(f"JIAOYING_PROVIDERS names {channel} twice; give its providers once, in order.")
            named[channel] = [name.strip() for name in listed.split(",") if name.strip()]
            if not named[channel]:
                raise ValueError(f"JIAOYING_PROVIDERS: {channel} has no provider after '='.")
    else:
        named = {channel: [settings.provider] for channel in NAMES}
    result: dict[str, list[str]] = {}
    for channel, names in named.items():
        for name in names:
            if name not in PROVIDERS:
                raise ValueError(f"Unknown provider {name!r}; this version has {', '.join(PROVIDERS)}.")
        carried = [name for name in dict.fromkeys(names) if channel in PROVIDERS[name].channels]
        if settings.providers and len(carried) < len(set(names)):
            wrong = [name for name in names if name not in carried]
            raise ValueError(f"JIAOYING_PROVIDERS: {', '.join(wrong)} cannot carry {channel}.")
        if carried:
            result[channel] = carried
    return result


def unavailable_channels(settings: Settings) -> list[str]:
    """Channels no configured provider carries (the console says so)."""
    served = chains(settings)
    return [channel for channel in NAMES if channel not in served]


def keeps_outbox(settings: Settings) -> bool:
    """Whether the console provider serves any channel (the dev outbox exists only then)."""
    return any("console" in names for names in chains(settings).values())


def make_providers(settings: Settings) -> dict[str, list[Provider]]:
    """Each channel's providers, built from the settings; one instance per provider name."""
    built: dict[str, Provider] = {}
    result: dict[str, list[Provider]] = {}
    for channel, names in chains(settings).items():
        for name in names:
            if name not in built:
                built[name] = PROVIDERS[name].from_settings(settings)
            if channel not in built[name].capabilities.channels:  # a channel it can carry, not set up
                raise ValueError(f"the {name} provider is not set up for {channel} (see the README's {name} settings)")
            result.setdefault(channel, []).append(built[name])
    return result


def plan(settings: Settings) -> Plan:
    """What making messages needs to know of the configured providers, in a process that may not
    run them (the API's one-click call)."""
    built = make_providers(settings)
    limits = {channel: chain[0].capabilities.per_callee.get(channel, ()) for channel, chain in built.items()}
    return Plan(list(built), {channel: rules for channel, rules in limits.items() if rules}, kinds_carried(built),
                templated(built), signature=settings.sms_signature, public_url=settings.public_url)  # fmt: skip


def make_dispatcher(settings: Settings) -> Dispatcher:
    """This process's dispatcher: the configured providers by channel, their states on record."""
    chains = make_providers(settings)
    carried = "; ".join(f"{channel} by {', then '.join(p.name for p in chain)}" for channel, chain in chains.items())
    missing = [channel for channel in NAMES if channel not in chains]
    log.info("providers: %s%s", carried, f"; {', '.join(missing)} unavailable" if missing else "")
    return Dispatcher(chains, on_health=health.record)
