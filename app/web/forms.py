"""The warning form: what a duty officer typed, read into the API's own body (WarningIn), with the
mistakes named in Chinese next to the field that has them."""

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError
from starlette.datastructures import FormData

from app.models.warning import Warning
from app.region import service as region_service
from app.times import BEIJING
from app.warning.schemas import WarningIn

HAZARDS = ("暴雨", "大风", "台风", "山洪", "地质灾害", "洪水", "暴雪", "寒潮", "高温", "冰雹", "雷电", "大雾",
           "道路结冰", "沙尘暴", "干旱", "森林火险")  # fmt: skip
FIELD_MESSAGES = {
    "hazard": "请填写灾种（不超过50字）。",
    "level": "请选择预警级别。",
    "title": "请填写标题（不超过200字）。",
    "description": "描述不超过2000字。",
    "instruction": "防御指引不超过500字。",
    "area_codes": "请至少选择一个区域（最多1000个）。",
    "expires": "有效期须晚于现在。",
}
_SEPARATORS = re.compile(r"[\s,，、;；]+")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@dataclass
class WarningForm:
    hazard: str = ""
    level: str = ""
    title: str = ""
    description: str = ""
    instruction: str = ""
    area_codes: list[str] = field(default_factory=list)
    expires: str = ""  # datetime-local, 北京时间
    exercise: bool = False
    previewed: str = ""  # the digest of the inputs whose preview the person has seen
    request_key: str = field(
        default_factory=lambda: secrets.token_urlsafe(16)
    )  # one warning per form, however often sent
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_form(cls, form: FormData) -> "WarningForm":
        codes: list[str] = [value.strip() for value in form.getlist("area_codes") if isinstance(value, str)]
        codes += [part for part in _SEPARATORS.split(_text(form, "area_text")) if part]
        normalized = [region_service.normalize_code(code) or code for code in codes if code]
        return cls(
            hazard=_text(form, "hazard"),
            level=_text(form, "level"),
            title=_text(form, "title"),
            description=_text(form, "description"),
            instruction=_text(form, "instruction"),
            area_codes=list(dict.fromkeys(normalized)),
            expires=_text(form, "expires"),
            exercise=form.get("exercise") == "1",
            previewed=_text(form, "previewed"),
            request_key=_text(form, "request_key") or secrets.token_urlsafe(16),
        )

    @classmethod
    def from_warning(cls, warning: Warning) -> "WarningForm":
        """The form filled in from a warning, to update it."""
        expires = warning.expires.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M") if warning.expires else ""
        return cls(
            hazard=warning.hazard, level=warning.level, title=warning.title, description=warning.description or "",
            instruction=warning.instruction or "", area_codes=list(warning.area_codes), expires=expires,
            exercise=warning.mode == "exercise",
        )  # fmt: skip

    @property
    def mode(self) -> str:
        return "exercise" if self.exercise else "actual"

    def digest(self) -> str:
        """What the preview depends on: level, mode and areas."""
        text = f"{self.level}|{self.mode}|{','.join(sorted(self.area_codes))}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_body(self) -> WarningIn | None:
        """The API's body, or None with `errors` filled in, field by field."""
        expires = None
        if self.expires:
            try:
                expires = datetime.fromisoformat(self.expires).replace(tzinfo=BEIJING)
            except ValueError:
                self.errors["expires"] = "有效期格式有误，请重新选择。"
                return None
        try:
            return WarningIn.model_validate(
                {"hazard": self.hazard, "level": self.level, "title": self.title,
                 "description": self.description or None, "instruction": self.instruction or None,
                 "area_codes": self.area_codes, "expires": expires, "mode": self.mode}
            )  # fmt: skip
        except ValidationError as exc:
            for error in exc.errors():
                name = str(error["loc"][0]) if error["loc"] else ""
                self.errors.setdefault(name, FIELD_MESSAGES.get(name, f"输入有误：{error['msg']}"))
            return None
