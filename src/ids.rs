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

    /// The key as the stores' columns, in their order: template, kind (0 scheduled, 1
    /// manual), revision (0 for manual deals) and number (the occurrence's `seq`, or the
    /// manual number). Every store that lists by deal key sorts by this tuple, so the
    /// in-memory store and the SQL `ORDER BY template_id, kind, revision, num` agree (the
    /// derived `Ord` puts all scheduled keys first instead).
    pub(crate) fn columns(&self) -> (u64, u8, u32, u64) {
        match *self {
            DealKey::Scheduled {
                template,
                revision,
                seq,
            } => (template.0, 0, revision, seq),
            DealKey::Manual { template, number } => (template.0, 1, 0, number),
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

impl std::str::FromStr for DealKey {
    type Err = ValidationError;

    /// Reads the form `Display` writes: `T<template>/r<revision>/<seq>` or
    /// `T<template>/manual/<number>` (decimal numbers, no signs or spaces).
    ///
    /// ```
    /// use recurring_deals::{DealKey, TemplateId};
    ///
    /// let key: DealKey = "T12/r0/3".parse()?;
    /// assert_eq!(key, DealKey::Scheduled { template: TemplateId(12), revision: 0, seq: 3 });
    /// assert_eq!(key.to_string().parse::<DealKey>()?, key);
    /// assert!("T12/r0".parse::<DealKey>().is_err());
    /// # Ok::<(), recurring_deals::ValidationError>(())
    /// ```
    ///
    /// # Errors
    /// [`ValidationError::InvalidDealKey`] naming the text.
    fn from_str(text: &str) -> Result<DealKey, ValidationError> {
        let invalid = || ValidationError::InvalidDealKey(text.to_owned());
        // Only ASCII digits: `u64::from_str` would also take a leading `+`.
        fn number<T: std::str::FromStr>(digits: &str) -> Option<T> {
            let plain = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
            plain.then(|| digits.parse().ok()).flatten()
        }
        let mut parts = text.split('/');
        let (Some(template), Some(middle), Some(last), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let template = template
            .strip_prefix('T')
            .and_then(number)
            .map(TemplateId)
            .ok_or_else(invalid)?;
        let last: u64 = number(last).ok_or_else(invalid)?;
        if middle == "manual" {
            return Ok(DealKey::Manual {
                template,
                number: last,
            });
        }
        let revision = middle
            .strip_prefix('r')
            .and_then(number)
            .ok_or_else(invalid)?;
        Ok(DealKey::Scheduled {
            template,
            revision,
            seq: last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deal_keys_read_back_what_display_writes_and_nothing_else() {
        let keys = [
            DealKey::Scheduled {
                template: TemplateId(u64::MAX),
                revision: u32::MAX,
                seq: u64::MAX,
            },
            DealKey::Scheduled {
                template: TemplateId(0),
                revision: 0,
                seq: 0,
            },
            DealKey::Manual {
                template: TemplateId(7),
                number: 12,
            },
        ];
        for key in keys {
            assert_eq!(key.to_string().parse::<DealKey>(), Ok(key));
        }
        for bad in [
            "",
            "T1",
            "T1/r0",
            "T1/r0/1/2",
            "1/r0/1",
            "T/r0/1",
            "T1/0/1",
            "T1/r/1",
            "T1/r0/",
            "T1/r0/+1",
            "T1/r-1/1",
            "T1/r4294967296/1",
            "T18446744073709551616/r0/1",
            "T1/manual/x",
            "T1/Manual/1",
            " T1/r0/1",
            "t1/r0/1",
        ] {
            let error = bad.parse::<DealKey>().unwrap_err();
            assert_eq!(error, ValidationError::InvalidDealKey(bad.to_owned()));
            assert!(error.to_string().contains("T<template>/r<revision>/<seq>"));
        }
    }
}
