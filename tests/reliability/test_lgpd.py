"""Personal data (LGPD): tagged in dbt, only hashed in marts, forgettable on request, and
kept no longer than its retention window."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import dagster as dg
import duckdb
import pytest
import sqlalchemy as sa

from orchestration.assets import lifecycle as lifecycle_assets
from orchestration.lifecycle import retention
from orchestration.resources.dbt import dbt_project, dbt_target
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import load_settings
from orchestration.sources import load_sources
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.pipeline.conftest import _dbt_manifest, make_harness  # noqa: F401 - the fixture prepares dbt

# Columns that hold personal data wherever they appear (sources, staging, snapshots, marts).
PERSONAL_COLUMNS = {
    "email", "phone", "contact_name", "address_street", "contact_email", "contact_phone",
    "shipping_address",
}  # fmt: skip


def _manifest() -> dict:
    project = dbt_project(dbt_target(load_settings({})))
    return json.loads(project.manifest_path.read_text())


def test_personal_columns_are_tagged_pii_and_marts_expose_only_hashes():
    manifest = _manifest()
    nodes = [*manifest["nodes"].values(), *manifest["sources"].values()]
    checked = 0
    for node in nodes:
        if node["resource_type"] not in ("model", "snapshot", "source"):
            continue
        for name, column in node.get("columns", {}).items():
            tagged = "pii" in column.get("tags", []) and column.get("meta", {}).get("contains_pii") is True
            if name in PERSONAL_COLUMNS:
                checked += 1
                assert tagged, (
                    f"{node['unique_id']}.{name} holds personal data: tag it pii + meta.contains_pii"
                )
            if tagged and node["resource_type"] == "model" and "marts" in node["fqn"]:
                assert column.get("meta", {}).get("pii_exposure") == "sha256", (
                    f"{node['unique_id']}.{name}: marts expose personal data only hashed"
                )
                assert name.endswith("_sha256")
    assert checked >= 10
    # No mart carries a clear personal column at all.
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and "marts" in node["fqn"]:
            assert not PERSONAL_COLUMNS & set(node.get("columns", {})), node["unique_id"]


# -- forgetting a data subject --------------------------------------------------------------


def _string_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    return con.execute(
        "select c.table_schema, c.table_name, c.column_name from information_schema.columns c "
        "join information_schema.tables t using (table_catalog, table_schema, table_name) "
        "where c.data_type = 'VARCHAR' and c.table_schema not in ('information_schema', 'pg_catalog') "
        "order by 1, 2, 3"
    ).fetchall()


def _traces(con: duckdb.DuckDBPyConnection, values: list[str]) -> list[str]:
    """Every table and view column (all schemas) holding one of ``values`` (case-insensitive,
    anywhere in the text)."""
    found = []
    for schema, table, column in _string_columns(con):
        for value in values:
            hits = con.execute(
                f'select count(*) from "{schema}"."{table}" where contains(lower("{column}"), ?)',
                [value.lower()],
            ).fetchone()[0]
            if hits:
                found.append(f"{schema}.{table}.{column} holds {value!r} ({hits} rows)")
    return found


@pytest.mark.slow
def test_forget_data_subject_leaves_no_trace_and_keeps_others(sqlite_url, tmp_path, monkeypatch):
    harness = make_harness(sqlite_url, tmp_path, monkeypatch)
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        # Give the subject's orders a shipping address and a note naming the contact person,
        # as a real operational database would have.
        subject_id, other_id = (
            int(r[0])
            for r in conn.execute(
                sa.text(
                    "select id from customers c where email is not null and phone is not null "
                    "and contact_name is not null and address_street is not null and deleted_at is null "
                    "and exists (select 1 from orders o where o.customer_id = c.id) "
                    "and (select count(*) from customers x where x.name = c.name) = 1 order by id limit 2"
                )
            )
        )
        subject = conn.execute(
            sa.text(
                "select name, legal_name, cnpj, email, phone, contact_name, address_street from customers where id = :i"
            ),
            {"i": subject_id},
        ).one()
        conn.execute(
            sa.text("update orders set shipping_address = :a, notes = :n where customer_id = :i"),
            {"a": subject.address_street, "n": f"Entregar a {subject.contact_name}", "i": subject_id},
        )
        other = conn.execute(
            sa.text("select name, cnpj, email from customers where id = :i"), {"i": other_id}
        ).one()
    harness.run("daily_full_build")

    email_hash = hashlib.sha256(subject.email.strip().lower().encode()).hexdigest()
    _plant_marketo_leads(harness.duckdb_path, subject.email, other.email)
    clear_values = [subject.name, subject.legal_name, subject.cnpj, subject.email, subject.phone,
                    subject.contact_name, subject.address_street, "Subjectlast"]  # fmt: skip
    with harness.warehouse() as con:
        assert _traces(con, [subject.email]), "the subject is in the warehouse before the request"
        assert con.execute(
            "select count(*) from marts.dim_customers where email_sha256 = ?", [email_hash]
        ).fetchone()[0]

    # The request names the subject by e-mail hash only, so run storage never holds it in clear.
    from orchestration.definitions import build_definitions

    job = build_definitions(harness.settings).resolve_job_def("forget_data_subject")
    result = job.execute_in_process(
        run_config={
            "ops": {"forget_subject_op": {"config": {"email_sha256": email_hash, "request_id": "req-1"}}}
        },
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success

    with harness.warehouse() as con:
        # The audit keeps the subject's hash by design (proof the request was honoured).
        leftovers = [
            t
            for t in _traces(con, [*clear_values, email_hash])
            if not t.startswith("audit.data_subject_requests.subject_hash ")
        ]
        assert leftovers == [], "\n".join(leftovers)
        audit = con.execute(
            "select request_id, subject_hash, tables_touched, rows_affected, requested_at, completed_at "
            "from audit.data_subject_requests"
        ).fetchall()
        assert len(audit) == 1
        request_id, audited_hash, tables, rows, requested_at, completed_at = audit[0]
        assert (request_id, audited_hash) == ("req-1", email_hash)
        assert rows > 0 and requested_at <= completed_at
        for table in ("raw_ops.customers", "raw_ops.orders", "snapshots.customers_snapshot", "marts.dim_customers",
                      "marts.customer_360"):  # fmt: skip
            assert table in tables
        # The subject's orders still count (revenue stays true), under an anonymous name.
        name, orders = con.execute(
            "select customer_name, total_orders from marts.customer_360 where customer_id = ?", [subject_id]
        ).fetchone()
        assert name == "Cliente removido (LGPD)" and orders > 0
        # Everyone else is untouched.
        assert con.execute(
            "select count(*) from raw_ops.customers where id = ? and email = ? and cnpj = ?",
            [other_id, other.email, other.cnpj],
        ).fetchone()[0]
        assert con.execute(
            "select customer_name, cnpj from marts.customer_360 where customer_id = ?", [other_id]
        ).fetchone() == (other.name, other.cnpj)
        assert (
            con.execute("select count(*) from staging.stg_ops__customers where email is not null").fetchone()[
                0
            ]
            > 1
        )
        # Marketo: the subject's lead and its activities are gone, the other lead's stay.
        assert con.execute("select id from raw_marketo.leads where id in (9001, 9002)").fetchall() == [
            (9002,)
        ]
        assert (
            con.execute("select count(*) from raw_marketo.activities where leadId = 9002").fetchone()[0] == 1
        )
        assert (
            con.execute("select count(*) from raw_marketo.activities where leadId = 9001").fetchone()[0] == 0
        )
        assert con.execute(
            "select lead_id from marts.fact_marketing_activities where lead_id in (9001, 9002)"
        ).fetchall() == [(9002,)]


def _plant_marketo_leads(path, subject_email: str, other_email: str) -> None:
    """One Marketo lead (with an activity) for the subject and one for another customer; the
    tables are created minimal when the Marketo extraction has not run."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists raw_marketo")
        con.execute(
            "create table if not exists raw_marketo.leads (id bigint, email varchar, firstName varchar, "
            "lastName varchar, phone varchar, _batch_id varchar, _loaded_at timestamp)"
        )
        con.execute(
            "create table if not exists raw_marketo.activities (marketoGUID varchar, leadId bigint, "
            "activityDate timestamp, _batch_id varchar, _loaded_at timestamp)"
        )
        con.execute(
            "create table if not exists marts.fact_marketing_activities (activity_guid varchar, lead_id bigint, "
            "activity_at timestamp)"
        )
        for lead_id, email, first, last in [
            (9001, subject_email.upper(), "Leadfirst", "Subjectlast"),
            (9002, other_email, "Other", "Lead"),
        ]:
            con.execute(
                "insert into raw_marketo.leads (id, email, firstName, lastName, _batch_id, _loaded_at) "
                "values (?, ?, ?, ?, 'planted', now())",
                [lead_id, email, first, last],
            )
            con.execute(
                "insert into raw_marketo.activities (marketoGUID, leadId, activityDate, _batch_id, _loaded_at) "
                "values (?, ?, now(), 'planted', now())",
                [f"guid-{lead_id}", lead_id],
            )
            con.execute(
                "insert into marts.fact_marketing_activities (activity_guid, lead_id, activity_at) "
                "values (?, ?, now())",
                [f"guid-{lead_id}", lead_id],
            )


# -- retention ---------------------------------------------------------------------------------

AS_OF = dt.datetime(2026, 6, 30, 4, 0)


def _retention_warehouse(path) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(path)
    day = dt.timedelta(days=1)
    with warehouse.connect() as con:
        con.execute("create schema raw_ops")
        con.execute("create schema marts")
        con.execute(
            "create table raw_ops.customer_interactions (id bigint, interaction_date timestamp, "
            "updated_at timestamp, _batch_id varchar, _loaded_at timestamp)"
        )
        rows = [
            (1, AS_OF - 6 * 365 * day, AS_OF - 6 * 365 * day),  # six years old: goes
            (2, AS_OF - 1826 * day - dt.timedelta(hours=1), AS_OF - 10 * day),  # just outside 5 years
            (3, AS_OF - 1825 * day, AS_OF - 10 * day),  # just inside
            (4, AS_OF - 30 * day, AS_OF - 30 * day),
        ]
        for i, at, updated in rows:
            con.execute(
                "insert into raw_ops.customer_interactions values (?, ?, ?, 'b1', ?)",
                [i, at, updated, updated],
            )
        con.execute(
            "create table marts.fact_customer_interactions as select id as interaction_id, "
            "interaction_date as interacted_at from raw_ops.customer_interactions"
        )
        # Order 10: three versions. v1 superseded 400 days ago (goes), v2 superseded 100 days
        # ago (stays: inside 180), v3 is the latest (always stays). Order 11: one old version.
        con.execute(
            "create table raw_ops.orders (id bigint, status varchar, updated_at timestamp, "
            "_batch_id varchar, _loaded_at timestamp)"
        )
        for i, status, age, batch in [
            (10, "pending", 500, "a"),
            (10, "shipped", 400, "b"),
            (10, "delivered", 100, "c"),
            (11, "delivered", 900, "a"),
        ]:
            at = AS_OF - age * day
            con.execute("insert into raw_ops.orders values (?, ?, ?, ?, ?)", [i, status, at, batch, at])
    return warehouse


def test_retention_deletes_only_what_is_out_of_window(tmp_path):
    warehouse = _retention_warehouse(tmp_path / "w.duckdb")
    outcomes = {(o.rule.kind, o.rule.name): o for o in retention.enforce(warehouse.sql(), AS_OF)}

    assert outcomes[("age", "raw_ops.customer_interactions")].rows_deleted == 2
    assert outcomes[("age", "marts.fact_customer_interactions")].rows_deleted == 2
    assert outcomes[("superseded", "raw_ops.orders")].rows_deleted == 1
    assert outcomes[("age", "raw_ops._rejected_rows")].skipped == "table does not exist"
    with warehouse.connect(read_only=True) as con:
        assert [
            r[0] for r in con.execute("select id from raw_ops.customer_interactions order by id").fetchall()
        ] == [3, 4]
        assert con.execute("select id, status from raw_ops.orders order by id, updated_at").fetchall() == [
            (10, "shipped"),
            (10, "delivered"),
            (11, "delivered"),
        ]
    # Enforcing again at the same instant deletes nothing more (idempotent).
    again = retention.enforce(warehouse.sql(), AS_OF)
    assert sum(o.rows_deleted for o in again) == 0
    # A year later v2 of order 10 has been superseded for long enough too.
    later = retention.enforce(warehouse.sql(), AS_OF + dt.timedelta(days=365))
    assert {o.rule.name: o.rows_deleted for o in later if o.rule.kind == "superseded"}["raw_ops.orders"] == 1


def test_retention_asset_reports_counts_with_a_controlled_clock(tmp_path):
    path = tmp_path / "w.duckdb"
    _retention_warehouse(path)
    result = dg.materialize(
        [lifecycle_assets.retention_enforcement],
        resources={"warehouse": WarehouseResource(kind="duckdb", duckdb_path=str(path))},
        run_config={"ops": {"governance__retention_enforcement": {"config": {"as_of": AS_OF.isoformat()}}}},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("governance__retention_enforcement")[0].metadata
    assert metadata["rows_deleted"].value == 5
    assert metadata["age:raw_ops.customer_interactions"].value == 2


def test_retention_runs_daily():
    from orchestration.definitions import build_definitions

    schedule = build_definitions().resolve_schedule_def("retention_enforcement_schedule")
    assert schedule.cron_schedule == "0 4 * * *"
    assert schedule.job_name == "retention_enforcement"


CDC_ORDERS = """tables:
  orders:
    description: Orders.
    primary_key: id
    cursor: updated_at
    mode: cdc
    retention: {superseded_days: 180}
"""

# What staging makes of a CDC table (dbt's latest_version_with_deletes), in plain SQL: each
# key's latest live version and whether a delete, or a truncate or snapshot without it, ended it.
CDC_STATE = """
with live as (
    select *, row_number() over (
        partition by id order by _cdc_position desc nulls last, updated_at desc, _loaded_at desc) as r
    from {t}
    where id is not null and (_cdc_operation is null or _cdc_operation not in ('delete', 'truncate'))
)
select id, status,
    exists (select 1 from {t} e where e.id = live.id and e._cdc_operation = 'delete'
            and e._cdc_position > live._cdc_position)
    or coalesce((select max(m._cdc_position) from {t} m
                 where m._cdc_operation in ('truncate', 'snapshot')) > live._cdc_position, false) as ended
from live where r = 1 order by id
"""
CDC_ROWS = [  # id, status, age in days, operation, position (180 days kept)
    (None, None, 700, "truncate", "0000"),  # no key: stays
    (3, "pending", 600, None, None),  # cursor mode before the switch; superseded: goes
    (1, "pending", 500, "snapshot", "0001"),  # the first snapshot: superseded, goes
    (3, "pending", 500, "snapshot", "0001"),  # goes (the re-snapshot 250 days ago)
    (1, "shipped", 400, "update", "0002"),  # goes (the re-snapshot)
    (2, "pending", 390, "insert", "0003"),  # the live version before its delete: stays
    (2, None, 380, "delete", "0004"),  # nothing live after it: stays
    (4, "shipped", 370, "insert", "0005"),  # latest; the re-snapshot lacks it: stays
    (5, "pending", 360, "insert", "0006"),  # re-inserted 300 days ago: goes
    (5, None, 350, "delete", "0007"),  # a live version after it: goes
    (5, "confirmed", 300, "insert", "0008"),  # goes (the re-snapshot)
    # The latest snapshot position: stays, though each of its rows is superseded (without it,
    # the truncate would be the latest end and key 4 would come back).
    (1, "shipped", 250, "snapshot", "0009"),
    (3, "pending", 250, "snapshot", "0009"),
    (5, "confirmed", 250, "snapshot", "0009"),
    (3, "confirmed", 200, "update", "0010"),  # the latest of each key: stay
    (1, "delivered", 190, "update", "0011"),
    (5, "paid", 185, "update", "0012"),
]
CDC_KEPT = [
    (None, "0000"), (2, "0003"), (2, "0004"), (4, "0005"), (1, "0009"), (3, "0009"), (5, "0009"),
    (3, "0010"), (1, "0011"), (5, "0012"),
]  # fmt: skip
CDC_STATE_ROWS = [
    (1, "delivered", False), (2, "pending", True), (3, "confirmed", False), (4, "shipped", True), (5, "paid", False)
]  # fmt: skip


def cdc_retention_case(sql, tmp_path) -> None:
    """The superseded rule on a hand-built CDC raw table through ``sql`` (DuckDB or BigQuery):
    what goes, what stays, and that staging reads the same state after it."""
    from tests.cdc.helpers import sources_file

    int64, string, timestamp = (sql.column_type(k) for k in ("int64", "string", "timestamp"))
    sql.create_dataset("raw_ops")
    t = sql.relation("raw_ops", "orders")
    sql.ddl(
        f"create table {t} (id {int64}, status {string}, updated_at {timestamp}, _batch_id {string}, "
        f"_loaded_at {timestamp}, _cdc_operation {string}, _cdc_committed_at {timestamp}, _cdc_position {string})"
    )

    def literal(value, kind: str) -> str:
        if value is None:
            return f"cast(null as {kind})"
        return f"'{value}'" if kind == string else str(value)

    values = []
    for key, status, age, operation, position in CDC_ROWS:
        at = f"timestamp '{AS_OF - dt.timedelta(days=age):%Y-%m-%d %H:%M:%S}'"
        values.append(
            f"({literal(key, int64)}, {literal(status, string)}, {at}, 'b', {at}, "
            f"{literal(operation, string)}, {at}, {literal(position, string)})"
        )
    sql.transaction([(f"insert into {t} values " + ", ".join(values), None)])
    before = sql.rows(CDC_STATE.format(t=t))
    assert [tuple(r) for r in before] == CDC_STATE_ROWS
    rules = retention.source_rules(load_sources(sources_file(tmp_path, CDC_ORDERS)))
    (outcome,) = retention.enforce(sql, AS_OF, rules)
    assert outcome.rule.by_change_position and outcome.skipped is None
    assert outcome.rows_deleted == 7
    kept = sql.rows(f"select id, _cdc_position from {t} order by _cdc_position asc nulls first, id")
    assert [tuple(r) for r in kept] == CDC_KEPT
    assert sql.rows(CDC_STATE.format(t=t)) == before  # staging reads the same state
    assert sum(o.rows_deleted for o in retention.enforce(sql, AS_OF, rules)) == 0


def test_retention_of_a_cdc_table_keeps_what_staging_reads(tmp_path):
    cdc_retention_case(DuckDBWarehouse(tmp_path / "w.duckdb").sql(), tmp_path)
