{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['venue', 'asset', 'date'],
        on_schema_change='append_new_columns',
    )
}}

{{ liquidation_cells('day') }}
