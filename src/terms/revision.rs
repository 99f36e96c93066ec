//! Terms revisions as a template holds them, and applying a change to one template.

use super::*;

/// Terms in force from a civil date on, as a template holds them: each part the change set
/// (or an earlier revision set), `None` where the template's own deal and target apply.
/// Revisions are cumulative: a revision holds every part set by the changes effective on or
/// before its date.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TermsRevision {
    number: u32,
    change: ChangeId,
    effective: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    amount: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    products: Option<Vec<ProductRow>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    assignee: Option<u64>,
}

impl TermsRevision {
    /// The template's terms revision number (1 for its first change).
    pub fn number(&self) -> u32 {
        self.number
    }
    /// The change that made it.
    pub fn change(&self) -> &ChangeId {
        &self.change
    }
    /// Its first civil date, in the template's zone.
    pub fn effective(&self) -> NaiveDate {
        self.effective
    }
    /// The amount of created deals, when set.
    pub fn amount(&self) -> Option<Money> {
        self.amount
    }
    /// The product rows of created deals, when set.
    pub fn products(&self) -> Option<&[ProductRow]> {
        self.products.as_deref()
    }
    /// The pipeline and stage of created deals, when set.
    pub fn target(&self) -> Option<&Target> {
        self.target.as_ref()
    }
    /// The assignee of created deals, when set.
    pub fn assignee(&self) -> Option<u64> {
        self.assignee
    }
}

/// A change a template has applied, remembered so that re-applying it is a no-op.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppliedChange {
    /// The change.
    pub id: ChangeId,
    /// The terms revision it made.
    pub revision: u32,
}

/// What applying a terms change to one template comes to ([`Template::apply_terms`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TermsStep {
    /// The change to commit: the template with its new terms revision `revision`.
    Apply {
        /// The new terms revision's number.
        revision: u32,
        /// What to commit.
        change: Box<Change>,
    },
    /// The template has applied this change already (as terms revision `revision`).
    AlreadyApplied {
        /// The revision it made.
        revision: u32,
    },
    /// The filter does not match the template.
    NotMatched,
    /// The template is finished: it creates no more scheduled deals, so it keeps its terms.
    Finished,
}

/// The terms a deal created for one date copies: the template's deal with the parts of the
/// revision in force overlaid, and the target.
pub(crate) struct Terms<'a> {
    deal: Cow<'a, Deal>,
    target: Option<&'a Target>,
    split: Option<&'a InstallmentSplit>,
}

impl Terms<'_> {
    /// The deal, with the terms in force.
    pub(crate) fn deal(&self) -> &Deal {
        &self.deal
    }

    /// The pipeline and stage of created deals, if the template sets them.
    pub(crate) fn target(&self) -> Option<&Target> {
        self.target
    }

    /// The amount of the created deal: the deal's, or the last share of an installment split.
    pub(crate) fn amount(&self) -> Money {
        let amount = self.deal.amount();
        match self.split {
            Some(split) => split.amounts(amount).last().copied().unwrap_or(amount),
            None => amount,
        }
    }
}

impl Template {
    /// The terms revisions the template holds, by effective date: the one in force (once
    /// its date is reached) and those still to come.
    pub fn terms_revisions(&self) -> &[TermsRevision] {
        &self.terms
    }

    /// The terms changes the template has applied, oldest first (the last
    /// [`MAX_REMEMBERED_CHANGES`]).
    pub fn applied_terms_changes(&self) -> &[AppliedChange] {
        &self.terms_applied
    }

    /// The deal a deal created for an occurrence on `date` (a civil date in the schedule's
    /// zone) copies, before its own key, amount split, target and dates are set: the template
    /// deal with the terms revision in force on `date` overlaid.
    pub fn deal_on(&self, date: NaiveDate) -> Cow<'_, Deal> {
        self.terms_on(date).deal
    }

    /// The terms of a deal created for `date`.
    pub(crate) fn terms_on(&self, date: NaiveDate) -> Terms<'_> {
        self.terms_of(self.terms_index(date))
    }

    /// The index of the revision in force on `date` plus one (0: the template's own terms):
    /// deals of equal index have equal terms.
    pub(crate) fn terms_index(&self, date: NaiveDate) -> usize {
        self.terms.partition_point(|r| r.effective <= date)
    }

    /// The terms of index `index` ([`Template::terms_index`]).
    pub(crate) fn terms_of(&self, index: usize) -> Terms<'_> {
        let split = self.split.as_ref();
        let Some(revision) = index.checked_sub(1).and_then(|i| self.terms.get(i)) else {
            return Terms {
                deal: Cow::Borrowed(&self.deal),
                target: self.target.as_ref(),
                split,
            };
        };
        Terms {
            deal: Cow::Owned(self.deal.with_terms(
                revision.amount,
                revision.products.as_deref(),
                revision.assignee,
            )),
            target: revision.target.as_ref().or(self.target.as_ref()),
            split,
        }
    }

    /// Applies a terms change: from `change.effective()` (a civil date in the schedule's
    /// zone) on, the deals the template creates have the new terms; earlier occurrences keep
    /// the old ones, even when created late. The schedule, its revision, the counts, the
    /// cursor and the next run are unchanged. A change effective before a later revision
    /// also changes that revision's terms (a raise by 5 % from March raises the terms a
    /// change already set for June).
    ///
    /// Revisions the template has passed (every occurrence after its cursor is on or after
    /// the next revision's date) are dropped here, so a template holds at most
    /// [`MAX_TERMS_REVISIONS`].
    ///
    /// # Errors
    /// [`TermsError::CurrencyMismatch`], [`TermsError::NegativeAmount`],
    /// [`TermsError::Overflow`] from the new terms; [`TermsError::TooManyRevisions`].
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use recurring_deals::*;
    ///
    /// # fn f(template: &Template) -> Result<(), Box<dyn std::error::Error>> {
    /// let change = TermsChange::builder(
    ///     ChangeId::new("assign-17")?,
    ///     NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
    /// )
    /// .assignee(17)
    /// .build()?;
    /// match template.apply_terms(&change)? {
    ///     TermsStep::Apply { revision, change } => {
    ///         assert_eq!(change.template.applied_terms_changes().last().unwrap().revision, revision);
    ///     }
    ///     other => println!("{other:?}"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn apply_terms(&self, change: &TermsChange) -> Result<TermsStep, TermsError> {
        if let Some(applied) = self.terms_applied.iter().find(|a| a.id == change.id) {
            return Ok(TermsStep::AlreadyApplied {
                revision: applied.revision,
            });
        }
        if !change.filter.matches(self, change.effective) {
            return Ok(TermsStep::NotMatched);
        }
        if self.state == TemplateState::Finished {
            return Ok(TermsStep::Finished);
        }
        let number = self.terms_revision.saturating_add(1);
        let mut next = self.clone();
        next.fold_passed_terms();
        let at = next
            .terms
            .partition_point(|r| r.effective < change.effective);
        let mut revision = match next.terms.get(at) {
            Some(same) if same.effective == change.effective => next.terms.remove(at),
            _ => match at.checked_sub(1).and_then(|i| next.terms.get(i)) {
                Some(in_force) => in_force.clone(),
                None => TermsRevision {
                    number,
                    change: change.id.clone(),
                    effective: change.effective,
                    amount: None,
                    products: None,
                    target: None,
                    assignee: None,
                },
            },
        };
        revision.number = number;
        revision.change = change.id.clone();
        revision.effective = change.effective;
        let revision = self.edited(revision, &change.edit)?;
        let later: Vec<TermsRevision> = next.terms.drain(at..).collect();
        next.terms.push(revision);
        for later in later {
            let later = self.edited(later, &change.edit)?;
            next.terms.push(later);
        }
        if next.terms.len() > MAX_TERMS_REVISIONS {
            return Err(TermsError::TooManyRevisions {
                template: self.id,
                max: MAX_TERMS_REVISIONS,
            });
        }
        next.terms_revision = number;
        next.terms_applied.push(AppliedChange {
            id: change.id.clone(),
            revision: number,
        });
        if next.terms_applied.len() > MAX_REMEMBERED_CHANGES {
            let excess = next.terms_applied.len() - MAX_REMEMBERED_CHANGES;
            next.terms_applied.drain(..excess);
        }
        Ok(TermsStep::Apply {
            revision: number,
            change: Box::new(Change {
                template: next,
                events: Vec::new(),
            }),
        })
    }

    /// `revision` with `edit` applied.
    pub(super) fn edited(
        &self,
        mut revision: TermsRevision,
        edit: &TermsEdit,
    ) -> Result<TermsRevision, TermsError> {
        let currency = self.deal.amount().currency;
        if let Some(amount) = edit.amount {
            let old = revision.amount.unwrap_or(self.deal.amount());
            revision.amount = Some(amount.applied_to(old, self.id)?);
        }
        if let Some(rows) = &edit.products {
            if let Some(row) = rows.iter().find(|r| r.price.currency != currency) {
                return Err(TermsError::CurrencyMismatch {
                    template: self.id,
                    expected: currency,
                    got: row.price.currency,
                });
            }
            revision.products = Some(rows.clone());
        }
        if let Some(target) = &edit.target {
            revision.target = Some(target.clone());
        }
        if let Some(user) = edit.assignee {
            revision.assignee = Some(user);
        }
        Ok(revision)
    }

    /// Drops the revisions no coming occurrence can use: those followed by one whose date is
    /// on or before the civil day of the template's cursor (every occurrence still to
    /// process is after the cursor, so on or after that day).
    pub(super) fn fold_passed_terms(&mut self) {
        let Some(cursor) = self.cursor else {
            return;
        };
        let today = self.schedule.today(cursor);
        let in_force = self.terms.partition_point(|r| r.effective <= today);
        if in_force > 1 {
            self.terms.drain(..in_force - 1);
        }
    }
}
