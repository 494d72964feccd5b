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

{# The name of the national fixed-date holiday on a day (NULL on any other day). #}
{% macro brazil_fixed_holiday_name(month_expression, day_expression, year_expression) -%}
    case
        when {{ month_expression }} = 1 and {{ day_expression }} = 1 then 'Confraternização Universal'
        when {{ month_expression }} = 4 and {{ day_expression }} = 21 then 'Tiradentes'
        when {{ month_expression }} = 5 and {{ day_expression }} = 1 then 'Dia do Trabalho'
        when {{ month_expression }} = 9 and {{ day_expression }} = 7 then 'Independência do Brasil'
        when {{ month_expression }} = 10 and {{ day_expression }} = 12 then 'Nossa Senhora Aparecida'
        when {{ month_expression }} = 11 and {{ day_expression }} = 2 then 'Finados'
        when {{ month_expression }} = 11 and {{ day_expression }} = 15 then 'Proclamação da República'
        when {{ month_expression }} = 11 and {{ day_expression }} = 20 and {{ year_expression }} >= 2024 then 'Dia Nacional de Zumbi e da Consciência Negra'
        when {{ month_expression }} = 12 and {{ day_expression }} = 25 then 'Natal'
    end
{%- endmacro %}

{#
    Brazil's dates that move with Easter, by their day offset from Easter Sunday: Good Friday
    (-2) is a national holiday (Lei 9.093/1995); Carnival Monday (-48) and Tuesday (-47) and
    Corpus Christi (+60) are optional days (ponto facultativo) on which much of the trade stops.
    Returns the name for an offset expression, NULL for any other day.
#}
{% macro brazil_movable_date_name(days_from_easter) -%}
    case {{ days_from_easter }}
        when -48 then 'Carnaval (segunda-feira)'
        when -47 then 'Carnaval (terça-feira)'
        when -2 then 'Sexta-feira Santa'
        when 60 then 'Corpus Christi'
    end
{%- endmacro %}
