//! Reading the payload without a tree: the raw text at a pointer, and a deserializer that picks
//! the variant by the type name.

use std::collections::HashMap;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::event::RawJson;

pub(super) fn is_json_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// The raw text at a JSON pointer into `text` (valid JSON), found without a tree: of a key given
/// twice, the last, as [`Value::pointer`] finds it; `null` where the pointer finds nothing (the
/// payload the type was given).
#[cold]
pub(super) fn raw_at(text: &str, pointer: &str) -> RawJson {
    fn step<'a>(current: &'a RawValue, token: &str) -> Option<&'a RawValue> {
        match current.get().as_bytes().first() {
            Some(b'{') => {
                let token = token.replace("~1", "/").replace("~0", "~");
                let mut fields: HashMap<String, &'a RawValue> =
                    serde_json::from_str(current.get()).ok()?;
                fields.remove(&token)
            }
            Some(b'[') => {
                // The indices `Value::pointer` takes: digits, no leading zero.
                if token.starts_with('+') || (token.len() > 1 && token.starts_with('0')) {
                    return None;
                }
                let index = token.parse::<usize>().ok()?;
                let items: Vec<&'a RawValue> = serde_json::from_str(current.get()).ok()?;
                items.get(index).copied()
            }
            _ => None,
        }
    }
    let found = serde_json::from_str::<&RawValue>(text)
        .ok()
        .and_then(|root| {
            if pointer.is_empty() {
                return Some(root);
            }
            pointer.strip_prefix('/')?.split('/').try_fold(root, step)
        });
    match found {
        Some(raw) => RawJson::from_raw(raw),
        None => RawJson::from_string("null".to_owned()).expect("`null` is JSON"),
    }
}

/// The failing field's path inside the payload, without the variant (type name) segment.
pub(super) fn payload_path(path: &serde_path_to_error::Path, event_name: &str) -> String {
    let full = path.to_string();
    match full.strip_prefix(event_name) {
        Some("") => ".".to_owned(),
        Some(rest) => rest.trim_start_matches('.').to_owned(),
        None => full,
    }
}

/// Presents `(type name, payload)` to serde as an externally tagged enum `{type: payload}`,
/// without building that map, and records whether the type name matched no variant (an unknown
/// type, as opposed to a payload that does not fit). Non-enum types deserialize from the payload.
pub(super) struct Tagged<'de, 'a> {
    pub(super) event_name: &'a str,
    pub(super) data: &'de Value,
    pub(super) unknown: &'a std::cell::Cell<bool>,
}

impl<'de> serde::Deserializer<'de> for Tagged<'de, '_> {
    type Error = serde_json::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        serde::Deserializer::deserialize_any(self.data, visitor)
    }

    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

impl<'de> serde::de::EnumAccess<'de> for Tagged<'de, '_> {
    type Error = serde_json::Error;
    type Variant = Self;

    fn variant_seed<V: serde::de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), Self::Error> {
        use serde::de::IntoDeserializer;
        let name: serde::de::value::StrDeserializer<'_, serde_json::Error> =
            self.event_name.into_deserializer();
        match seed.deserialize(name) {
            Ok(variant) => Ok((variant, self)),
            Err(e) => {
                self.unknown.set(true);
                Err(e)
            }
        }
    }
}

impl<'de> serde::de::VariantAccess<'de> for Tagged<'de, '_> {
    type Error = serde_json::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: serde::de::DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        seed.deserialize(self.data)
    }

    fn tuple_variant<V: serde::de::Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        serde::Deserializer::deserialize_seq(self.data, visitor)
    }

    fn struct_variant<V: serde::de::Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        serde::Deserializer::deserialize_struct(self.data, "", fields, visitor)
    }
}
