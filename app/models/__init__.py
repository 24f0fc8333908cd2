"""Every model, imported once so the metadata (and Alembic) sees all tables."""

from app.lease import SchedulerLease
from app.models.audit import AuditEvent, ChainHead
from app.models.auth import ApiKey, EndedSession
from app.models.broadcast import Broadcast, Loudspeaker
from app.models.call import Call, CallToken, Feedback
from app.models.cap import CapAlert, CapFeedEntry
from app.models.contact import Contact, Supervision
from app.models.department import Department
from app.models.duty import DutyHandover, DutyShift
from app.models.hazard import Hazard, HazardDispatch
from app.models.notify import ConsoleMessage, GatewayState, Inbound, Message
from app.models.policy import Policy
from app.models.region import Region
from app.models.report import ReportRollup
from app.models.warning import CallTally, IdempotencyKey, RegionTally, Warning, WarningRegion
from app.throttle import RateBucket

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Broadcast",
    "Call",
    "CallTally",
    "CallToken",
    "CapAlert",
    "CapFeedEntry",
    "ChainHead",
    "ConsoleMessage",
    "Contact",
    "Department",
    "DutyHandover",
    "DutyShift",
    "EndedSession",
    "Feedback",
    "GatewayState",
    "Hazard",
    "HazardDispatch",
    "IdempotencyKey",
    "Inbound",
    "Loudspeaker",
    "Message",
    "Policy",
    "RateBucket",
    "Region",
    "RegionTally",
    "ReportRollup",
    "SchedulerLease",
    "Supervision",
    "Warning",
    "WarningRegion",
]
