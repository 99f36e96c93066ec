//! Exact installment splits of an amount.

use serde::{Deserialize, Serialize};

use crate::deal::Money;
use crate::validation::ValidationError;

/// Shares of an amount in basis points (5000 = 50 %) that sum to exactly 100 %.
///
/// [`InstallmentSplit::amounts`] divides an amount into parts that sum exactly to it in minor
/// units (largest remainder: the kopecks left over go to the largest fractions first).
///
/// ```
/// use recurring_deals::{Currency, InstallmentSplit, Money};
/// let split = InstallmentSplit::new(vec![5000, 5000])?;
/// let rub = Currency::new("RUB")?;
/// let parts = split.amounts(Money::new(100_001, rub));
/// assert_eq!(parts.iter().map(|m| m.minor).collect::<Vec<_>>(), [50_001, 50_000]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<u32>", into = "Vec<u32>")]
pub struct InstallmentSplit(Vec<u32>);

impl InstallmentSplit {
    /// Validates shares: at least two, each above 0, summing to 10000.
    ///
    /// # Errors
    /// [`ValidationError::SplitShares`] otherwise; [`ValidationError::TooLong`] for more than
    /// [`crate::limits::INSTALLMENTS`] shares.
    pub fn new(shares_bp: Vec<u32>) -> Result<InstallmentSplit, ValidationError> {
        crate::validation::at_most(
            "installment shares",
            shares_bp.len(),
            crate::limits::INSTALLMENTS,
            "items",
        )?;
        let sum: u64 = shares_bp.iter().map(|&s| u64::from(s)).sum();
        if shares_bp.len() < 2 || shares_bp.contains(&0) || sum != 10_000 {
            return Err(ValidationError::SplitShares { shares: shares_bp });
        }
        Ok(InstallmentSplit(shares_bp))
    }

    /// The shares in basis points.
    pub fn shares(&self) -> &[u32] {
        &self.0
    }

    /// Splits `total` into one amount per share, summing exactly to `total`.
    pub fn amounts(&self, total: Money) -> Vec<Money> {
        let total_minor = i128::from(total.minor);
        let mut parts: Vec<(i128, i128, usize)> = self
            .0
            .iter()
            .enumerate()
            .map(|(i, &share)| {
                let exact = total_minor * i128::from(share);
                (exact.div_euclid(10_000), exact.rem_euclid(10_000), i)
            })
            .collect();
        let assigned: i128 = parts.iter().map(|p| p.0).sum();
        let mut left = total_minor - assigned;
        let mut order: Vec<usize> = (0..parts.len()).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(parts[i].1), i));
        for i in order {
            if left == 0 {
                break;
            }
            parts[i].0 += 1;
            left -= 1;
        }
        parts
            .into_iter()
            .map(|(minor, _, _)| Money::new(minor as i64, total.currency))
            .collect()
    }
}

impl TryFrom<Vec<u32>> for InstallmentSplit {
    type Error = ValidationError;
    fn try_from(value: Vec<u32>) -> Result<Self, Self::Error> {
        InstallmentSplit::new(value)
    }
}

impl From<InstallmentSplit> for Vec<u32> {
    fn from(value: InstallmentSplit) -> Vec<u32> {
        value.0
    }
}
