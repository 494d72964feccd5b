{#
    Every status an order was recorded in, from the append-only versions of raw orders (the
    second staging model that keeps history, after stg_ops__inventory_versions). Versions are
    ordered as latest_version orders them: by change position when the table is fed by change
    data capture (versions loaded in cursor mode before the switch, without a position, first),
    then by the cursor and the load. Delete and truncate events are not versions. A version is
    kept only where its status differs from the previous version's: repeated loads and changes
    of other columns (a payment) collapse into the status they did not change.
    A change event (insert, update) is the transition itself: `change_stream`, exact, at its
    commit. A version read by an extraction or a CDC snapshot is an image: `extraction`, and
    the status began between the previous version's updated_at (or the order's creation) and
    this one's.
#}
{%- set cdc = has_change_positions(source('ops', 'orders')) %}
with

source as (
    select * from {{ source('ops', 'orders') }}
),

versions as (
    select
        cast(source.id as bigint) as order_id,
        cast(lower(source.status) as string) as order_status,
        cast(source.created_at as timestamp) as created_at,
        cast(source.updated_at as timestamp) as updated_at,
        {% if cdc -%}
        cast(
            case when source._cdc_operation in ('insert', 'update') then source._cdc_committed_at end
            as timestamp
        ) as committed_at,
        cast(
            case when source._cdc_operation in ('insert', 'update') then 'change_stream' else 'extraction' end
            as string
        ) as captured_by,
        {%- else -%}
        cast(null as timestamp) as committed_at,
        cast('extraction' as string) as captured_by,
        {%- endif %}
        row_number() over (
            partition by source.id
            order by
                {% if cdc -%} source._cdc_position asc nulls first, {% endif -%}
                source.updated_at asc, source._loaded_at asc
        ) as version_number
    from source
    {%- if cdc %}
    where source._cdc_operation is null or source._cdc_operation not in ('delete', 'truncate')
    {%- endif %}
),

compared as (
    select
        versions.*,
        lag(versions.order_status) over (
            partition by versions.order_id order by versions.version_number
        ) as previous_status,
        lag(versions.updated_at) over (
            partition by versions.order_id order by versions.version_number
        ) as previous_updated_at
    from versions
),

changes as (
    select
        compared.*,
        row_number() over (
            partition by compared.order_id order by compared.version_number
        ) as status_sequence
    from compared
    where compared.previous_status is null
        or compared.order_status <> compared.previous_status
),

bounded as (
    select
        changes.*,
        case
            when changes.captured_by = 'change_stream' then changes.updated_at
            -- never later than the version itself (a cursor can go backwards)
            else least(coalesce(changes.previous_updated_at, changes.created_at), changes.updated_at)
        end as earliest_changed_at
    from changes
),

renamed as (
    select
        cast({{ surrogate_key(['order_id', 'status_sequence']) }} as string) as order_status_change_id,
        order_id,
        cast(status_sequence as bigint) as status_sequence,
        order_status,
        cast(previous_status as string) as previous_status,
        captured_by,
        updated_at as changed_at,
        cast(earliest_changed_at as timestamp) as earliest_changed_at,
        committed_at
    from bounded
)

select * from renamed
