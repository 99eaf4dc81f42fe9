"""The shop's first schema: a Postgres enum, check constraints, foreign keys, an expression
index and comments, the things Alembic autogenerate does not compare."""

from __future__ import annotations

import datetime
import decimal

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, Numeric, String, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


ORDER_STATUS = Enum("pending", "paid", "shipped", name="order_status")


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint("length(name) > 0", name="customers_name_not_blank"),
        Index("customers_email_lower_key", func.lower(text("email")), unique=True),
        {"comment": "People who order"},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), comment="Login and contact address")
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime.datetime] = mapped_column(server_default=func.now())


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (CheckConstraint("total >= 0", name="orders_total_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(ORDER_STATUS, server_default="pending")
    total: Mapped[decimal.Decimal] = mapped_column(Numeric(10, 2))
