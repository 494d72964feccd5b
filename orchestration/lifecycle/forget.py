"""Forget one data subject (LGPD art. 18: anonymisation or deletion on request).

Where personal data lives is declared once per table: which rows belong to the subject
and what each personal column becomes. For the raw copies of the source tables that is
``personal_data`` in the sources file (orchestration/sources.yml); for the snapshots and
marts dbt derives from them, ``DERIVED_PERSONAL_DATA`` below. Customers are pharmacies,
so the rows themselves stay (orders and revenue remain true) while every value that
identifies the person or the pharmacy is replaced; Marketo leads and their activities,
which only describe the person, are deleted.

Every change, and the audit entry, is one warehouse transaction: a crash leaves the
request undone and it can simply be run again. The audit keeps a SHA-256 of the subject,
never the clear value. Staging and intermediate models are views over raw and follow by
themselves; the marts are updated in place, so analysts see the result at once and the
next dbt build, reading the anonymised raw tables and snapshot, agrees with it.

The request must also be carried out in the operational database (it is the system of
record): otherwise a later change to the row would extract it again in clear.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field

from orchestration.brazil import make_cnpj
from orchestration.sources import Sources, load_sources
from orchestration.warehouse.base import REJECTED_ROWS
from orchestration.warehouse.sql import WarehouseSql

AUDIT_SCHEMA = "audit"
AUDIT_TABLE = "data_subject_requests"
FORGOTTEN_NAME = "Cliente removido (LGPD)"

# A value for a NOT NULL text column, per customer id: no personal data, still unique.
NAME = "name"
CNPJ = "cnpj"
NULL = None


@dataclass(frozen=True)
class PersonalTable:
    schema: str
    table: str
    subject_column: str  # holds the subject's customer id
    columns: dict[str, str | None]  # column -> NAME | CNPJ | NULL (what it becomes)


# Snapshots and marts built by dbt from the raw tables declared in the sources file.
DERIVED_PERSONAL_DATA: tuple[PersonalTable, ...] = (
    PersonalTable(
        "snapshots", "customers_snapshot", "customer_id",
        {"customer_name": NAME, "legal_name": NAME, "cnpj": CNPJ, "email": NULL, "phone": NULL,
         "contact_name": NULL, "address_street": NULL, "zip_code": NULL},
    ),
    PersonalTable(
        "marts", "dim_customers", "customer_id",
        {"customer_name": NAME, "legal_name": NAME, "cnpj": CNPJ, "email_sha256": NULL,
         "phone_sha256": NULL, "zip_code": NULL},
    ),
    PersonalTable("marts", "customer_360", "customer_id", {"customer_name": NAME, "cnpj": CNPJ}),
)  # fmt: skip


def personal_data(sources: Sources) -> tuple[PersonalTable, ...]:
    """Every table holding personal data: the declared sources' raw copies, then dbt's."""
    raw = tuple(
        PersonalTable("raw_ops", t.name, t.personal_data.subject_column, dict(t.personal_data.columns))
        for t in sources
        if t.personal_data is not None
    )
    return raw + DERIVED_PERSONAL_DATA


# Marketo: leads matched by e-mail are deleted with their activities.
MARKETO_SCHEMA = "raw_marketo"
MARKETO_LEAD_TABLES = ("leads",)
MARKETO_ACTIVITY_TABLES = ("activities",)
# Marts that carry Marketo lead ids: (schema, table, lead id column).
MARKETO_MART_TABLES = (("marts", "fact_marketing_activities", "lead_id"),)


class SubjectNotFound(LookupError):
    pass


@dataclass
class ForgetOutcome:
    request_id: str
    subject_hash: str
    customer_ids: list[int]
    rows_by_table: dict[str, int] = field(default_factory=dict)

    @property
    def rows_affected(self) -> int:
        return sum(self.rows_by_table.values())


def subject_hash(customer_id: int | None, email_sha256: str | None) -> str:
    """What the audit keeps: the e-mail's SHA-256 when given, else a hash of the customer id."""
    return email_sha256 or hashlib.sha256(f"customer_id:{customer_id}".encode()).hexdigest()


def forgotten_cnpj(customer_id: int) -> str:
    # Root 99xxxxxx with branch 9999: valid check digits (suites stay green), no real company.
    return make_cnpj(99_000_000 + customer_id % 1_000_000, 9999)


def forget_subject(
    sql: WarehouseSql,
    *,
    customer_id: int | None = None,
    email: str | None = None,
    email_sha256: str | None = None,
    request_id: str | None = None,
    requested_at: dt.datetime | None = None,
    sources: Sources | None = None,
) -> ForgetOutcome:
    """``sources`` None = the declared sources settings name (``SOURCES_FILE``)."""
    if customer_id is None and not email and not email_sha256:
        raise ValueError("forget_data_subject needs a customer_id, an email (or email_sha256) or both")
    request_id = request_id or str(uuid.uuid4())
    requested_at = requested_at or _utcnow()
    raw = "raw_ops"
    email_norm = email.strip().lower() if email else None
    email_hash = email_sha256 or (hashlib.sha256(email_norm.encode()).hexdigest() if email_norm else "")
    ids = [
        int(r[0])
        for r in sql.rows(
            f"select distinct id from {sql.relation(raw, 'customers')} "
            f"where id = $customer_id or {sql.sha256_hex('lower(trim(email))')} = $email_hash",
            {"customer_id": customer_id if customer_id is not None else -1, "email_hash": email_hash},
        )
    ]
    emails = sorted(
        {
            r[0].strip().lower()
            for r in sql.rows(
                f"select distinct email from {sql.relation(raw, 'customers')} "
                f"where {sql.in_array('id', 'ids')} and email is not null",
                {"ids": ids or [-1]},
            )
        }
        | ({email_norm} if email_norm else set())
    )
    if not ids and not emails:
        raise SubjectNotFound("no customer matches the request (customer_id/email)")
    outcome = ForgetOutcome(request_id, subject_hash(customer_id, email_hash or None), ids)

    statements: list[tuple[str, dict]] = []
    labels: list[str] = []
    for target in personal_data(sources or load_sources()):
        schema = target.schema
        existing = _columns_or_none(sql, schema, target.table)
        if existing is None or target.subject_column not in existing:
            continue
        for cid in ids:
            values = {NAME: FORGOTTEN_NAME, CNPJ: forgotten_cnpj(cid), NULL: None}
            assignments = []
            params: dict = {"subject_id": cid}
            for i, (column, becomes) in enumerate(target.columns.items()):
                if column not in existing:
                    continue
                if becomes is None:
                    assignments.append(f"{column} = null")
                else:
                    params[f"v{i}"] = values[becomes]
                    assignments.append(f"{column} = $v{i}")
            if assignments:
                statements.append(
                    (
                        f"update {sql.relation(schema, target.table)} set {', '.join(assignments)} "
                        f"where {target.subject_column} = $subject_id",
                        params,
                    )
                )
                labels.append(f"{sql.dataset(schema)}.{target.table}")

    # Quarantined bad input keeps the offending value (maybe a name or an e-mail) per key.
    rejected = _columns_or_none(sql, raw, REJECTED_ROWS)
    if rejected is not None and {"table_name", "source_key"} <= set(rejected):
        for cid in ids:
            statements.append(
                (
                    f"delete from {sql.relation(raw, REJECTED_ROWS)} where (table_name = 'customers' "
                    "and source_key = $rejected_key) or (table_name = 'orders' and source_key in "
                    f"(select cast(id as string) from {sql.relation(raw, 'orders')} where customer_id = $rejected_id))",
                    {"rejected_key": str(cid), "rejected_id": cid},
                )
            )
            labels.append(f"{sql.dataset(raw)}.{REJECTED_ROWS}")

    if emails:
        statements_m, labels_m = _marketo_statements(sql, MARKETO_SCHEMA, emails)
        statements += statements_m
        labels += labels_m

    _ensure_audit_table(sql)
    audit = sql.relation(AUDIT_SCHEMA, AUDIT_TABLE)
    # Counts are known only after the statements ran; the audit row is written last in the
    # same transaction with a placeholder that is filled in by a final update.
    statements.append(
        (
            f"insert into {audit} "
            "(request_id, subject_hash, tables_touched, rows_affected, requested_at, completed_at) "
            "values ($request_id, $subject_hash, $tables_touched, 0, $requested_at, $completed_at)",
            {
                "request_id": request_id,
                "subject_hash": outcome.subject_hash,
                "tables_touched": ", ".join(sorted(set(labels))),
                "requested_at": requested_at,
                "completed_at": _utcnow(),
            },
        )
    )
    counts = sql.transaction(statements)
    for label, count in zip(labels, counts, strict=False):
        outcome.rows_by_table[label] = outcome.rows_by_table.get(label, 0) + count
    sql.transaction(
        [
            (
                f"update {audit} set rows_affected = $rows, "
                "tables_touched = $tables where request_id = $request_id",
                {
                    "rows": outcome.rows_affected,
                    "tables": ", ".join(f"{t}={n}" for t, n in sorted(outcome.rows_by_table.items())),
                    "request_id": request_id,
                },
            )
        ]
    )
    return outcome


def _marketo_statements(sql: WarehouseSql, schema: str, emails: list[str]) -> tuple[list, list]:
    statements: list[tuple[str, dict]] = []
    labels: list[str] = []
    lead_ids_sql: list[str] = []
    in_emails = sql.in_array("lower(email)", "emails")
    for table in MARKETO_LEAD_TABLES:
        columns = _columns_or_none(sql, schema, table)
        if columns is None or "email" not in columns:
            continue
        id_column = "id" if "id" in columns else "leadId"
        lead_ids_sql.append(
            f"select cast({id_column} as string) as lead_key from {sql.relation(schema, table)} where {in_emails}"
        )
    for table in MARKETO_ACTIVITY_TABLES:
        columns = _columns_or_none(sql, schema, table)
        if columns is None or "leadId" not in columns or not lead_ids_sql:
            continue
        statements.append(
            (
                f"delete from {sql.relation(schema, table)} where cast(leadId as string) in "
                f"(select lead_key from ({' union all '.join(lead_ids_sql)}) as leads)",
                {"emails": emails},
            )
        )
        labels.append(f"{sql.dataset(schema)}.{table}")
    for mart, table, lead_column in MARKETO_MART_TABLES:
        columns = _columns_or_none(sql, mart, table)
        if columns is None or lead_column not in columns or not lead_ids_sql:
            continue
        statements.append(
            (
                f"delete from {sql.relation(mart, table)} where cast({lead_column} as string) in "
                f"(select lead_key from ({' union all '.join(lead_ids_sql)}) as leads)",
                {"emails": emails},
            )
        )
        labels.append(f"{sql.dataset(mart)}.{table}")
    for table in MARKETO_LEAD_TABLES:
        columns = _columns_or_none(sql, schema, table)
        if columns is None or "email" not in columns:
            continue
        statements.append(
            (f"delete from {sql.relation(schema, table)} where {in_emails}", {"emails": emails})
        )
        labels.append(f"{sql.dataset(schema)}.{table}")
    return statements, labels


def _columns_or_none(sql: WarehouseSql, schema: str, table: str) -> dict[str, str] | None:
    try:
        if table not in sql.tables(schema):
            return None
    except Exception:
        return None
    return sql.columns(schema, table)


def _ensure_audit_table(sql: WarehouseSql) -> None:
    string, int64, timestamp = (sql.column_type(k) for k in ("string", "int64", "timestamp"))
    sql.create_dataset(AUDIT_SCHEMA)
    sql.ddl(
        f"create table if not exists {sql.relation(AUDIT_SCHEMA, AUDIT_TABLE)} (request_id {string} not null, "
        f"subject_hash {string} not null, tables_touched {string}, rows_affected {int64}, "
        f"requested_at {timestamp} not null, completed_at {timestamp})"
    )


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def forgotten_subject_ids(sql: WarehouseSql, sources: Sources | None = None) -> frozenset[int]:
    """Customer ids already erased in raw: rows whose name-like column holds FORGOTTEN_NAME.

    The completeness reconciliation leaves such subjects' rows alone: where the source still
    holds them in clear, re-extracting them would bring the personal data back.
    """
    ids: set[int] = set()
    for target in personal_data(sources or load_sources()):
        if target.schema != "raw_ops":
            continue
        named = [c for c, becomes in target.columns.items() if becomes == NAME]
        existing = _columns_or_none(sql, target.schema, target.table)
        if not named or existing is None or named[0] not in existing:
            continue
        rows = sql.rows(
            f"select distinct {target.subject_column} from {sql.relation(target.schema, target.table)} "
            f"where {named[0]} = $forgotten",
            {"forgotten": FORGOTTEN_NAME},
        )
        ids.update(int(r[0]) for r in rows if r[0] is not None)
    return frozenset(ids)
