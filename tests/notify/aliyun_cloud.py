"""A loopback stand-in for Aliyun's SMS service, following its public API reference (dysmsapi
2017-05-25, RPC style): what Aliyun checks of a SendBatchSms request, checked here the same way,
written apart from the provider's own code (the signature recomputed from the reference, not by
calling app.notify.aliyun).

- the signature: HMAC-SHA1 keyed with the AccessKey secret and '&', over
  POST&%2F&percent(sorted name=value pairs), RFC 3986 percent-encoding, base64;
- the common parameters (Action, Version 2017-05-25, Format, AccessKeyId, SignatureMethod
  HMAC-SHA1, SignatureVersion 1.0, a SignatureNonce never seen before, a Timestamp in UTC within
  15 minutes);
- SendBatchSms: PhoneNumberJson, SignNameJson and TemplateParamJson JSON arrays of one length, at
  most 100; an approved sign; an approved template whose variables are exactly those given, none
  longer than 35 characters.

Answers as Aliyun does: {"Code": "OK", "Message": "OK", "BizId", "RequestId"}, or an error code
(HTTP 400 for a request it cannot take: SignatureDoesNotMatch, isv.* codes).
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.ports import free_port, serve_in_thread, stop_serving

KEY_ID, KEY_SECRET = "LTAI-test-key", "test-key-secret"
SIGN = "达坂城应急"
VARIABLE = re.compile(r"\$\{(\w+)\}")
# The texts a county submits for approval (README), one per message kind.
# (Aliyun approves no two variables side by side and no 【】 inside a template.)
TEMPLATES = {
    "SMS_ALERT": "${title}：${area}，请立即做好防范。收到请点 https://jiaoying.example/ack/${token}",
    "SMS_ESCALATION": "${title}：${area}未应答，请上门叫醒。收到请点 https://jiaoying.example/ack/${token}",
    "SMS_LIFTING": "${title}（${area}）已解除。",
    "SMS_WITHDRAWAL": "${title}（${area}）系误发，现予撤回，请按原状态工作。",
    "SMS_EXERCISE": "（演练）${title}：${area}，请按演练方案行动。收到请点 https://jiaoying.example/ack/${token}",
    # Optional: calls about hazard reports, and a contact's report link.
    "SMS_HAZARD": "${title}，地点${area}，${ask}。点此处理 https://jiaoying.example/ack/${token}",
    "SMS_REPORT_LINK": "您在${area}的${title}（此前的链接已失效），发现险情请点开填报：https://jiaoying.example/r/${token}",
}
# Voice: TTS templates (Chinese, few short variables), the number calls show, key 1's template.
TTS = {
    "TTS_ALERT": "${title}，请立即做好防范。确认收到请按1。",
    "TTS_ESCALATION": "${title}，有${count}处未应答，名单见短信，请上门叫醒。确认收到请按1。",
    "TTS_LIFTING": "${title}已解除。",
    "TTS_WITHDRAWAL": "${title}系误发，现予撤回。",
    "TTS_EXERCISE": "演练，${title}，请按演练方案行动。确认收到请按1。",
    "TTS_HAZARD": "${title}，地点${area}，${ask}。确认收到请按1。",
    "TTS_ACK": "已确认收到，谢谢。",
}
VOICE_NUMBER = "09912345678"
VOICE_SETTING = ("alert=TTS_ALERT,escalation=TTS_ESCALATION,lifting=TTS_LIFTING,withdrawal=TTS_WITHDRAWAL,"
                 "exercise=TTS_EXERCISE")  # fmt: skip
# What Aliyun allows one callee: calls within so many seconds.
CALLEE_LIMITS = ((1, 60), (5, 3600), (20, 86400))
TEMPLATE_SETTING = ("alert=SMS_ALERT,escalation=SMS_ESCALATION,lifting=SMS_LIFTING,withdrawal=SMS_WITHDRAWAL,"
                    "exercise=SMS_EXERCISE")  # fmt: skip


def reference_signature(parameters: dict[str, str], secret: str) -> str:
    def encode(value: str) -> str:
        return quote(value.encode("utf-8"), safe="").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")

    canonical = "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(parameters.items()))
    to_sign = "POST&" + encode("/") + "&" + encode(canonical)
    return base64.b64encode(hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


@dataclass
class Sent:
    """One SMS as Aliyun would send it: the number, the template and the text it makes."""

    biz_id: str
    phone: str
    template: str
    variables: dict[str, str]

    @property
    def text(self) -> str:
        return f"【{SIGN}】" + VARIABLE.sub(lambda found: self.variables[found.group(1)], TEMPLATES[self.template])


@dataclass
class Called:
    """One call Aliyun placed: its CallId, the callee, the template and what it says."""

    call_id: str
    callee: str
    template: str
    variables: dict[str, str]
    at: float

    @property
    def speech(self) -> str:
        return VARIABLE.sub(lambda found: self.variables[found.group(1)], TTS[self.template])


@dataclass
class AliyunCloud:
    port: int = field(default_factory=free_port)
    sent: list[Sent] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # the error codes answered
    nonces: set[str] = field(default_factory=set)
    code_for: dict[str, str] = field(default_factory=dict)  # a number -> the isv.* code to refuse it with
    calls: list["Called"] = field(default_factory=list)
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def refuse(self, code: str, status: int = 400) -> JSONResponse:
        self.refusals.append(code)
        body = {"Code": code, "Message": code, "RequestId": secrets.token_hex(8)}
        return JSONResponse(body, status_code=status)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/")
        async def rpc(request: Request) -> JSONResponse:
            parameters = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
            self.requests.append(parameters)
            given = parameters.pop("Signature", "")
            if parameters.get("AccessKeyId") != KEY_ID:
                return self.refuse("InvalidAccessKeyId.NotFound", 404)
            if not hmac.compare_digest(given, reference_signature(parameters, KEY_SECRET)):
                return self.refuse("SignatureDoesNotMatch")
            common = {"Version": "2017-05-25", "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
                      "Format": "JSON"}  # fmt: skip
            if any(parameters.get(name) != value for name, value in common.items()):
                return self.refuse("MissingParameter")
            nonce = parameters.get("SignatureNonce", "")
            if not nonce or nonce in self.nonces:
                return self.refuse("SignatureNonceUsed")
            self.nonces.add(nonce)
            stamp = datetime.strptime(parameters.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            if abs(datetime.now(UTC) - stamp) > timedelta(minutes=15):
                return self.refuse("InvalidTimeStamp.Expired")
            if parameters.get("Action") == "IvrCall":
                return self.ivr_call(parameters)
            if parameters.get("Action") != "SendBatchSms":
                return self.refuse("InvalidAction.NotFound", 404)
            phones = json.loads(parameters["PhoneNumberJson"])
            signs = json.loads(parameters["SignNameJson"])
            values = json.loads(parameters["TemplateParamJson"])
            if not (len(phones) == len(signs) == len(values)) or not 1 <= len(phones) <= 100:
                return self.refuse("isv.MOBILE_COUNT_OVER_LIMIT")
            if set(signs) != {SIGN}:
                return self.refuse("isv.SMS_SIGNATURE_ILLEGAL")
            template = parameters.get("TemplateCode", "")
            if template not in TEMPLATES:
                return self.refuse("isv.SMS_TEMPLATE_ILLEGAL")
            wanted = set(VARIABLE.findall(TEMPLATES[template]))
            for value in values:
                if set(value) != wanted:
                    return self.refuse("isv.TEMPLATE_MISSING_PARAMETERS")
                if any(not 1 <= len(str(v)) <= 35 for v in value.values()):
                    return self.refuse("isv.PARAM_LENGTH_LIMIT")
            for phone in phones:
                if phone in self.code_for:
                    return self.refuse(self.code_for[phone], 200)
            biz_id = f"{secrets.randbelow(10**15):015d}^0"
            self.sent += [Sent(biz_id, phone, template, value) for phone, value in zip(phones, values, strict=True)]
            return JSONResponse({"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": secrets.token_hex(8)})

        return app

    def ivr_call(self, parameters: dict[str, str]) -> JSONResponse:
        """IvrCall: an approved number shown, an approved TTS template with exactly its variables,
        key 1 mapped to an approved template, and the callee within Aliyun's limits."""
        if parameters.get("CalledShowNumber") != VOICE_NUMBER:
            return self.refuse("isv.DISPLAY_NUMBER_ILLEGAL")
        start = parameters.get("StartCode", "")
        if start not in TTS:
            return self.refuse("isv.TEMPLATE_ILLEGAL")
        values = json.loads(parameters.get("StartTtsParams") or "{}")
        if set(values) != set(VARIABLE.findall(TTS[start])) or any(not 1 <= len(str(v)) <= 35 for v in values.values()):
            return self.refuse("isv.TEMPLATE_MISSING_PARAMETERS")
        # A list parameter, flattened as RPC requests carry it: MenuKeyMap.1.Key, MenuKeyMap.1.Code, ...
        menu = [(parameters.get(f"MenuKeyMap.{n}.Key"), parameters.get(f"MenuKeyMap.{n}.Code"))
                for n in range(1, 10) if f"MenuKeyMap.{n}.Key" in parameters]  # fmt: skip
        if [key for key, _ in menu] != ["1"] or any(code not in TTS for _, code in menu):
            return self.refuse("isv.MENU_KEY_MAP_ILLEGAL")
        callee, now = parameters.get("CalledNumber", ""), time.monotonic()
        made = [call.at for call in self.calls if call.callee == callee]
        if any(sum(now - at < seconds for at in made) >= most for most, seconds in CALLEE_LIMITS):
            return self.refuse("isv.BUSINESS_LIMIT_CONTROL", 200)
        call = Called(call_id=f"{secrets.randbelow(10**12):012d}^{secrets.randbelow(10**6)}", callee=callee,
                      template=start, variables=values, at=now)  # fmt: skip
        self.calls.append(call)
        return JSONResponse({"Code": "OK", "Message": "OK", "CallId": call.call_id, "RequestId": secrets.token_hex(8)})

    def call_reports(self, *, dtmf: str = "1", status_code: str = "200000") -> list[dict[str, Any]]:
        """The VoiceReport push for every call made: picked up (or not), the key pressed."""
        return [
            {"call_id": call.call_id, "callee": call.callee, "caller": VOICE_NUMBER, "status_code": status_code,
             "status_msg": "用户听完语音" if status_code == "200000" else "用户未接", "dtmf": dtmf, "duration": "12",
             "out_id": ""}
            for call in self.calls
        ]  # fmt: skip

    def start(self) -> "AliyunCloud":
        self.server, self.thread = serve_in_thread(self.app(), self.port, "the Aliyun stand-in")
        return self

    def stop(self) -> None:
        stop_serving(self.server, self.thread)
        self.server = self.thread = None

    def reports(self, *, delivered: bool = True) -> list[dict[str, Any]]:
        """The SmsReport push for everything sent: Aliyun's fields, one item per number."""
        now = datetime.now(UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        code, said = ("DELIVERED", "用户接收成功") if delivered else ("MK:0001", "用户关机")
        return [
            {"phone_number": sent.phone, "send_time": now, "report_time": now, "success": delivered,
             "err_code": code, "err_msg": said, "sms_size": "1", "biz_id": sent.biz_id, "out_id": ""}
            for sent in self.sent
        ]  # fmt: skip
