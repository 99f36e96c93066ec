//! Identifiers: tenants, templates, and the keys that make creation idempotent.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::validation::ValidationError;

/// A tenant (an account of the host's CRM). Every operation is scoped to one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// Validates a tenant id: 1 to 64 characters, no control characters.
    ///
    /// # Errors
    /// [`ValidationError::InvalidTenant`] otherwise.
    ///
    /// ```
    /// use recurring_deals::TenantId;
    /// assert_eq!(TenantId::new("acme")?.as_str(), "acme");
    /// assert!(TenantId::new("").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(id: impl Into<String>) -> Result<TenantId, ValidationError> {
        let id = id.into();
        if id.is_empty() || id.chars().count() > 64 || id.chars().any(char::is_control) {
            return Err(ValidationError::InvalidTenant(id));
        }
        Ok(TenantId(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TenantId::new(value)
    }
}

impl From<TenantId> for String {
    fn from(value: TenantId) -> String {
        value.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A recurring deal template, numbered by the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TemplateId(pub u64);

impl fmt::Display for TemplateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "T{}", self.0)
    }
}

/// The unique key of a created deal: which template, and which slot of its series (or which
/// manual creation). The store enforces uniqueness, so creating the same occurrence twice is
/// impossible, whatever crashes or concurrent workers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DealKey {
    /// Occurrence `seq` of the template's schedule revision `revision` (a schedule edit starts
    /// a new revision, so its numbering never collides with the old one's).
    Scheduled {
        /// The template.
        template: TemplateId,
        /// The schedule revision, from 0.
        revision: u32,
        /// The occurrence's position in that revision's series.
        seq: u64,
    },
    /// The `number`th deal created by hand ("create now"), from 0.
    Manual {
        /// The template.
        template: TemplateId,
        /// Counter of manual creations.
        number: u64,
    },
}

impl DealKey {
    /// The template the deal came from.
    pub fn template(&self) -> TemplateId {
        match *self {
            DealKey::Scheduled { template, .. } | DealKey::Manual { template, .. } => template,
        }
    }
}

impl fmt::Display for DealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DealKey::Scheduled {
                template,
                revision,
                seq,
            } => write!(f, "{template}/r{revision}/{seq}"),
            DealKey::Manual { template, number } => write!(f, "{template}/manual/{number}"),
        }
    }
}
