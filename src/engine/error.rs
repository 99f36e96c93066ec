//! Errors of the engine's operations.

use crate::error::ScheduleError;
use crate::ids::{DealKey, TemplateId, TenantId};
use crate::lifecycle::LifecycleError;
use crate::store::RepositoryError;
use crate::validation::ValidationError;

/// Why an engine operation failed. Nothing was changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// No such template for this tenant. A template of another tenant is reported the same
    /// way, so one tenant cannot probe another's ids.
    #[error("template {id} not found for tenant {tenant}")]
    UnknownTemplate {
        /// The tenant asking.
        tenant: TenantId,
        /// The id asked for.
        id: TemplateId,
    },
    /// No invoice for this deal and tenant.
    #[error("invoice of deal {deal} not found for tenant {tenant}")]
    UnknownInvoice {
        /// The tenant asking.
        tenant: TenantId,
        /// The deal.
        deal: DealKey,
    },
    /// The template's series is over; it cannot be edited (create a new one).
    #[error("template {0} is finished and cannot be changed")]
    Finished(TemplateId),
    /// A value the value types refuse: a tenant id, a currency, a deal, an offset, an
    /// installment split.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The tenant's plan allows no more live templates.
    #[error("tenant {tenant} has reached its limit of {limit} recurring deal templates")]
    TenantLimit {
        /// The tenant.
        tenant: TenantId,
        /// Its limit.
        limit: u64,
    },
    /// An occurrence that does not exist.
    #[error("template {template} has no occurrence {seq} in its schedule")]
    NoSuchOccurrence {
        /// The template.
        template: TemplateId,
        /// The seq asked for.
        seq: u64,
    },
    /// The engine has already processed the template's occurrences up to this time: an
    /// occurrence there cannot be moved, and nothing can be moved there.
    #[error("template {template} has already processed its occurrences up to {local}")]
    AlreadyProcessed {
        /// The template.
        template: TemplateId,
        /// The local date-time asked for.
        local: chrono::NaiveDateTime,
    },
    /// A template's deal over one of the engine's [`crate::DealLimits`].
    #[error("deal {what}: {size} {unit}, at most {max} accepted")]
    DealTooLarge {
        /// The part of the deal.
        what: String,
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
        /// `bytes` or `items`.
        unit: &'static str,
    },
    /// A preview longer than the engine allows ([`crate::EngineConfig::max_preview`]).
    #[error("a preview may ask for at most {max} deals, got {count}")]
    PreviewTooLong {
        /// The count asked for.
        count: usize,
        /// The most allowed.
        max: usize,
    },
    /// The template has more due occurrences than a lifecycle change settles first: tick the
    /// engine (which catches it up) and try again.
    #[error("template {0} is too far behind its schedule to change now; tick the engine first")]
    Behind(TemplateId),
    /// The blocking facade ([`crate::blocking::Engine`]) was called on a thread that drives
    /// async tasks (a runtime's worker thread, or inside `block_on`), where blocking would
    /// stall that runtime: `.await` the async [`crate::Engine`] there, or call the facade
    /// inside `tokio::task::spawn_blocking`.
    #[error(
        "the blocking engine was called on a thread that runs async tasks; await the async engine there, or call it inside spawn_blocking"
    )]
    BlockingInAsync,
    /// The blocking facade could not start its runtime.
    #[error("could not start the blocking engine's runtime")]
    Runtime(#[source] RuntimeError),
    /// Concurrent changes kept winning; try again.
    #[error("template {0} kept changing concurrently; try again")]
    Conflict(TemplateId),
    /// An invalid schedule.
    #[error("invalid schedule")]
    Schedule(#[source] ScheduleError),
    /// The repository failed.
    #[error("repository failed: {0}")]
    Repository(#[source] RepositoryError),
}

impl From<ScheduleError> for EngineError {
    fn from(error: ScheduleError) -> Self {
        EngineError::Schedule(error)
    }
}

impl From<RepositoryError> for EngineError {
    fn from(error: RepositoryError) -> Self {
        EngineError::Repository(error)
    }
}

impl From<LifecycleError> for EngineError {
    fn from(error: LifecycleError) -> Self {
        match error {
            LifecycleError::Finished(id) => EngineError::Finished(id),
            LifecycleError::NoSuchOccurrence { template, seq } => {
                EngineError::NoSuchOccurrence { template, seq }
            }
            LifecycleError::AlreadyProcessed { template, local } => {
                EngineError::AlreadyProcessed { template, local }
            }
            LifecycleError::Schedule(error) => EngineError::Schedule(error),
            LifecycleError::Invalid(error) => EngineError::Invalid(error),
        }
    }
}

/// Why a runtime could not be started (the OS refused a thread or an event queue).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct RuntimeError(std::sync::Arc<std::io::Error>);

impl RuntimeError {
    pub(crate) fn new(error: std::io::Error) -> RuntimeError {
        RuntimeError(std::sync::Arc::new(error))
    }

    /// The I/O error.
    pub fn io(&self) -> &std::io::Error {
        &self.0
    }
}

impl PartialEq for RuntimeError {
    fn eq(&self, other: &RuntimeError) -> bool {
        self.0.kind() == other.0.kind() && self.0.to_string() == other.0.to_string()
    }
}

impl Eq for RuntimeError {}

#[cfg(test)]
mod tests {
    use crate::ids::TenantId;

    #[test]
    fn an_invalid_tenant_id_is_named_with_the_rule() {
        assert_eq!(
            TenantId::new("").unwrap_err().to_string(),
            "invalid tenant id \"\": expected 1 to 64 characters, none of them control characters"
        );
        let long = TenantId::new("x".repeat(1_000)).unwrap_err().to_string();
        assert!(long.ends_with("... (1000 characters): expected 1 to 64 characters, none of them control characters"), "{long}");
        assert!(long.len() < 200);
    }
}
