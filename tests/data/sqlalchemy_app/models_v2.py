"""The shop, evolved: a new order status, a note on orders, a tighter check, order lines with
their own foreign keys, and an index on when orders were placed."""

from __future__ import annotations

import datetime
import decimal

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, Numeric, String, Text, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


ORDER_STATUS = Enum("pending", "paid", "shipped", "cancelled", name="order_status")


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
    __table_args__ = (
        CheckConstraint("total >= 0", name="orders_total_not_negative"),
        CheckConstraint("total < 100000", name="orders_total_sane"),
        Index("orders_placed_at_idx", "placed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(ORDER_STATUS, server_default="pending")
    total: Mapped[decimal.Decimal] = mapped_column(Numeric(10, 2))
    placed_at: Mapped[datetime.datetime] = mapped_column(server_default=func.now())
    note: Mapped[str | None] = mapped_column(Text, comment="Free text from the customer")


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="order_lines_quantity_positive"),
        # `%` and `:draft` in a literal: SQL that must reach Postgres exactly as written.
        CheckConstraint("sku NOT LIKE '%:draft'", name="order_lines_sku_not_draft"),
    )

    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    line: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[int] = mapped_column(server_default=text("1"))
