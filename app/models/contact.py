"""Responsible persons (责任人) on the roster, and the regions they supervise (包保)."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, JSONDoc, utc_now
from app.ids import new_id


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("phone", "region_code"),
        Index("ix_contacts_region_code_active", "region_code", "active"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(20))  # looked up through uq (phone, region_code)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    role: Mapped[str] = mapped_column(String(50), default="")
    rank: Mapped[int] = mapped_column(default=1)
    channels: Mapped[list[str]] = mapped_column(JSONDoc)
    # The department the person answers for (their 报到 when a township blows the whistle), if any.
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"), index=True, default=None)
    # The nonce the person's standing report link (/r/{token}) is derived from; a new one revokes it.
    report_nonce: Mapped[str | None] = mapped_column(String(32), default=None)
    # SHA-256 of that link's token, to find the person when it is opened (hazard.standing).
    report_token_hash: Mapped[str | None] = mapped_column(String(64), index=True, unique=True, default=None)
    # The language the person reads (app.i18n); None: the default of their region, else Chinese.
    language: Mapped[str | None] = mapped_column(String(12), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)
    deactivated_at: Mapped[datetime | None] = mapped_column(default=None)

    supervisions: Mapped[list["Supervision"]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="Supervision.region_code"
    )

    @property
    def supervises(self) -> list[str]:
        return [supervision.region_code for supervision in self.supervisions]


class Supervision(Base):
    """A region a contact answers for in escalation (包保), besides its own."""

    __tablename__ = "contact_supervisions"

    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), primary_key=True, index=True)
