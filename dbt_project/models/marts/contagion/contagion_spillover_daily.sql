with

windows as (

    select * from {{ ref('int_contagion_spillover_windows') }}
    where node is not null

),

final as (

    select
        date,
        measure,
        node,
        split_part(node, ':', 1) as venue,
        split_part(node, ':', 2) as asset,
        to_others,
        from_others,
        net,
        total_spillover_index,
        nodes_in_var

    from windows

)

select * from final
