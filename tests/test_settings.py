"""orchestration/settings.py is the only reader of the environment in production code.

Production is orchestration/ except orchestration/demo/ (the demo command, `make dev`
and tests set variables for the product; the product reads them through Settings).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from orchestration.settings import PROJECT_ROOT, SettingsError, load_settings

PRODUCTION = PROJECT_ROOT / "orchestration"
EXEMPT = (PRODUCTION / "demo", PRODUCTION / "settings.py")

# (file, enclosing function): why it may touch os.environ. Writes and pass-throughs only.
ALLOWED = {
    ("orchestration/quality/gx_suite.py", "build_expectation_suite"): (
        "setdefault GX_ANALYTICS_ENABLED=false: a switch for the Great Expectations library, written"
    ),
    ("orchestration/quality/gx_suite.py", "validate_dataframe"): (
        "setdefault GX_ANALYTICS_ENABLED=false: a switch for the Great Expectations library, written"
    ),
    ("orchestration/resources/dbt.py", "scoped_environ"): (
        "writes the Settings' values for the dbt subprocess and restores the previous ones "
        "(PharmaDbtCliResource says why dbt needs them in os.environ)"
    ),
    ("orchestration/extract/readers.py", "_psql_connection"): (
        "{**os.environ, ...}: the psql child process inherits this process's environment"
    ),
    ("orchestration/preflight.py", "run_checks"): (
        "the start-up check hands the environment to load_settings and checks the DAGSTER_PG_* "
        "variables deploy/dagster.yaml names, as Dagster itself will read them"
    ),
}


def _production_files() -> list[Path]:
    return sorted(
        path
        for path in PRODUCTION.rglob("*.py")
        if not any(path == exempt or exempt in path.parents for exempt in EXEMPT)
    )


def _environment_uses(path: Path) -> list[tuple[int, str | None, str]]:
    """(line, enclosing function, text) of every os.environ / os.getenv / os.putenv /
    os.unsetenv, including ``from os import environ`` and ``import os as ...``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    os_names = {"os"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            os_names |= {alias.asname or "os" for alias in node.names if alias.name == "os"}
    names = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
    lines = path.read_text().splitlines()
    uses: list[tuple[int, str | None, str]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        hit = (
            isinstance(node, ast.Attribute)
            and node.attr in names
            and isinstance(node.value, ast.Name)
            and node.value.id in os_names
        ) or (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(alias.name in names for alias in node.names)
        )
        if hit:
            uses.append((node.lineno, function, lines[node.lineno - 1].strip()))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, None)
    return uses


def test_only_settings_reads_the_environment():
    files = _production_files()
    assert PRODUCTION / "resources" / "dbt.py" in files and PRODUCTION / "definitions.py" in files
    offending, used = [], set()
    for path in files:
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        for line, function, text in _environment_uses(path):
            if (relative, function) in ALLOWED:
                used.add((relative, function))
            else:
                offending.append(f"{relative}:{line} ({function or 'module level'}): {text}")
    assert not offending, (
        "read the environment only in orchestration/settings.py (add a Settings field and take it "
        "from load_settings() or a Settings argument):\n" + "\n".join(offending)
    )
    assert used == set(ALLOWED), f"allow-list entries that no longer match anything: {set(ALLOWED) - used}"


def test_the_check_sees_reads_writes_and_aliases(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "import os\nimport os as system\nfrom os import getenv\n\n"
        "def f():\n    '''os.environ in a docstring is not a read'''\n"
        "    return os.environ.get('A'), system.getenv('B'), getenv('C')\n"
    )
    assert [(line, function) for line, function, _ in _environment_uses(module)] == [
        (3, None),
        (7, "f"),
        (7, "f"),
    ]


def test_defaults_when_nothing_is_set():
    settings = load_settings({})
    assert (settings.dbt_target, settings.dbt_log_level_file) == (None, "info")
    assert (settings.dbt_target_path, settings.dbt_log_path, settings.dbt_keep_invocation_dirs) == (
        "target",
        "logs",
        20,
    )
    assert settings.postgres_copy_client == "auto"
    assert (settings.marketo_poll_interval_s, settings.marketo_rate_limit_calls) == (60.0, 100)
    assert (settings.marketo_history_start, settings.marketo_activities_start_date) == (
        "2018-01-01",
        "2025-01-01",
    )
    assert settings.marketo_variables_set == frozenset() and not settings.ops_database_url_set
    assert settings.quality_data_docs_dir.parts[-2:] == ("quality", "data_docs")


def test_secrets_are_recorded_as_set_never_by_value():
    settings = load_settings(
        {"MARKETO_CLIENT_SECRET": "s3cr3t-value", "MARKETO_BASE_URL": "https://x.mktorest.com"}
    )
    assert settings.marketo_variables_set == {"MARKETO_CLIENT_SECRET", "MARKETO_BASE_URL"}
    assert "s3cr3t-value" not in repr(settings)


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("DBT_KEEP_INVOCATION_DIRS", "twenty", "whole number"),
        ("MARKETO_RATE_LIMIT_CALLS", "1e2", "whole number"),
        ("MARKETO_POLL_INTERVAL_S", "a minute", "number of seconds"),
        ("EXTRACT_POSTGRES_COPY", "odbc", "auto, psql, duckdb or psycopg"),
        ("BIGQUERY_PII_POLICY_TAG", "pii-taxonomy", "policyTags/<id>"),
    ],
)
def test_a_wrong_value_names_the_variable_and_what_it_accepts(variable, value, accepted):
    with pytest.raises(SettingsError, match=variable) as info:
        load_settings({variable: value})
    assert accepted in str(info.value) and repr(value) in str(info.value)
