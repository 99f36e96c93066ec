//! Size limits of deal content: what a template may carry, since every created deal copies
//! it, and catch-up multiplies it.

use crate::deal::{CustomValue, Deal};
use crate::engine::EngineError;

/// Size limits of a template's deal, checked when a template is created or its deal edited.
/// Lengths are in bytes of UTF-8. The defaults are generous for a CRM deal and small enough
/// that a catch-up of a hundred deals stays a few megabytes.
///
/// ```
/// use recurring_deals::{Currency, Deal, DealLimits, Money};
///
/// let limits = DealLimits::default();
/// let deal = Deal::new("x".repeat(2_000), Money::new(100, Currency::new("EUR")?))?;
/// assert!(limits.check(&deal).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DealLimits {
    /// Longest title (default 1,000 bytes).
    pub title_bytes: usize,
    /// Longest stage name (default 100 bytes).
    pub stage_bytes: usize,
    /// Longest comments (default 64 KiB).
    pub comments_bytes: usize,
    /// Most product rows (default 500).
    pub products: usize,
    /// Longest product name (default 1,000 bytes).
    pub product_name_bytes: usize,
    /// Most contacts and observers, each (default 1,000).
    pub people: usize,
    /// Most custom fields (default 200).
    pub custom_fields: usize,
    /// Longest custom field name (default 200 bytes).
    pub custom_name_bytes: usize,
    /// Longest custom text value, or all items of a list value together (default 64 KiB).
    pub custom_value_bytes: usize,
}

impl Default for DealLimits {
    fn default() -> Self {
        DealLimits {
            title_bytes: 1_000,
            stage_bytes: 100,
            comments_bytes: 64 * 1024,
            products: 500,
            product_name_bytes: 1_000,
            people: 1_000,
            custom_fields: 200,
            custom_name_bytes: 200,
            custom_value_bytes: 64 * 1024,
        }
    }
}

impl DealLimits {
    /// Checks `deal` against the limits.
    ///
    /// # Errors
    /// [`EngineError::DealTooLarge`] naming the first part over its limit, its size and the
    /// limit.
    pub fn check(&self, deal: &Deal) -> Result<(), EngineError> {
        let over = |what: String, size: usize, max: usize, unit: &'static str| {
            if size > max {
                Err(EngineError::DealTooLarge {
                    what,
                    size,
                    max,
                    unit,
                })
            } else {
                Ok(())
            }
        };
        over("title".into(), deal.title().len(), self.title_bytes, BYTES)?;
        over("stage".into(), deal.stage().len(), self.stage_bytes, BYTES)?;
        over(
            "comment text".into(),
            deal.comments().len(),
            self.comments_bytes,
            BYTES,
        )?;
        over(
            "product rows".into(),
            deal.products().len(),
            self.products,
            ITEMS,
        )?;
        for (i, row) in deal.products().iter().enumerate() {
            over(
                format!("name of product row {i}"),
                row.name.len(),
                self.product_name_bytes,
                BYTES,
            )?;
        }
        over("contacts".into(), deal.contacts().len(), self.people, ITEMS)?;
        over(
            "observers".into(),
            deal.observers().len(),
            self.people,
            ITEMS,
        )?;
        over(
            "custom fields".into(),
            deal.custom().len(),
            self.custom_fields,
            ITEMS,
        )?;
        for (name, value) in deal.custom() {
            over(
                format!("custom field name {:?}", truncated(name)),
                name.len(),
                self.custom_name_bytes,
                BYTES,
            )?;
            let size = match value {
                CustomValue::Text(text) => text.len(),
                CustomValue::List(items) => items.iter().map(String::len).sum(),
                _ => 0,
            };
            over(
                format!("custom field {:?}", truncated(name)),
                size,
                self.custom_value_bytes,
                BYTES,
            )?;
        }
        Ok(())
    }
}

const BYTES: &str = "bytes";
const ITEMS: &str = "items";

/// The first 40 characters, for naming a field without echoing a huge one.
fn truncated(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deal::{Currency, Money};

    #[test]
    fn each_part_is_checked_and_named() {
        let limits = DealLimits::default();
        let eur = Currency::new("EUR").unwrap();
        let ok = Deal::new("Support", Money::new(1, eur)).unwrap();
        assert_eq!(limits.check(&ok), Ok(()));
        let long_title = Deal::new("t".repeat(16 * 1024 * 1024), Money::new(1, eur)).unwrap();
        assert_eq!(
            limits.check(&long_title).unwrap_err().to_string(),
            "deal title: 16777216 bytes, at most 1000 accepted"
        );
        let mut many = ok.clone();
        for i in 0..100_000 {
            many = many.with_custom(format!("f{i}"), CustomValue::Flag(true));
        }
        assert_eq!(
            limits.check(&many).unwrap_err().to_string(),
            "deal custom fields: 100000 items, at most 200 accepted"
        );
        let big_value = ok.with_custom("notes", CustomValue::Text("n".repeat(70_000)));
        assert_eq!(
            limits.check(&big_value).unwrap_err().to_string(),
            "deal custom field \"notes\": 70000 bytes, at most 65536 accepted"
        );
    }
}
