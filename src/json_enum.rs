//! Reading the crate's enums from JSON so that a value of the wrong type is refused by what is
//! accepted.
//!
//! serde_json answers a `null`, a number, a boolean or an array where an externally tagged
//! enum is expected with "expected value at line … column …", which names nothing. Every enum
//! field of the crate's JSON input forms (schedule, template draft, deal, invoice options,
//! terms change) is read with [`tagged`] (or [`optional`], [`list`], [`map`]): a string or an
//! object goes to the enum's derived reading, anything else is refused as
//! `invalid type: null, expected one of "clamp", "skip"` (the variants as written;
//! `{"name": …}` for those that carry a value). Formats that are not self-describing
//! (`is_human_readable` false: bincode, postcard) keep the derived reading.
//!
//! A host's own request types that hold the crate's enums can read them the same way:
//!
//! ```
//! use recurring_deals::InvoiceStatus;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct InvoicePatch {
//!     #[serde(deserialize_with = "recurring_deals::json_enum::tagged")]
//!     status: InvoiceStatus,
//! }
//!
//! let patch: InvoicePatch = serde_json::from_str(r#"{"status": "paid"}"#)?;
//! assert_eq!(patch.status, InvoiceStatus::Paid);
//! let error = serde_json::from_str::<InvoicePatch>(r#"{"status": null}"#).err().unwrap();
//! assert!(error.to_string().starts_with("invalid type: null, expected one of \"open\""));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{EnumAccessDeserializer, MapAccessDeserializer, StrDeserializer};
use serde::de::{self, Deserialize, Deserializer, EnumAccess, MapAccess, Visitor};

/// Reads an enum field (`#[serde(deserialize_with = "recurring_deals::json_enum::tagged")]`):
/// a string (a variant without a value) or an object (`{"variant": value}`).
///
/// # Errors
/// Any other type, refused naming the variants; what the enum's own reading refuses (an
/// unknown variant, a bad value).
pub fn tagged<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Checked::deserialize(deserializer).map(|Checked(value)| value)
}

/// [`tagged`] for an `Option` field: `null` is `None` (add `#[serde(default)]` for an absent
/// one).
///
/// # Errors
/// As [`tagged`].
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Checked<T>>::deserialize(deserializer)?.map(|Checked(value)| value))
}

/// [`tagged`] for each element of a list.
///
/// # Errors
/// As [`tagged`], for the first element refused; a value that is not a list.
pub fn list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Vec::<Checked<T>>::deserialize(deserializer)?
        .into_iter()
        .map(|Checked(value)| value)
        .collect())
}

/// [`tagged`] for each value of a map with string keys.
///
/// # Errors
/// As [`tagged`], for the first value refused; a value that is not a map.
pub fn map<'de, D, T>(deserializer: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(BTreeMap::<String, Checked<T>>::deserialize(deserializer)?
        .into_iter()
        .map(|(key, Checked(value))| (key, value))
        .collect())
}

/// An enum read through [`Tagged`].
struct Checked<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Checked<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer
                .deserialize_any(Tagged(PhantomData))
                .map(Checked)
        } else {
            T::deserialize(deserializer).map(Checked)
        }
    }
}

/// Passes a string or an object on to `T`'s derived reading; refuses every other type.
struct Tagged<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for Tagged<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(variants) = variants::<T>() else {
            return formatter.write_str("a variant name or an object {\"variant\": value}");
        };
        formatter.write_str("one of ")?;
        for (i, variant) in variants.iter().enumerate() {
            if i > 0 {
                formatter.write_str(", ")?;
            }
            // A variant that reads from its bare name carries no value.
            let bare: Result<T, de::value::Error> = T::deserialize(StrDeserializer::new(variant));
            if bare.is_ok() {
                write!(formatter, "\"{variant}\"")?;
            } else {
                write!(formatter, "{{\"{variant}\": …}}")?;
            }
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        T::deserialize(StrDeserializer::new(value))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<T, A::Error> {
        T::deserialize(EnumAccessDeserializer::new(data))
    }
}

/// The variant names `T`'s derived reading accepts, asked of a deserializer that only records
/// them; `None` for a type that is not an externally tagged enum.
fn variants<'de, T: Deserialize<'de>>() -> Option<&'static [&'static str]> {
    let seen = Cell::new(None);
    let _ = T::deserialize(Probe(&seen));
    seen.get()
}

/// A deserializer that records the variants an enum asks for and reads nothing.
struct Probe<'a>(&'a Cell<Option<&'static [&'static str]>>);

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only the variants are asked for"))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(Some(variants));
        Err(de::Error::custom("only the variants are asked for"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Shape {
        Round,
        Square,
        Sides(u8),
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Form {
        #[serde(deserialize_with = "tagged")]
        shape: Shape,
        #[serde(default, deserialize_with = "optional")]
        maybe: Option<Shape>,
    }

    fn read(json: &str) -> Result<Form, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn strings_and_objects_read_as_derived() {
        assert_eq!(
            read(r#"{"shape": "round", "maybe": {"sides": 5}}"#),
            Ok(Form {
                shape: Shape::Round,
                maybe: Some(Shape::Sides(5)),
            })
        );
        assert_eq!(
            read(r#"{"shape": "square", "maybe": null}"#).unwrap().maybe,
            None
        );
    }

    #[test]
    fn other_types_are_refused_naming_the_variants() {
        for (json, got) in [
            (r#"{"shape": null}"#, "null"),
            (r#"{"shape": 5}"#, "integer `5`"),
            (r#"{"shape": true}"#, "boolean `true`"),
            (r#"{"shape": []}"#, "sequence"),
            (
                r#"{"shape": "round", "maybe": 1.5}"#,
                "floating point `1.5`",
            ),
        ] {
            let error = read(json).unwrap_err();
            assert!(
                error.starts_with(&format!(
                    "invalid type: {got}, expected one of \"round\", \"square\", {{\"sides\": …}}"
                )),
                "{json}: {error}"
            );
        }
        // An unknown name keeps serde's own message, which lists the variants.
        let error = read(r#"{"shape": "oval"}"#).unwrap_err();
        assert!(error.contains("unknown variant `oval`"), "{error}");
    }
}
