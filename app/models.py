"""Every model, imported once so the metadata (and Alembic) sees all tables."""

from app.audit.models import AuditEvent, ChainHead
from app.auth.models import ApiKey, EndedSession
from app.broadcast.models import Broadcast, Loudspeaker
from app.call.models import Call, CallToken, Feedback
from app.cap.models import CapAlert, CapFeedEntry
from app.contact.models import Contact, Supervision
from app.department.models import Department
from app.duty.models import DutyHandover, DutyShift
from app.hazard.models import Hazard, HazardDispatch
from app.lease import SchedulerLease
from app.notify.models import ConsoleMessage, GatewayState, Inbound, Message
from app.policy.models import Policy
from app.region.models import Region
from app.report.models import ReportRollup
from app.throttle import RateBucket
from app.warning.models import CallTally, IdempotencyKey, RegionTally, Warning, WarningRegion

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
