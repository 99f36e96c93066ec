//! The stores' error type.

use std::sync::Arc;

/// A boxed error from a store's driver, shared so that [`RepositoryError`] stays `Clone`.
pub type BoxError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store operation failed. Nothing of the operation was written when one is returned.
///
/// [`RepositoryError::is_retryable`] tells whether the same call may succeed later (a lost
/// connection, a busy database); the engine records every failure on the template and
/// retries it with back-off either way, so a template is never switched off by one.
/// A lost version check is not an error: it is [`super::CommitOutcome::Conflict`].
///
/// Every error's message carries its cause (a driver error's own message), so a log line
/// or a record that keeps only [`std::fmt::Display`] says what happened; the cause is also
/// its [`std::error::Error::source`]. Two errors are equal when they are of the same kind
/// with the same text (driver errors are compared by their messages).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RepositoryError {
    /// The database could not be reached, or the connection broke mid-call. Retryable.
    #[error("store connection failed: {0}")]
    Connection(#[source] BoxError),
    /// The database was busy: a lock wait timed out, a serialization failure, a full pool.
    /// Retryable.
    #[error("store busy: {0}")]
    Busy(#[source] BoxError),
    /// A stored row that cannot be read. The row is named; other rows stay readable.
    #[error("corrupt row in {table} ({key}): {reason}")]
    CorruptRow {
        /// The table (without the store's prefix or schema).
        table: &'static str,
        /// The row's key, as text.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database's schema was written by another version of the crate: a newer one
    /// (upgrade the crate) or one this version cannot migrate.
    #[error("store schema version {found} found, this crate reads version {expected}")]
    SchemaVersion {
        /// The version recorded in the database.
        found: i64,
        /// The version this crate writes.
        expected: i64,
    },
    /// A durability setting weaker than the store needs for exactly-once (an SQLite pool
    /// without WAL or `synchronous=FULL`), and not accepted explicitly.
    #[error("{setting} is {found}, the store requires {required}")]
    Durability {
        /// The setting.
        setting: &'static str,
        /// Its value.
        found: String,
        /// What the store requires.
        required: &'static str,
    },
    /// A write the store refuses whatever the timing: a taken id, rows of another template
    /// in a commit, a value the store cannot represent.
    #[error("store refused the write: {reason}")]
    Refused {
        /// Why.
        reason: String,
    },
    /// Any other failure of the database or its driver.
    #[error("store failed: {0}")]
    Database(#[source] BoxError),
    /// A store call took longer than the engine allows
    /// ([`crate::EngineConfigBuilder::store_timeout`]) and was dropped, with its connection.
    /// Retryable. A write's outcome is then unknown. A tick's commits are read back by a
    /// later tick and reported then, and the deals' keys keep them from landing twice. An
    /// operation the host called may have landed too. Most lifecycle changes are safe to
    /// repeat (pausing a paused template changes nothing); three are not:
    /// [`crate::Engine::create_now`] repeated creates another deal (read
    /// [`crate::Engine::deals`] first), [`crate::Engine::create_template`] another template
    /// (read [`crate::Engine::list`] first), and [`crate::Engine::skip_next`] skips one more
    /// occurrence (read [`crate::Engine::preview`] first).
    #[error("store call took longer than {after:?} and was dropped")]
    Timeout {
        /// The bound that passed.
        after: std::time::Duration,
    },
}

impl RepositoryError {
    /// Whether the same call may succeed if tried again later: connection failures, a
    /// busy database and a call that timed out. Corrupt rows, schema and durability errors and refused writes stay
    /// until someone changes the data or the setup.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RepositoryError::Connection(_)
                | RepositoryError::Busy(_)
                | RepositoryError::Timeout { .. }
        )
    }

    /// The kind's name, for logs and metrics labels: `connection`, `busy`, `corrupt_row`,
    /// `schema_version`, `durability`, `refused`, `database`, `timeout`.
    pub fn kind(&self) -> &'static str {
        match self {
            RepositoryError::Connection(_) => "connection",
            RepositoryError::Busy(_) => "busy",
            RepositoryError::CorruptRow { .. } => "corrupt_row",
            RepositoryError::SchemaVersion { .. } => "schema_version",
            RepositoryError::Durability { .. } => "durability",
            RepositoryError::Refused { .. } => "refused",
            RepositoryError::Database(_) => "database",
            RepositoryError::Timeout { .. } => "timeout",
        }
    }

    /// The message with its sources, `: `-separated (for records that keep text, such as
    /// [`crate::Failure::error`]).
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(error) = source {
            // A cause the message already quotes is not repeated.
            let cause = error.to_string();
            if !text.contains(&cause) {
                text.push_str(": ");
                text.push_str(&cause);
            }
            source = error.source();
        }
        text
    }
}

impl PartialEq for RepositoryError {
    fn eq(&self, other: &RepositoryError) -> bool {
        self.kind() == other.kind() && self.chain() == other.chain()
    }
}

impl Eq for RepositoryError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_say_whether_to_retry_and_chain_their_sources() {
        let io: BoxError = Arc::new(std::io::Error::other("connection reset"));
        let lost = RepositoryError::Connection(io.clone());
        assert!(lost.is_retryable());
        assert_eq!(lost.chain(), "store connection failed: connection reset");
        assert_eq!(
            lost.to_string(),
            "store connection failed: connection reset"
        );
        let corrupt = RepositoryError::CorruptRow {
            table: "templates",
            key: "7".into(),
            reason: "invalid JSON".into(),
        };
        assert!(!corrupt.is_retryable());
        assert_eq!(corrupt.kind(), "corrupt_row");
        assert_eq!(
            corrupt.to_string(),
            "corrupt row in templates (7): invalid JSON"
        );
        assert_ne!(lost, RepositoryError::Busy(io));
        let schema = RepositoryError::SchemaVersion {
            found: 9,
            expected: 2,
        };
        assert_eq!(
            schema.to_string(),
            "store schema version 9 found, this crate reads version 2"
        );
    }
}
