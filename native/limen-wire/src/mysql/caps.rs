//! Capability flags and server status flags.
//!
//! References: MariaDB "Connection" (capabilities table, including the
//! MariaDB-only extended capabilities sent in the 4 bytes MySQL reserves when
//! `CLIENT_MYSQL` is clear) and MySQL `group__group__cs__capabilities__flags`
//! and `SERVER_STATUS_flags_enum`. Capabilities are kept in a `u64`: the low
//! 32 bits are the classic flags, the high 32 bits MariaDB's extended ones.

/// Set by MySQL clients and servers (`CLIENT_LONG_PASSWORD`); a MariaDB
/// peer clears it to say it sends extended capabilities.
pub const CLIENT_MYSQL: u64 = 1;
pub const CLIENT_FOUND_ROWS: u64 = 1 << 1;
pub const CLIENT_LONG_FLAG: u64 = 1 << 2;
pub const CLIENT_CONNECT_WITH_DB: u64 = 1 << 3;
pub const CLIENT_NO_SCHEMA: u64 = 1 << 4;
pub const CLIENT_COMPRESS: u64 = 1 << 5;
pub const CLIENT_ODBC: u64 = 1 << 6;
pub const CLIENT_LOCAL_FILES: u64 = 1 << 7;
pub const CLIENT_IGNORE_SPACE: u64 = 1 << 8;
pub const CLIENT_PROTOCOL_41: u64 = 1 << 9;
pub const CLIENT_INTERACTIVE: u64 = 1 << 10;
pub const CLIENT_SSL: u64 = 1 << 11;
pub const CLIENT_IGNORE_SIGPIPE: u64 = 1 << 12;
pub const CLIENT_TRANSACTIONS: u64 = 1 << 13;
pub const CLIENT_RESERVED: u64 = 1 << 14;
pub const CLIENT_SECURE_CONNECTION: u64 = 1 << 15;
pub const CLIENT_MULTI_STATEMENTS: u64 = 1 << 16;
pub const CLIENT_MULTI_RESULTS: u64 = 1 << 17;
pub const CLIENT_PS_MULTI_RESULTS: u64 = 1 << 18;
pub const CLIENT_PLUGIN_AUTH: u64 = 1 << 19;
pub const CLIENT_CONNECT_ATTRS: u64 = 1 << 20;
pub const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: u64 = 1 << 21;
pub const CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS: u64 = 1 << 22;
pub const CLIENT_SESSION_TRACK: u64 = 1 << 23;
pub const CLIENT_DEPRECATE_EOF: u64 = 1 << 24;
pub const CLIENT_OPTIONAL_RESULTSET_METADATA: u64 = 1 << 25;
pub const CLIENT_ZSTD_COMPRESSION: u64 = 1 << 26;
pub const CLIENT_QUERY_ATTRIBUTES: u64 = 1 << 27;
pub const CLIENT_MULTI_FACTOR_AUTH: u64 = 1 << 28;
pub const CLIENT_CAPABILITY_EXTENSION: u64 = 1 << 29;
pub const CLIENT_SSL_VERIFY_SERVER_CERT: u64 = 1 << 30;
pub const CLIENT_REMEMBER_OPTIONS: u64 = 1 << 31;
/// MariaDB: progress reports.
pub const MARIADB_CLIENT_PROGRESS: u64 = 1 << 32;
/// MariaDB: COM_MULTI.
pub const MARIADB_CLIENT_COM_MULTI: u64 = 1 << 33;
/// MariaDB: COM_STMT_BULK_EXECUTE.
pub const MARIADB_CLIENT_STMT_BULK_OPERATIONS: u64 = 1 << 34;
/// MariaDB: extended type information in column definitions.
pub const MARIADB_CLIENT_EXTENDED_TYPE_INFO: u64 = 1 << 35;
/// MariaDB: result set metadata caching (skips column definitions).
pub const MARIADB_CLIENT_CACHE_METADATA: u64 = 1 << 36;
/// MariaDB: bulk unit results.
pub const MARIADB_CLIENT_BULK_UNIT_RESULTS: u64 = 1 << 37;

/// Capabilities a gateway that parses every packet can let through: the
/// features whose packet formats this crate decodes. Compression, query
/// attributes, optional metadata, metadata caching, extended type info,
/// progress reports, COM_MULTI and bulk operations change packet formats
/// and are masked out of what limen advertises.
pub const GATEWAY_SUPPORTED: u64 = CLIENT_MYSQL
    | CLIENT_FOUND_ROWS
    | CLIENT_LONG_FLAG
    | CLIENT_CONNECT_WITH_DB
    | CLIENT_ODBC
    | CLIENT_LOCAL_FILES
    | CLIENT_IGNORE_SPACE
    | CLIENT_PROTOCOL_41
    | CLIENT_INTERACTIVE
    | CLIENT_SSL
    | CLIENT_IGNORE_SIGPIPE
    | CLIENT_TRANSACTIONS
    | CLIENT_RESERVED
    | CLIENT_SECURE_CONNECTION
    | CLIENT_MULTI_STATEMENTS
    | CLIENT_MULTI_RESULTS
    | CLIENT_PS_MULTI_RESULTS
    | CLIENT_PLUGIN_AUTH
    | CLIENT_CONNECT_ATTRS
    | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
    | CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS
    | CLIENT_SESSION_TRACK
    | CLIENT_DEPRECATE_EOF
    | CLIENT_REMEMBER_OPTIONS;

/// Server status: a transaction is open.
pub const SERVER_STATUS_IN_TRANS: u16 = 1;
/// Server status: autocommit is on.
pub const SERVER_STATUS_AUTOCOMMIT: u16 = 1 << 1;
/// Server status: another result set follows.
pub const SERVER_MORE_RESULTS_EXISTS: u16 = 1 << 3;
pub const SERVER_QUERY_NO_GOOD_INDEX_USED: u16 = 1 << 4;
pub const SERVER_QUERY_NO_INDEX_USED: u16 = 1 << 5;
/// Server status: a cursor exists (COM_STMT_FETCH).
pub const SERVER_STATUS_CURSOR_EXISTS: u16 = 1 << 6;
pub const SERVER_STATUS_LAST_ROW_SENT: u16 = 1 << 7;
pub const SERVER_STATUS_DB_DROPPED: u16 = 1 << 8;
pub const SERVER_STATUS_NO_BACKSLASH_ESCAPES: u16 = 1 << 9;
pub const SERVER_STATUS_METADATA_CHANGED: u16 = 1 << 10;
pub const SERVER_QUERY_WAS_SLOW: u16 = 1 << 11;
/// Server status: the result is a stored procedure's OUT parameters.
pub const SERVER_PS_OUT_PARAMS: u16 = 1 << 12;
pub const SERVER_STATUS_IN_TRANS_READONLY: u16 = 1 << 13;
/// Server status: the OK packet carries session state changes.
pub const SERVER_SESSION_STATE_CHANGED: u16 = 1 << 14;

/// True when every flag of `flag` is in `caps`.
pub fn has(caps: u64, flag: u64) -> bool {
    caps & flag == flag
}
