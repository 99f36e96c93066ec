//! A [`WakeSource`] on PostgreSQL's `LISTEN`: the PostgreSQL store sends one `NOTIFY` on its
//! channel in every transaction that changes a template's next run, so a runner in another
//! process (or over another engine) wakes as soon as that transaction commits.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};

use super::PostgresStore;
use super::RepositoryError;
use super::sqlx_error::{Backend, repository_error};
use crate::runner::{Wake, WakeSource};

/// Wakes a [`crate::Runner`] on the PostgreSQL store's notifications. Feature `postgres`.
///
/// Notifications sent while its connection is down are lost, so after every reconnect it
/// reports [`Wake::Reconnected`] and the runner ticks once. It reconnects by itself, waiting
/// 1, 2, 4 ... seconds (at most 30) between failed attempts.
///
/// ```no_run
/// # async fn service() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use recurring_deals::{store::{PostgresStore, PostgresWakeSource}, *};
///
/// let store = PostgresStore::connect("postgres://postgres@127.0.0.1/deals").await?;
/// let wake = PostgresWakeSource::listen(&store).await?;
/// let engine = Arc::new(Engine::new(store, SystemClock));
/// let runner = Runner::new(engine, RunnerConfig::default()).with_wake_source(wake);
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub struct PostgresWakeSource {
    /// `None` while reconnecting (the old listener holds its pool's one connection, so it
    /// is dropped first).
    listener: Option<PgListener>,
    pool: PgPool,
    channel: String,
    /// The connection was lost and is not listening again yet. Kept here, not in the
    /// future, so a `wait` dropped mid-reconnect (a `select!` taking another branch) still
    /// reports the reconnect on the next call: `wait` is cancel-safe.
    lost: bool,
}

impl std::fmt::Debug for PostgresWakeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresWakeSource")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// A sqlx error of PostgreSQL as a store error.
fn error(error: sqlx::Error) -> RepositoryError {
    repository_error(error, Backend::Postgres)
}

impl PostgresWakeSource {
    /// Listens on `store`'s channel, on a connection of its own from the store's pool's
    /// settings.
    ///
    /// # Errors
    /// [`RepositoryError::Connection`] when the connection or the `LISTEN` fails.
    pub async fn listen(store: &PostgresStore) -> Result<PostgresWakeSource, RepositoryError> {
        PostgresWakeSource::listen_on(store.pool(), store.listen_channel()).await
    }

    /// Listens on `channel` with a connection made from `pool`'s settings (a pool of its
    /// own, of one connection: the listener never takes a connection from `pool`, and a
    /// reconnect never waits for a busy `pool`).
    ///
    /// # Errors
    /// As [`PostgresWakeSource::listen`].
    pub async fn listen_on(
        pool: &PgPool,
        channel: &str,
    ) -> Result<PostgresWakeSource, RepositoryError> {
        let options = (*pool.connect_options()).clone();
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(options);
        let mut listener = PgListener::connect_with(&pool).await.map_err(error)?;
        listener.listen(channel).await.map_err(error)?;
        Ok(PostgresWakeSource {
            listener: Some(listener),
            pool,
            channel: channel.to_owned(),
            lost: false,
        })
    }

    /// The channel it listens on.
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

impl WakeSource for PostgresWakeSource {
    async fn wait(&mut self) -> Wake {
        if !self.lost
            && let Some(listener) = self.listener.as_mut()
        {
            match listener.try_recv().await {
                Ok(Some(_)) => return Wake::Notified,
                // The connection was lost, and sqlx has already connected again and listens
                // on the channel again. Whatever was signalled meanwhile is gone.
                Ok(None) => return Wake::Reconnected,
                Err(_error) => {
                    crate::observe::event!(
                        tracing::Level::WARN,
                        channel = %self.channel,
                        error = %_error,
                        "listen connection failed; reconnecting"
                    );
                }
            }
        }
        // Listen again on a fresh connection, then report it: the runner ticks once the
        // listener hears again, so nothing changed in between goes unseen.
        self.lost = true;
        self.listener = None;
        let mut failures = 0u32;
        loop {
            if let Ok(mut listener) = PgListener::connect_with(&self.pool).await
                && listener.listen(&self.channel).await.is_ok()
            {
                self.listener = Some(listener);
                self.lost = false;
                return Wake::Reconnected;
            }
            failures = failures.saturating_add(1);
            let seconds = (1u64 << failures.min(5).saturating_sub(1)).min(30);
            tokio::time::sleep(Duration::from_secs(seconds)).await;
        }
    }
}
