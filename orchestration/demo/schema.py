"""The operational database schema, owned by the project.

One SQLAlchemy ``MetaData`` creates the same tables on SQLite, PostgreSQL and
MySQL/MariaDB, so the demo generator, the tests and the extraction code all agree
on names and types. Timestamps are naive UTC. Money is ``NUMERIC(14, 2)`` (BRL).

Every table carries a monotonically maintained change cursor (``updated_at``, or
``last_updated`` for inventory) that extraction uses as its high-water mark.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

MONEY = sa.Numeric(14, 2)

CUSTOMER_TIERS = ("bronze", "silver", "gold", "platinum")
CUSTOMER_STATUSES = ("active", "inactive", "suspended")
PRODUCT_STATUSES = ("active", "discontinued")
SUPPLIER_TYPES = ("manufacturer", "distributor")
SUPPLIER_STATUSES = ("active", "inactive")
ORDER_STATUSES = ("pending", "confirmed", "processing", "shipped", "delivered", "cancelled")
PAYMENT_METHODS = ("boleto", "pix", "credit_card", "bank_transfer")
PAYMENT_STATUSES = ("pending", "paid", "overdue", "refunded", "cancelled")
INTERACTION_CHANNELS = ("whatsapp", "email", "phone", "web")
INTERACTION_TYPES = ("inquiry", "complaint", "order", "support")
AGENT_TYPES = ("human", "ai")
BRAZIL_UF = (
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA",
    "PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
)  # fmt: skip


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False, index=True),
    ]


categories = sa.Table(
    "categories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("categories.id"), nullable=True),
    *_timestamps(),
)

suppliers = sa.Table(
    "suppliers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("cnpj", sa.String(14), nullable=False, unique=True),
    sa.Column("supplier_type", sa.String(20), nullable=False),
    sa.Column("contact_name", sa.String(200)),
    sa.Column("contact_email", sa.String(200)),
    sa.Column("contact_phone", sa.String(30)),
    sa.Column("payment_terms_days", sa.Integer, nullable=False),
    sa.Column("lead_time_days", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    *_timestamps(),
)

warehouses = sa.Table(
    "warehouses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("code", sa.String(20), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("city", sa.String(100), nullable=False),
    sa.Column("state", sa.String(2), nullable=False),
    *_timestamps(),
)

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("legal_name", sa.String(200), nullable=False),
    sa.Column("cnpj", sa.String(14), nullable=False, unique=True),
    sa.Column("email", sa.String(200)),
    sa.Column("phone", sa.String(30)),
    sa.Column("contact_name", sa.String(200)),
    sa.Column("address_street", sa.String(200)),
    sa.Column("address_city", sa.String(100), nullable=False),
    sa.Column("address_state", sa.String(2), nullable=False),
    sa.Column("address_zip", sa.String(9)),
    sa.Column("credit_limit", MONEY, nullable=False),
    sa.Column("payment_terms_days", sa.Integer, nullable=False),
    sa.Column("tier", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    *_timestamps(),
    sa.Column("deleted_at", sa.DateTime, nullable=True),
)

products = sa.Table(
    "products",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("sku", sa.String(30), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("category_id", sa.Integer, sa.ForeignKey("categories.id"), nullable=False),
    sa.Column("manufacturer_id", sa.Integer, sa.ForeignKey("suppliers.id"), nullable=False),
    sa.Column("active_ingredient", sa.String(200)),
    sa.Column("dosage", sa.String(50)),
    sa.Column("package_size", sa.String(50)),
    sa.Column("regulatory_code", sa.String(13), nullable=False),
    sa.Column("is_generic", sa.Boolean, nullable=False),
    sa.Column("unit_cost", MONEY, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    *_timestamps(),
    sa.Column("deleted_at", sa.DateTime, nullable=True),
)

inventory = sa.Table(
    "inventory",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False),
    sa.Column("warehouse_id", sa.Integer, sa.ForeignKey("warehouses.id"), nullable=False),
    sa.Column("quantity_available", sa.Integer, nullable=False),
    sa.Column("quantity_reserved", sa.Integer, nullable=False),
    sa.Column("quantity_incoming", sa.Integer, nullable=False),
    sa.Column("reorder_point", sa.Integer, nullable=False),
    sa.Column("last_updated", sa.DateTime, nullable=False, index=True),
    sa.UniqueConstraint("product_id", "warehouse_id"),
)

pricing = sa.Table(
    "pricing",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False),
    # NULL = the list price; otherwise the price for customers of that tier.
    sa.Column("customer_tier", sa.String(20), nullable=True),
    sa.Column("price", MONEY, nullable=False),
    sa.Column("effective_from", sa.Date, nullable=False),
    # NULL = still in force. Ranges are half-open: [effective_from, effective_to).
    sa.Column("effective_to", sa.Date, nullable=True),
    *_timestamps(),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("warehouse_id", sa.Integer, sa.ForeignKey("warehouses.id"), nullable=False),
    sa.Column("order_date", sa.Date, nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("subtotal", MONEY, nullable=False),
    sa.Column("discount", MONEY, nullable=False),
    sa.Column("tax", MONEY, nullable=False),
    sa.Column("shipping_cost", MONEY, nullable=False),
    # total = subtotal - discount + tax + shipping_cost
    sa.Column("total", MONEY, nullable=False),
    sa.Column("payment_method", sa.String(20), nullable=False),
    sa.Column("payment_status", sa.String(20), nullable=False),
    sa.Column("shipping_address", sa.String(300)),
    sa.Column("notes", sa.Text),
    *_timestamps(),
)

order_items = sa.Table(
    "order_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price", MONEY, nullable=False),
    # discount is an amount in BRL for the whole line, 0 <= discount <= quantity * unit_price
    sa.Column("discount", MONEY, nullable=False),
    sa.Column("tax", MONEY, nullable=False),
    # total = quantity * unit_price - discount + tax
    sa.Column("total", MONEY, nullable=False),
    *_timestamps(),
)

customer_interactions = sa.Table(
    "customer_interactions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("interaction_date", sa.DateTime, nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("interaction_type", sa.String(20), nullable=False),
    sa.Column("resolved", sa.Boolean, nullable=False),
    sa.Column("resolution_time_minutes", sa.Integer, nullable=True),
    sa.Column("agent_type", sa.String(10), nullable=False),
    *_timestamps(),
)

# Extraction order respects foreign keys (parents first), which also makes the
# demo generator's bulk inserts valid on databases that enforce them.
TABLES: tuple[sa.Table, ...] = (
    categories,
    suppliers,
    warehouses,
    customers,
    products,
    inventory,
    pricing,
    orders,
    order_items,
    customer_interactions,
)


def cursor_column(table: sa.Table) -> str:
    """The change-tracking column extraction uses as its high-water mark."""
    return "last_updated" if "last_updated" in table.c else "updated_at"


def create_schema(engine: sa.Engine) -> None:
    metadata.create_all(engine)


def drop_schema(engine: sa.Engine) -> None:
    metadata.drop_all(engine)
