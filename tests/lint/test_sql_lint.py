"""The SQL lint (dbt_project/.sqlfluff) catches what it promises, and `make test` runs it.

The models themselves are linted by `make test`'s lint step (the dbt templater, about a
minute); here the project's own configuration lints two small models with the jinja
templater (the rules do not depend on the templater, and it needs no dbt compile), so a
weakened rule or a lost lint step fails in seconds.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlfluff.core import FluffConfig, Linter

ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT = ROOT / "dbt_project"

CONFORMING = """with

orders as (
    select * from {{ ref('stg_ops__orders') }}
),

customers as (
    select * from {{ ref('stg_ops__customers') }}
),

final as (
    select
        orders.order_id,
        orders.customer_id,
        customers.customer_name,
        cast(orders.total_amount as decimal(18, 2)) as total_amount
    from orders
    left join customers
        on orders.customer_id = customers.customer_id
)

select * from final
"""


def lint(sql: str) -> set[str]:
    config = FluffConfig.from_path(str(DBT_PROJECT), overrides={"templater": "jinja", "dialect": "duckdb"})
    result = Linter(config=config).lint_string(sql, fname="model.sql")
    return {violation.rule_code() for violation in result.get_violations()}


def test_project_config_uses_the_dbt_templater_on_duckdb() -> None:
    config = FluffConfig.from_path(str(DBT_PROJECT))
    assert config.get("templater") == "dbt"
    assert config.get("dialect") == "duckdb"


def test_a_model_in_the_project_style_passes() -> None:
    assert lint(CONFORMING) == set()


@pytest.mark.parametrize(
    ("defect", "rule"),
    [
        (lambda sql: sql.replace("select\n", "SELECT\n"), "CP01"),  # lowercase keywords
        (
            lambda sql: sql.replace(
                "orders.order_id,\n        orders.customer_id",
                "orders.order_id\n        , orders.customer_id",
            ),
            "LT04",
        ),  # trailing commas
        (lambda sql: sql.replace("left join", "join"), "AM05"),  # explicit join types
        (lambda sql: sql.replace("as total_amount", "total_amount"), "AL02"),  # explicit aliases
        (lambda sql: sql.replace("decimal(18, 2)", "DECIMAL(18, 2)"), "CP05"),  # lowercase types
    ],
)
def test_each_style_rule_fails_a_model_that_breaks_it(defect, rule: str) -> None:
    assert rule in lint(defect(CONFORMING))


def test_make_test_and_make_lint_run_the_sql_lint() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test", "lint-sql"):
        recipe = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
        assert recipe, f"Makefile has no {target!r} target"
        assert "$(SQLFLUFF) lint" in recipe.group(1), f"`make {target}` does not run sqlfluff lint"
    assert re.search(r"^lint: .*lint-sql", makefile, re.MULTILINE), "`make lint` does not depend on lint-sql"
    assert "make test" in (ROOT / ".ci" / "run").read_text()
