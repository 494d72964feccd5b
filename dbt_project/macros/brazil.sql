{# The IBGE macro-region of a Brazilian state (UF); 'Unknown' for anything else. #}
{% macro brazil_region(state_column) -%}
    case
        when {{ state_column }} in ('AC', 'AM', 'AP', 'PA', 'RO', 'RR', 'TO') then 'Norte'
        when {{ state_column }} in ('AL', 'BA', 'CE', 'MA', 'PB', 'PE', 'PI', 'RN', 'SE') then 'Nordeste'
        when {{ state_column }} in ('DF', 'GO', 'MS', 'MT') then 'Centro-Oeste'
        when {{ state_column }} in ('ES', 'MG', 'RJ', 'SP') then 'Sudeste'
        when {{ state_column }} in ('PR', 'RS', 'SC') then 'Sul'
        else 'Unknown'
    end
{%- endmacro %}

{# National fixed-date holidays (Lei 662/1949, 6.802/1980, 14.759/2023); movable feasts are not included. #}
{% macro is_brazil_fixed_holiday(month_expression, day_expression, year_expression) -%}
    (
        ({{ month_expression }} = 1 and {{ day_expression }} = 1)
        or ({{ month_expression }} = 4 and {{ day_expression }} = 21)
        or ({{ month_expression }} = 5 and {{ day_expression }} = 1)
        or ({{ month_expression }} = 9 and {{ day_expression }} = 7)
        or ({{ month_expression }} = 10 and {{ day_expression }} = 12)
        or ({{ month_expression }} = 11 and {{ day_expression }} = 2)
        or ({{ month_expression }} = 11 and {{ day_expression }} = 15)
        or ({{ month_expression }} = 11 and {{ day_expression }} = 20 and {{ year_expression }} >= 2024)
        or ({{ month_expression }} = 12 and {{ day_expression }} = 25)
    )
{%- endmacro %}
