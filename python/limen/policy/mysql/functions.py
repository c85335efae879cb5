"""What MySQL/MariaDB built-in functions do, for the classifier.

A call of a function in :data:`HARMLESS_FUNCTIONS` adds no class; one in
:data:`ADMIN_FUNCTIONS` adds ``admin`` (server files, other sessions,
replication, known command-running UDFs); any other call (stored functions,
UDFs, qualified or quoted names, functions with side effects such as
``GET_LOCK`` or ``NEXTVAL``) adds ``write``, as PostgreSQL's classifier does
for functions not known to be free of side effects. ``SLEEP`` and
``BENCHMARK`` only cost time and count as harmless (the gateway's statement
timeout bounds them).

:data:`NOT_FUNCTIONS` are keywords that may stand before ``(`` without being
a call.
"""

from __future__ import annotations

from typing import Final


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


HARMLESS_FUNCTIONS: Final = _names(
    """
    abs acos adddate addtime aes_decrypt aes_encrypt any_value ascii asin atan atan2 avg
    benchmark bin bin_to_uuid binary bit_and bit_count bit_length bit_or bit_xor
    cast ceil ceiling char char_length character_length charset chr coalesce coercibility
    collation compress concat concat_ws connection_id conv convert convert_tz cos cot count
    crc32 cume_dist curdate current_date current_role current_time current_timestamp
    current_user curtime database date date_add date_format date_sub datediff day
    dayname dayofmonth dayofweek dayofyear decode default degrees dense_rank des_decrypt
    des_encrypt elt encode encrypt exp export_set extract extractvalue field find_in_set
    first_value floor format format_bytes format_pico_time found_rows from_base64
    from_days from_unixtime greatest group_concat hex hour if ifnull inet6_aton inet6_ntoa
    inet_aton inet_ntoa insert instr interval is_ipv4 is_ipv6 is_uuid isnull json_array
    json_arrayagg json_contains json_contains_path json_depth json_extract json_insert
    json_keys json_length json_merge json_merge_patch json_merge_preserve json_object
    json_objectagg json_overlaps json_pretty json_quote json_remove json_replace
    json_schema_valid json_search json_set json_storage_size json_table json_type
    json_unquote json_valid json_value lag last_day last_insert_id last_value lcase lead
    least left length ln localtime localtimestamp locate log log10 log2 lower lpad ltrim
    make_set makedate maketime match max md5 microsecond mid min minute mod month
    monthname now nth_value ntile nullif oct octet_length ord password percent_rank
    period_add period_diff pi position pow power quarter quote radians rand random_bytes
    rank regexp_instr regexp_like regexp_replace regexp_substr release_all_locks repeat
    replace reverse right round row_count row_number rpad rtrim schema sec_to_time second
    session_user sha sha1 sha2 sign sin sleep soundex space sqrt std stddev stddev_pop
    stddev_samp str_to_date strcmp subdate substr substring substring_index subtime sum
    sysdate system_user tan time time_format time_to_sec timediff timestamp timestampadd
    timestampdiff to_base64 to_days to_seconds trim truncate ucase uncompress
    uncompressed_length unhex unix_timestamp upper user utc_date utc_time utc_timestamp
    uuid uuid_short uuid_to_bin values var_pop var_samp variance version week weekday
    weekofyear weight_string year yearweek
    st_astext st_geomfromtext st_distance st_contains st_within point linestring polygon
    row exists json_exists json_query json_detailed json_compact json_loose natural_sort_key
    sformat to_char chr decode_oracle nvl nvl2 median percentile_cont percentile_disc
    """
)

ADMIN_FUNCTIONS: Final = _names(
    """
    load_file sys_exec sys_eval lib_mysqludf_sys_info sys_get sys_set
    master_pos_wait source_pos_wait master_gtid_wait wait_for_executed_gtid_set
    wait_until_sql_thread_after_gtids gtid_subtract gtid_subset
    """
)

NOT_FUNCTIONS: Final = _names(
    """
    in values exists and or not xor on using as select from where join into table tables key
    index interval all any some lateral over window partition union except intersect
    by with is like rlike regexp between case when then else end div mod set returning
    primary unique foreign references check constraint distinct limit offset
    group order having for lock share update delete insert replace ignore
    columns fields lines terminated enclosed escaped starting character
    """
)
