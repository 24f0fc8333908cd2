"""Every model, imported once so the metadata (and Alembic) sees all tables."""

from app.audit.models import AuditEvent, ChainHead
from app.auth.models import ApiKey
from app.contact.models import Contact, Supervision
from app.region.models import Region

__all__ = ["ApiKey", "AuditEvent", "ChainHead", "Contact", "Region", "Supervision"]
