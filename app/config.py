"""Settings read from the environment (prefix ``JIAOYING_``)."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, Request
from pydantic import Field, StringConstraints
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JIAOYING_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./jiaoying.db"
    public_url: str = "http://127.0.0.1:8000"
    # One provider for every channel, or each channel's providers in failover order
    # (`sms=webhook,console;voice=webhook`); names from app.notify.providers.PROVIDERS.
    provider: str = "console"
    providers: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    # Messages per request (1: the single-message body of the first version), requests in flight,
    # and how long one may take. More requests in flight are not faster: httpx's connection pool
    # slows down as concurrency grows (about 500 requests/s at 8, 240/s at 32 on 2 cores).
    webhook_batch: Annotated[int, Field(ge=1, le=1000)] = 100
    webhook_concurrency: Annotated[int, Field(ge=1, le=256)] = 8
    # Calls per number a gateway allows (`voice:1/60,5/3600`): an attempt that would break it waits.
    webhook_callee_limits: str = ""
    webhook_timeout_s: float = 10.0
    # The village loudspeakers' platform (应急广播): broadcasts are POSTed there, signed with the secret.
    broadcast_url: str | None = None
    broadcast_secret: str | None = None
    # Messages per second the gateway takes per channel (0: no limit); above it messages queue.
    webhook_rate_sms: float = 0.0
    webhook_rate_voice: float = 0.0
    # The kannel provider (SMS): smsbox's sendsms URL and its sendsms-user, the secret in the paths
    # Kannel calls back on, the sender number and SMSC to use (optional), requests in flight, how
    # long one may take, and messages per second (0: no limit).
    kannel_url: str | None = None
    kannel_username: str | None = None
    kannel_password: str | None = None
    kannel_secret: str | None = None
    kannel_from: str | None = None
    kannel_smsc: str | None = None
    kannel_concurrency: Annotated[int, Field(ge=1, le=512)] = 32
    kannel_timeout_s: float = 10.0
    kannel_rate: float = 0.0
    # The aliyun provider (SMS): an AccessKey of a RAM user allowed dysms:SendBatchSms, the
    # endpoint, the approved sign name, one approved template code per message kind
    # (`alert=SMS_1,escalation=SMS_2,lifting=SMS_3,withdrawal=SMS_4,exercise=SMS_5`), the secret in
    # the paths Aliyun pushes receipts and replies to, requests in flight and how long one may take.
    aliyun_access_key_id: str | None = None
    aliyun_access_key_secret: str | None = None
    aliyun_sms_endpoint: str = "https://dysmsapi.aliyuncs.com/"
    aliyun_sign_name: str | None = None
    aliyun_sms_templates: str = ""
    aliyun_secret: str | None = None
    aliyun_concurrency: Annotated[int, Field(ge=1, le=64)] = 8
    aliyun_timeout_s: float = 10.0
    # Aliyun voice (IvrCall): the endpoint, the number calls show (an approved 呼叫号码), one approved
    # TTS template code per message kind (as the SMS ones), and the template played after key 1.
    aliyun_voice_endpoint: str = "https://dyvmsapi.aliyuncs.com/"
    aliyun_voice_number: str | None = None
    aliyun_voice_templates: str = ""
    aliyun_voice_ack_template: str | None = None
    tick_seconds: float = 1.0
    # A message left in `sending` this long (its sender died mid-round) is handed over again, same id.
    send_reclaim_s: float = 60.0
    scheduler: Literal["on", "off"] = "on"
    # Chain heads published outside the database (see app.audit.anchors): the file ("" for none,
    # then only the log carries them) and how often.
    audit_anchor_file: str = "./jiaoying-anchors.jsonl"
    audit_anchor_seconds: float = 60.0
    admin_token: str | None = None
    # Warnings that would call more people than this answer 202 and are expanded in steps by the
    # heartbeat (see app.warning.expansion); smaller ones are stored whole before their 201.
    async_fanout_above: int = 200_000
    sms_signature: str = "叫应"
    # A county's message catalogs ({language}.po), over the shipped ones (see app.i18n).
    catalog_dir: str | None = None
    # Key for deriving acknowledgement tokens; every process of one deployment needs the same.
    # Unset, the key in secret_file is used, generated there on first use (never in the database).
    secret_key: str | None = None
    secret_file: str = "./jiaoying.secret"

    # Request bodies: JSON stays small; CSV imports may carry the whole country (~35 MB of regions).
    max_json_bytes: int = 1_000_000
    max_import_bytes: int = 200_000_000
    # Seconds a request body may take to arrive whole (408 after); an import's may take longer. Bodies
    # are read before any database work starts, so a slow one holds nobody else up.
    body_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    import_body_timeout_s: Annotated[float, Field(gt=0)] = 600.0
    # Seconds a statement may wait for the database before the request gets a 503.
    db_timeout_s: float = 10.0

    # CAP 1.2 (app.cap): the largest alert taken, posted or fetched; Atom/RSS feeds of CAP alerts to
    # poll (URLs separated by commas or spaces) and how often; and who our exported alerts come from.
    # With the 14-digit organisation code, identifiers follow GB/T 35965.1: <code>_<YYYYMMDDHHMMSS>.
    cap_max_bytes: int = 1_000_000
    cap_feeds: str = ""
    cap_poll_seconds: float = 60.0
    cap_sender: str | None = None  # default: jiaoying@<host of public_url>
    cap_sender_code: Annotated[str, StringConstraints(pattern=r"^\d{14}$")] | None = None
    cap_sender_name: str | None = None

    @property
    def anchor_path(self) -> Path | None:
        return Path(self.audit_anchor_file) if self.audit_anchor_file else None

    @property
    def cap_feed_urls(self) -> list[str]:
        return list(dict.fromkeys(self.cap_feeds.replace(",", " ").split()))


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, read once from the environment."""
    return Settings()


def app_settings(request: Request) -> Settings:
    """The settings the running application was built with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(app_settings)]
