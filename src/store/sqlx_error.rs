//! sqlx errors as [`RepositoryError`] kinds, for both backends.

use std::sync::Arc;

use super::RepositoryError;

/// Which database reported an error (their codes differ: SQLite's numeric result codes,
/// PostgreSQL's SQLSTATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Sqlite,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

/// The kind of `error`: a lost or unreachable connection (I/O, TLS, a closed or exhausted
/// pool, SQLSTATE class 08, an administrator's shutdown) is [`RepositoryError::Connection`],
/// except what waiting cannot mend (a read-only file system, a denied permission, a missing
/// file or folder, SQLite `CANTOPEN` and `READONLY`), which is [`RepositoryError::Database`];
/// lock and serialization contention and a statement cancelled by `statement_timeout`
/// (SQLite `BUSY`/`LOCKED`, SQLSTATE 40001, 40P01, 55P03, 57014) is
/// [`RepositoryError::Busy`]; a value that does not decode is
/// [`RepositoryError::CorruptRow`]; everything else is [`RepositoryError::Database`].
pub(crate) fn repository_error(error: sqlx::Error, backend: Backend) -> RepositoryError {
    let kind = match &error {
        sqlx::Error::Io(io) if lasting(io.kind()) => Kind::Database,
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Kind::Connection,
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            return RepositoryError::CorruptRow {
                table: "(unknown)",
                key: "(unknown)".into(),
                reason: chain(&error),
            };
        }
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => classify(&code, backend),
            None => Kind::Database,
        },
        _ => Kind::Database,
    };
    let source: Arc<dyn std::error::Error + Send + Sync> = Arc::new(error);
    match kind {
        Kind::Connection => RepositoryError::Connection(source),
        Kind::Busy => RepositoryError::Busy(source),
        Kind::Database => RepositoryError::Database(source),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Connection,
    Busy,
    Database,
}

fn classify(code: &str, backend: Backend) -> Kind {
    match backend {
        Backend::Sqlite => {
            // Extended result codes carry the primary code in their low byte.
            let primary = code.parse::<i64>().map(|c| c & 0xff).unwrap_or(-1);
            match primary {
                // SQLITE_BUSY, SQLITE_LOCKED
                5 | 6 => Kind::Busy,
                // SQLITE_READONLY (8) and SQLITE_CANTOPEN (14) (a read-only file system, a
                // missing folder, no permission) last until someone changes the setup.
                _ => Kind::Database,
            }
        }
        Backend::Postgres => match code {
            // A statement the server cancelled (`statement_timeout`): the database could not
            // answer in time; the transaction rolled back, and trying again may succeed.
            "40001" | "40P01" | "55P03" | "57014" => Kind::Busy,
            // admin_shutdown, crash_shutdown, cannot_connect_now, a session ended by
            // idle_in_transaction_session_timeout
            "57P01" | "57P02" | "57P03" | "25P03" => Kind::Connection,
            _ if code.starts_with("08") => Kind::Connection,
            _ => Kind::Database,
        },
    }
}

/// I/O errors that last until someone changes the setup.
fn lasting(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        kind,
        ReadOnlyFilesystem | PermissionDenied | NotFound | IsADirectory | NotADirectory
    )
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        assert_eq!(classify("5", Backend::Sqlite), Kind::Busy);
        // SQLITE_BUSY_SNAPSHOT (517) and SQLITE_LOCKED_SHAREDCACHE (262)
        assert_eq!(classify("517", Backend::Sqlite), Kind::Busy);
        assert_eq!(classify("262", Backend::Sqlite), Kind::Busy);
        assert_eq!(classify("2067", Backend::Sqlite), Kind::Database);
        assert_eq!(classify("40001", Backend::Postgres), Kind::Busy);
        assert_eq!(classify("40P01", Backend::Postgres), Kind::Busy);
        assert_eq!(classify("55P03", Backend::Postgres), Kind::Busy);
        assert_eq!(classify("57P01", Backend::Postgres), Kind::Connection);
        assert_eq!(classify("57014", Backend::Postgres), Kind::Busy);
        assert_eq!(classify("25P03", Backend::Postgres), Kind::Connection);
        assert_eq!(classify("08006", Backend::Postgres), Kind::Connection);
        assert_eq!(classify("23505", Backend::Postgres), Kind::Database);
        let timed_out = repository_error(sqlx::Error::PoolTimedOut, Backend::Postgres);
        assert_eq!(timed_out.kind(), "connection");
        let io = sqlx::Error::Io(std::io::Error::other("reset"));
        assert_eq!(repository_error(io, Backend::Sqlite).kind(), "connection");
        // What waiting cannot mend is not retryable.
        assert_eq!(classify("14", Backend::Sqlite), Kind::Database);
        assert_eq!(classify("8", Backend::Sqlite), Kind::Database);
        let read_only =
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ReadOnlyFilesystem));
        let read_only = repository_error(read_only, Backend::Sqlite);
        assert!(!read_only.is_retryable(), "{read_only}");
    }
}
