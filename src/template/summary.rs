//! What a template says about itself: its rule with the whole count or end, what is left,
//! its state, and its next run or resume date, in English or Russian.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::describe::Locale;
use crate::schedule::End;
use crate::template::{Template, TemplateState};

impl Template {
    /// The template in words: the schedule with its count (which a template keeps in
    /// [`Template::limit`], not in the schedule), how many deals are left, the state, and
    /// the next run (or, for a paused template, the resume date), in the schedule's zone.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use recurring_deals::*;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    /// let engine = Engine::new(InMemoryRepository::new(), clock);
    /// let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap().and_hms_opt(10, 0, 0).unwrap();
    /// let schedule = Schedule::builder(Recurrence::daily(Interval::ONE), start, Zone::UTC)
    ///     .end(End::Count(12))
    ///     .build()?;
    /// let deal = Deal::new("Check", Money::new(100, Currency::new("EUR")?))?;
    /// let template = engine.create_template(&TenantId::new("acme")?, TemplateDraft::new(deal, schedule)).await?;
    /// assert_eq!(
    ///     template.describe(Locale::En),
    ///     "every day at 10:00 (UTC), 12 times (12 left); active, next run 2026-01-05 10:00"
    /// );
    /// assert_eq!(
    ///     template.describe(Locale::Ru),
    ///     "ежедневно в 10:00 (UTC), 12 раз (осталось 12); активен, следующий запуск 2026-01-05 10:00"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn describe(&self, locale: Locale) -> String {
        let rule = match self.limit.and_then(|n| u32::try_from(n).ok()) {
            Some(count) if count > 0 => self
                .schedule
                .with_end(End::Count(count))
                .map_or_else(|_| self.schedule.describe(locale), |s| s.describe(locale)),
            _ => self.schedule.describe(locale),
        };
        let left = self.limit.map(|limit| {
            let left = limit.saturating_sub(self.counters.created_by_schedule);
            match locale {
                Locale::En => format!(" ({left} left)"),
                Locale::Ru => format!(" (осталось {left})"),
            }
        });
        let when = |at: DateTime<Utc>| {
            self.schedule
                .zone()
                .to_local(at)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        };
        let state = match (&self.state, locale) {
            (TemplateState::Active, Locale::En) => match self.next_run {
                Some(at) => format!("active, next run {}", when(at)),
                None => "active".to_owned(),
            },
            (TemplateState::Active, Locale::Ru) => match self.next_run {
                Some(at) => format!("активен, следующий запуск {}", when(at)),
                None => "активен".to_owned(),
            },
            (TemplateState::Paused { note, resume_on }, locale) => {
                let mut text = match locale {
                    Locale::En => "paused".to_owned(),
                    Locale::Ru => "приостановлен".to_owned(),
                };
                if !note.trim().is_empty() {
                    text.push_str(&format!(" ({})", note.trim()));
                }
                if let Some(date) = resume_on {
                    text.push_str(match locale {
                        Locale::En => " until ",
                        Locale::Ru => " до ",
                    });
                    text.push_str(&date.to_string());
                }
                text
            }
            (TemplateState::Inactive, Locale::En) => "inactive".to_owned(),
            (TemplateState::Inactive, Locale::Ru) => "выключен".to_owned(),
            (TemplateState::Finished, Locale::En) => "finished".to_owned(),
            (TemplateState::Finished, Locale::Ru) => "завершён".to_owned(),
        };
        format!("{rule}{}; {state}", left.unwrap_or_default())
    }
}

impl fmt::Display for TemplateState {
    /// `active`, `paused`, `inactive` or `finished` (the JSON form's names).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TemplateState::Active => "active",
            TemplateState::Paused { .. } => "paused",
            TemplateState::Inactive => "inactive",
            TemplateState::Finished => "finished",
        })
    }
}
