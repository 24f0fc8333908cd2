"""Every model, imported once so the metadata (and Alembic) sees all tables."""

from app.audit.models import AuditEvent, ChainHead
from app.auth.models import ApiKey
from app.call.models import Call, CallToken, Feedback
from app.cap.models import CapAlert, CapFeedEntry
from app.contact.models import Contact, Supervision
from app.lease import SchedulerLease
from app.notify.models import ConsoleMessage, Inbound, Message
from app.policy.models import Policy
from app.region.models import Region
from app.report.models import ReportRollup
from app.warning.models import CallTally, IdempotencyKey, RegionTally, Warning, WarningRegion

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Call",
    "CallTally",
    "CallToken",
    "CapAlert",
    "CapFeedEntry",
    "ChainHead",
    "ConsoleMessage",
    "Contact",
    "Feedback",
    "IdempotencyKey",
    "Inbound",
    "Message",
    "Policy",
    "Region",
    "RegionTally",
    "ReportRollup",
    "SchedulerLease",
    "Supervision",
    "Warning",
    "WarningRegion",
]
