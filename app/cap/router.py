"""CAP 1.2 routes: take an alert in (POST /api/v1/warnings/cap), give a warning out as one."""

from fastapi import APIRouter, BackgroundTasks, Request, Response, status
from fastapi.responses import JSONResponse

from app.auth.dependencies import DutyOfficerDep
from app.cap import export, parse
from app.cap import service as cap_service
from app.cap.identity import sender_of
from app.config import SettingsDep
from app.db import SessionDep, utc_now
from app.errors import AppError, PayloadTooLarge
from app.notify import providers
from app.warning import service as warning_service
from app.warning.dependencies import WarningDep, wake_heartbeat
from app.warning.schemas import WarningOut

router = APIRouter(prefix="/api/v1/warnings", tags=["warnings"])
CAP_PATH = f"{router.prefix}/cap"  # its body limit is JIAOYING_CAP_MAX_BYTES (ops.RequestGuard)

CAP_MEDIA_TYPE = "application/cap+xml"
XML_TYPES = (CAP_MEDIA_TYPE, "application/xml", "text/xml")
_XML_BODY = {"requestBody": {"required": True, "content": {t: {"schema": {"type": "string"}} for t in XML_TYPES}}}


async def _xml_body(request: Request, limit: int) -> bytes:
    """The body, if it is XML and within the limit (read no further than the limit)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in XML_TYPES:
        raise AppError(
            f"Send the CAP alert as {CAP_MEDIA_TYPE} or application/xml, not {media_type or 'no content type'}.",
            status=415,
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The alert is larger than the {limit:,}-byte limit for CAP messages.")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    CAP_PATH.removeprefix(router.prefix),
    status_code=status.HTTP_201_CREATED,
    response_model=WarningOut,
    openapi_extra=_XML_BODY,
    responses={
        200: {
            "model": WarningOut,
            "description": "A Cancel, an alert already received, or one recorded without changing anything (a "
            "message older than what was applied): the warning. A Cancel of an alert never received: "
            '{"outcome": "recorded", "sender", "identifier", "msg_type", "warning": null}.',
        }
    },
)
async def receive_cap(
    request: Request,
    response: Response,
    background: BackgroundTasks,
    session: SessionDep,
    principal: DutyOfficerDep,
    settings: SettingsDep,
) -> WarningOut | JSONResponse:
    """Take a CAP 1.2 alert: Alert issues a warning, Update supersedes one, Cancel cancels one."""
    body = await _xml_body(request, settings.cap_max_bytes)
    message = parse.read_alert(body, max_bytes=settings.cap_max_bytes)
    warnings, outcome = await cap_service.receive_alert(
        session, message, sender=sender_of(settings), principal=principal, now=utc_now(),
        fanout_above=settings.async_fanout_above, plan=providers.plan(settings),
    )  # fmt: skip
    if not warnings:  # recorded, with no warning to go with it (a Cancel of an alert never received)
        return JSONResponse(
            {"outcome": outcome, "sender": message.sender, "identifier": message.identifier,
             "msg_type": message.msg_type, "warning": None},
        )  # fmt: skip
    warning = warnings[0]
    if outcome in ("cancelled", "duplicate", "recorded"):
        response.status_code = status.HTTP_200_OK
    elif any(each.status == "expanding" for each in warnings):
        response.status_code = status.HTTP_202_ACCEPTED
    for each in warnings:  # after the commit: the heartbeat sees them
        background.add_task(wake_heartbeat, request, each.status)
    out = await warning_service.warning_out(session, warning)
    out.warnings = [each.id for each in warnings]
    return out


@router.get(
    "/{warning_id}/cap",
    response_class=Response,
    responses={200: {"content": {CAP_MEDIA_TYPE: {}}, "description": "A CAP 1.2 alert."}},
)
async def export_cap(warning: WarningDep, session: SessionDep, settings: SettingsDep) -> Response:
    """The warning as a CAP 1.2 alert: Alert, Update or Cancel as it stands, valid against the schema."""
    document = await export.alert_document(session, sender_of(settings), warning, now=utc_now())
    return Response(document, media_type=CAP_MEDIA_TYPE)
