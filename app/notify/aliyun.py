"""The `aliyun` provider: SMS (dysmsapi) and voice (dyvmsapi) through Aliyun, what most county
offices buy.

Aliyun sends only pre-approved templates, whose variables are short (at most 35 characters each)
and whose links must be on a domain approved with the template. So a message goes as its kind's
template (JIAOYING_ALIYUN_SMS_TEMPLATES: alert, escalation, lifting, withdrawal, exercise) with
these variables (app.notify.aliyun_fields), read for each batch from the warning and the call
(README: the texts a county submits for approval; calls about hazard reports and report links
have optional templates of their own, `hazard` and `report_link`, and without them go by the
channel's next provider):

    title    暴雨红色预警 (the hazard cut to fit; Aliyun allows no two variables side by side)
    area     the person's area (艾维尔沟村等3地) or, escalating, the silent villages (南村等40处), cut to fit
    token    the personal link's token: the template holds https://<JIAOYING_PUBLIC_URL host>/ack/${token}

`SendBatchSms` takes up to 100 numbers a request, each with its own variables (so each keeps its
own link), signed as Aliyun's RPC reference documents (HMAC-SHA1 over the sorted, percent-encoded
parameters). One BizId covers the batch: each (BizId, number) is kept (gateway_refs), so the
receipts Aliyun pushes (`SmsReport`) find their message; replies (`SmsUp`) are answers or replies
like any other. Pushes carry no signature: they come to a path holding JIAOYING_ALIYUN_SECRET
(app.notify.aliyun_router), and the README says to let only Aliyun's addresses reach it.

Voice goes by `IvrCall`, one call a request, the kind's approved TTS template saying the level, the
hazard and, escalating, how many villages are silent (the list is in the SMS); key 1 plays the
acknowledgement template, and the `VoiceReport` push carries the key pressed (`dtmf`), which
answers like any key press. Aliyun's CallId is kept beside our message id (OutId holds only 15
bytes). Aliyun allows one callee 1 call a minute, 5 an hour and 20 a day, failed calls counted:
declared as per-callee limits, so the ladder merges attempts rather than have Aliyun refuse them.
"""

import asyncio
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from app.bulk import bulk_insert
from app.config import Settings
from app.db import session_scope
from app.models.notify import GatewayRef
from app.notify.aliyun_fields import Fields, fields_of, speech_variables, template_kind, variables
from app.notify.aliyun_signing import signed
from app.notify.base import CalleeLimit, Capabilities, Outcome, Outgoing
from app.notify.webhook import GATEWAY_ERRORS

CALLBACKS = "/api/v1/providers/aliyun"
VOICE_REF = "aliyun-voice"  # gateway_refs' provider for calls (CallId and number)
CALL_ANSWERED = "200000"  # a VoiceReport's status_code for a call picked up and heard to the end
# What Aliyun allows one callee (failed calls counted): at most this many calls in so many seconds.
VOICE_LIMITS = (CalleeLimit(1, 60), CalleeLimit(5, 3600), CalleeLimit(20, 86400))
KINDS = ("alert", "escalation", "lifting", "withdrawal", "exercise")
# Templates a county may add: calls about hazard reports (险情：category, the place, the link) and a
# contact's report link (its SMS only). Without one, those messages go by the channel's next
# provider, or fail on the record saying no provider carries them.
OPTIONAL_KINDS = ("hazard", "report_link")
WARNING_KINDS = frozenset({"alert", "escalation", "lifting", "withdrawal"})  # message kinds (exercise is a template)
BATCH_MAX = 100  # numbers in one SendBatchSms
# Codes that say the request, not the numbers, is wrong (keys, sign, templates, balance, limits):
# Aliyun takes nothing until it is put right, so the provider backs off and SMS fails over.
NUMBER_CODES = {"isv.MOBILE_NUMBER_ILLEGAL", "isv.MOBILE_COUNT_OVER_LIMIT", "isv.BLACK_KEY_CONTROL_LIMIT"}
# Aliyun's refusal of a call over its per-callee limits (ours keep below them; a clock apart may not).
CALLEE_LIMITED = {"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL"}


def parse_templates(value: str, setting: str = "JIAOYING_ALIYUN_SMS_TEMPLATES") -> dict[str, str]:
    """`alert=SMS_1,escalation=SMS_2,...` as kind -> template code; ValueError naming what is wrong."""
    found: dict[str, str] = {}
    for part in filter(None, (part.strip() for part in value.replace(";", ",").split(","))):
        kind, sep, code = part.partition("=")
        if not sep or kind.strip() not in (*KINDS, *OPTIONAL_KINDS) or not code.strip():
            raise ValueError(f"{setting}: {part!r} should read KIND=TEMPLATE_CODE, KIND one of "
                             f"{', '.join((*KINDS, *OPTIONAL_KINDS))}")  # fmt: skip
        found[kind.strip()] = code.strip()
    missing = [kind for kind in KINDS if kind not in found]
    if missing:
        raise ValueError(f"{setting} has no template for {', '.join(missing)}")
    return found


@dataclass(frozen=True)
class Voice:
    """What calls need: the endpoint, the number they show, a TTS template per kind, and the one
    played after key 1."""

    endpoint: str
    number: str
    templates: dict[str, str]
    ack_template: str


class AliyunProvider:
    name = "aliyun"
    channels: ClassVar[frozenset[str]] = frozenset({"sms", "voice"})

    def __init__(
        self,
        *,
        key_id: str,
        key_secret: str,
        sign_name: str,
        templates: dict[str, str],
        endpoint: str = "https://dysmsapi.aliyuncs.com/",
        voice: Voice | None = None,
        in_flight: int = 8,
        timeout_s: float = 10.0,
    ) -> None:
        self.key_id, self.key_secret, self.sign_name = key_id, key_secret, sign_name
        self.templates = templates
        self.endpoint = endpoint
        self.voice = voice
        self.timeout_s = timeout_s
        self.calls_at_once = asyncio.Semaphore(in_flight)
        # It writes a row per message itself (the gateway's id, for receipts): a small insert beside a
        # network round trip, so the sender's lanes still overlap on SQLite.
        carried = frozenset({"sms", "voice"} if voice is not None else {"sms"})
        kinds = {"sms": WARNING_KINDS | (set(templates) & set(OPTIONAL_KINDS))}
        if voice is not None:  # a report link is an SMS only
            kinds["voice"] = WARNING_KINDS | (set(voice.templates) & {"hazard"})
        self.capabilities = Capabilities(channels=carried, batch_size=BATCH_MAX, in_flight=in_flight,
                                         per_callee={"voice": VOICE_LIMITS} if voice is not None else {},
                                         kinds={channel: frozenset(k) for channel, k in kinds.items()},
                                         own_text=False)  # approved templates, in Chinese  # fmt: skip
        self.client: httpx.AsyncClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "AliyunProvider":
        needed = (("ACCESS_KEY_ID", settings.aliyun_access_key_id),
                  ("ACCESS_KEY_SECRET", settings.aliyun_access_key_secret),
                  ("SIGN_NAME", settings.aliyun_sign_name), ("SECRET", settings.aliyun_secret))  # fmt: skip
        missing = [name for name, value in needed if not value]
        if missing:
            raise ValueError(f"the aliyun provider needs {', '.join('JIAOYING_ALIYUN_' + m for m in missing)}")
        assert settings.aliyun_access_key_id and settings.aliyun_access_key_secret and settings.aliyun_sign_name
        voice = None
        if settings.aliyun_voice_number or settings.aliyun_voice_templates:  # voice is set up, wholly
            if not (settings.aliyun_voice_number and settings.aliyun_voice_ack_template):
                raise ValueError("Aliyun voice needs JIAOYING_ALIYUN_VOICE_NUMBER, JIAOYING_ALIYUN_VOICE_TEMPLATES and "
                                 "JIAOYING_ALIYUN_VOICE_ACK_TEMPLATE")  # fmt: skip
            voice = Voice(
                endpoint=settings.aliyun_voice_endpoint, number=settings.aliyun_voice_number,
                templates=parse_templates(settings.aliyun_voice_templates, "JIAOYING_ALIYUN_VOICE_TEMPLATES"),
                ack_template=settings.aliyun_voice_ack_template,
            )  # fmt: skip
        return cls(
            voice=voice,
            key_id=settings.aliyun_access_key_id,
            key_secret=settings.aliyun_access_key_secret,
            sign_name=settings.aliyun_sign_name,
            templates=parse_templates(settings.aliyun_sms_templates),
            endpoint=settings.aliyun_sms_endpoint,
            in_flight=settings.aliyun_concurrency,
            timeout_s=settings.aliyun_timeout_s,
        )

    async def start(self) -> None:
        self.client = httpx.AsyncClient(timeout=self.timeout_s)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def send(self, batch: list[Outgoing]) -> list[Outcome]:
        if self.client is None:
            await self.start()
        fields = await fields_of(batch)
        outcomes = [
            Outcome(m.message_id, "rejected", "its warning, report, call or contact is gone")
            for m in batch
            if m.message_id not in fields
        ]
        calls = [m for m in batch if m.channel == "voice" and m.message_id in fields]
        if calls:
            outcomes += await asyncio.gather(*(self._call(message, fields[message.message_id]) for message in calls))
        by_template: dict[str, list[Outgoing]] = {}
        for message in batch:
            if message.message_id in fields and message.channel != "voice":
                kind = template_kind(message, fields[message.message_id])
                by_template.setdefault(self.templates[kind], []).append(message)
        for template, messages in by_template.items():
            for part in _distinct_numbers(messages):
                outcomes += await self._batch(template, part, fields)
        return outcomes

    async def _batch(self, template: str, messages: list[Outgoing], fields: dict[str, Fields]) -> list[Outcome]:
        assert self.client is not None
        parameters = {
            "PhoneNumberJson": json.dumps([national(m.to) for m in messages]),
            "SignNameJson": json.dumps([self.sign_name] * len(messages), ensure_ascii=False),
            "TemplateCode": template,
            "TemplateParamJson": json.dumps([variables(m, fields[m.message_id]) for m in messages], ensure_ascii=False),
        }
        body = signed("SendBatchSms", parameters, key_id=self.key_id, secret=self.key_secret)
        try:
            response = await self.client.post(self.endpoint, data=body)
            answer: dict[str, Any] = response.json() if response.content else {}
        except httpx.TimeoutException:
            GATEWAY_ERRORS.labels(self.name, "timeout").inc()
            return _all(messages, "retry", "Aliyun timed out", unreachable=True)
        except (httpx.HTTPError, ValueError) as exc:
            GATEWAY_ERRORS.labels(self.name, "connection").inc()
            return _all(messages, "retry", f"Aliyun unreachable: {type(exc).__name__}", unreachable=True)
        code = str(answer.get("Code", f"HTTP {response.status_code}"))
        if code == "OK" and answer.get("BizId"):
            refs = [{"provider": self.name, "ref": str(answer["BizId"]), "to": national(m.to),
                     "message_id": m.message_id} for m in messages]  # fmt: skip
            async with session_scope() as session:
                await bulk_insert(session, GatewayRef, refs, skip_existing=True)
            return _all(messages, "accepted")
        said = f"Aliyun {code}: {answer.get('Message', '')}".strip()
        if code in NUMBER_CODES and len(messages) == 1:
            GATEWAY_ERRORS.labels(self.name, "rejected").inc()
            return _all(messages, "rejected", said)
        if code in NUMBER_CODES:  # one number spoils the batch: each goes again on its own
            return [outcome for message in messages for outcome in await self._batch(template, [message], fields)]
        GATEWAY_ERRORS.labels(self.name, f"code_{code}"[:40]).inc()
        return _all(messages, "retry", said, unreachable=True)

    async def _call(self, message: Outgoing, fields: Fields) -> Outcome:
        """One IvrCall: the kind's TTS template, key 1 playing the acknowledgement."""
        assert self.client is not None and self.voice is not None
        voice = self.voice
        parameters = {
            "CalledShowNumber": voice.number,
            "CalledNumber": national(message.to),
            "StartCode": voice.templates[template_kind(message, fields)],
            "StartTtsParams": json.dumps(speech_variables(message, fields), ensure_ascii=False),
            # A list, flattened as Aliyun's RPC requests carry them (its SDKs send MenuKeyMap.1.Key).
            "MenuKeyMap.1.Key": "1",
            "MenuKeyMap.1.Code": voice.ack_template,
            "PlayTimes": "2",
            "Timeout": "3000",
        }
        body = signed("IvrCall", parameters, key_id=self.key_id, secret=self.key_secret)
        async with self.calls_at_once:
            try:
                response = await self.client.post(voice.endpoint, data=body)
                answer: dict[str, Any] = response.json() if response.content else {}
            except httpx.TimeoutException:
                GATEWAY_ERRORS.labels(self.name, "timeout").inc()
                return Outcome(message.message_id, "retry", "Aliyun voice timed out", unreachable=True)
            except (httpx.HTTPError, ValueError) as exc:
                GATEWAY_ERRORS.labels(self.name, "connection").inc()
                return Outcome(message.message_id, "retry", f"Aliyun voice unreachable: {type(exc).__name__}",
                               unreachable=True)  # fmt: skip
        code = str(answer.get("Code", f"HTTP {response.status_code}"))
        if code == "OK" and answer.get("CallId"):
            ref = {"provider": VOICE_REF, "ref": str(answer["CallId"]), "to": national(message.to),
                   "message_id": message.message_id}  # fmt: skip
            async with session_scope() as session:
                await bulk_insert(session, GatewayRef, [ref], skip_existing=True)
            return Outcome(message.message_id, "accepted")
        said = f"Aliyun voice {code}: {answer.get('Message', '')}".strip()
        if code in NUMBER_CODES:  # a number it will not call
            GATEWAY_ERRORS.labels(self.name, "rejected").inc()
            return Outcome(message.message_id, "rejected", said)
        if code in CALLEE_LIMITED:
            # Aliyun's own count of this callee (ours keeps below it; clocks apart may not): the
            # call waits and goes again, a failure would only bring the next attempt forward.
            GATEWAY_ERRORS.labels(self.name, "callee_limited").inc()
            return Outcome(message.message_id, "retry", said)
        GATEWAY_ERRORS.labels(self.name, f"code_{code}"[:40]).inc()
        return Outcome(message.message_id, "retry", said, unreachable=True)


def _all(
    messages: list[Outgoing], status: Any, error: str | None = None, *, unreachable: bool = False
) -> list[Outcome]:
    return [Outcome(m.message_id, status, error, unreachable=unreachable) for m in messages]


def national(phone: str) -> str:
    """A number as Aliyun takes and pushes it: a mainland number without +86 (or 0086, 86) in
    front; another without its '+' (852…)."""
    for prefix in ("+86", "0086", "86"):
        if phone.startswith(prefix) and len(phone) - len(prefix) == 11:
            return phone[len(prefix) :]
    return phone.removeprefix("+")


def _distinct_numbers(messages: list[Outgoing]) -> list[list[Outgoing]]:
    """The messages in requests where no number comes twice: one BizId covers a request, so the
    number is what tells its receipts apart."""
    parts: list[list[Outgoing]] = []
    for message in messages:
        part = next((part for part in parts if all(m.to != message.to for m in part)), None)
        if part is None:
            parts.append(part := [])
        part.append(message)
    return parts
