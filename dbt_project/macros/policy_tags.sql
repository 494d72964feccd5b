{#
    BigQuery policy tags on personal-data columns (docs/operations.md, "Personal data: policy
    tags"). Every column whose meta says `contains_pii: true` gets the policy tag named by
    BIGQUERY_PII_POLICY_TAG (projects/<p>/locations/<l>/taxonomies/<t>/policyTags/<id>, from the
    platform's settings, passed to dbt by the dbt resource) when dbt persists column docs of a
    table; a column that declares its own `policy_tags` keeps them. Unset: nothing is tagged.
    BigQuery allows policy tags on tables only, not on views.
#}
{% macro pii_policy_tagged_columns(column_dict, relation_type='table') -%}
    {%- set tag = env_var('BIGQUERY_PII_POLICY_TAG', '') -%}
    {%- set tagged = {} -%}
    {%- for name, column in column_dict.items() -%}
        {%- set column = dict(column) -%}
        {%- set meta = column.get('meta') or {} -%}
        {%- if tag and relation_type == 'table' and meta.get('contains_pii') and not column.get('policy_tags') -%}
            {%- do column.update({'policy_tags': [tag]}) -%}
        {%- endif -%}
        {%- do tagged.update({name: column}) -%}
    {%- endfor -%}
    {{- return(tagged) -}}
{%- endmacro %}

{# dbt-bigquery's own macro (adapters.sql), with the personal columns tagged first. #}
{% macro bigquery__alter_column_comment(relation, column_dict) -%}
    {% do adapter.update_columns(relation, pii_policy_tagged_columns(column_dict, relation.type)) %}
{%- endmacro %}

{# For tests/bigquery/test_policy_tags.py: the columns of `model_name` as persist_docs tags them. #}
{% macro print_policy_tagged_columns(model_name) -%}
    {%- for node in graph.nodes.values() if node.name == model_name -%}
        {%- set tagged = pii_policy_tagged_columns(node.columns) -%}
        {%- set out = {} -%}
        {%- for name, column in tagged.items() -%}
            {%- do out.update({name: column.get('policy_tags') or []}) -%}
        {%- endfor -%}
        {{ print('POLICY_TAGS ' ~ tojson(out)) }}
    {%- endfor -%}
{%- endmacro %}
