{#
    dbt's query comment (dbt_project.yml `query-comment`), which dbt-bigquery also turns into
    job labels (`job-label: true`): the same keys as the warehouse's own jobs
    (orchestration/warehouse/bigquery_labels.py), so INFORMATION_SCHEMA.JOBS attributes each
    model's bytes billed to its Dagster asset (<layer>-<model>, the asset key) and run.
    DAGSTER_RUN_ID and DAGSTER_JOB_NAME are set by the dbt resource for the run's dbt process.
#}
{% macro pharma_query_comment(node) -%}
    {%- set comment = {
        'component': 'dbt',
        'dagster_job': env_var('DAGSTER_JOB_NAME', ''),
        'dagster_run_id': env_var('DAGSTER_RUN_ID', ''),
    } -%}
    {%- if node is not none -%}
        {%- set layer = 'snapshots' if node.resource_type == 'snapshot' else node.fqn[1] -%}
        {%- do comment.update({'dagster_asset': layer ~ '-' ~ node.name, 'dbt_node': node.unique_id}) -%}
    {%- endif -%}
    {{- return(tojson(comment)) -}}
{%- endmacro %}
