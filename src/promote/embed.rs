//! Embedding the promotion's options in another struct's keys: a releases file's entry and its
//! defaults take [`PromoteArgs`]' options (declared once, in [`crate::options`]) beside keys of their
//! own, in one YAML mapping, with the errors serde gives a struct of its own: an unknown or repeated
//! key named at its line (`releases[2].bogus: unknown field `bogus`, expected one of `name`, …`), a bad
//! value at its own key and line.
//!
//! `#[serde(flatten)]` would do the embedding but loses all of that (serde collects the keys into an
//! untyped map first: no "expected one of", no key path, no line, and `deny_unknown_fields` does not
//! work with it). So [`deserialize`] reads the mapping key by key: a key of the face's own goes to the
//! face's derived deserializer (`#[serde(remote = "Self")]`, which then sees only its own keys); a
//! key of the promotion's options is read straight from the document into a one-key [`PromoteArgs`]
//! (its own serde attributes: aliases, lenient parsers) and merged; any other key is refused while it
//! is read, so the error points at it.

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::model::PROMOTE_SPEC;
use super::PromoteArgs;

/// How one face takes the promotion's options.
#[derive(Debug)]
pub struct Embedding {
    /// The face's own keys, every name serde takes for them (aliases too). They come first in
    /// "expected one of", and win over an option of the same name.
    pub own: &'static [&'static str],
    /// Option keys this face spells its own way: (its key, the option's field).
    pub renames: &'static [(&'static str, &'static str)],
    /// Options (by field) this face does not take: their keys are unknown here.
    pub refused: &'static [&'static str],
}

impl Embedding {
    /// The [`PromoteArgs`] field a key of this face sets, if it is an option's key.
    pub fn option_field(&self, key: &str) -> Option<&'static str> {
        if self.own.contains(&key) {
            return None;
        }
        let field = match self.renames.iter().find(|(k, _)| *k == key) {
            Some((_, f)) => Some(*f),
            None => PromoteArgs::FIELDS
                .iter()
                .zip(PROMOTE_SPEC)
                .find_map(|(f, o)| (*f == key || o.name == key || o.aliases.contains(&key)).then_some(*f)),
        }?;
        (!self.refused.contains(&field)).then_some(field)
    }

    /// Every key this face takes: its own, then the options' fields and renamed keys.
    pub fn keys(&self) -> Vec<&'static str> {
        let mut keys: Vec<&'static str> = self.own.to_vec();
        let options = PromoteArgs::FIELDS.iter().copied();
        let renamed = self.renames.iter().map(|(k, _)| *k);
        for k in options.chain(renamed) {
            if self.option_field(k).is_some() && !keys.contains(&k) {
                keys.push(k);
            }
        }
        keys
    }
}

/// A struct that embeds the promotion's options: its own keys through its derived deserializer
/// (`#[serde(remote = "Self")]` gives it as an inherent function), the options set afterwards.
pub trait Embeds: Sized {
    /// Which keys are its own, which options it takes and how it spells them.
    const FACE: &'static Embedding;
    /// The derived deserializer of its own keys.
    fn own<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
    /// Set the options read beside them.
    fn with_options(self, options: PromoteArgs) -> Self;
}

/// Read `T` from a mapping of its own keys and the promotion's options (see the module doc). For
/// `T`'s `Deserialize` impl.
pub fn deserialize<'de, D: Deserializer<'de>, T: Embeds>(d: D) -> Result<T, D::Error> {
    d.deserialize_map(Mapping::<T>(std::marker::PhantomData))
}

struct Mapping<T>(std::marker::PhantomData<T>);

impl<'de, T: Embeds> Visitor<'de> for Mapping<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        let mut keys = Keys {
            map,
            face: T::FACE,
            options: PromoteArgs::default(),
            seen: Vec::new(),
        };
        let own = T::own(OwnKeys(&mut keys))?;
        Ok(own.with_options(keys.options))
    }
}

/// The mapping as the face's derived deserializer sees it: its own keys only; the options' keys
/// are read on the way, into `options`.
struct Keys<A> {
    map: A,
    face: &'static Embedding,
    options: PromoteArgs,
    /// Option fields set so far (a second key for one is an error, as in a struct).
    seen: Vec<&'static str>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Keys<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        loop {
            let key = Key {
                face: self.face,
                seen: &mut self.seen,
            };
            match self.map.next_key_seed(key)? {
                None => return Ok(None),
                Some(Found::Own(k)) => return seed.deserialize(k.into_deserializer()).map(Some),
                Some(Found::Option(field)) => {
                    let one = self.map.next_value_seed(OneOption(field))?;
                    self.options = one.or(std::mem::take(&mut self.options));
                }
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// [`Keys`] as a deserializer (of a mapping) for the face's derived code.
struct OwnKeys<'a, A>(&'a mut Keys<A>);

impl<'de, A: MapAccess<'de>> Deserializer<'de> for OwnKeys<'_, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self.0)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// A key of the mapping: the face's own, or an option's (by field).
enum Found {
    Own(String),
    Option(&'static str),
}

/// Reads one key, refusing an unknown or repeated one while the key is read (so the error names its
/// line).
struct Key<'a> {
    face: &'static Embedding,
    seen: &'a mut Vec<&'static str>,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Found;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Found, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = Found;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, k: &str) -> Result<Found, E> {
        if self.face.own.contains(&k) {
            return Ok(Found::Own(k.to_string()));
        }
        match self.face.option_field(k) {
            Some(f) if self.seen.contains(&f) => Err(E::duplicate_field(f)),
            Some(f) => {
                self.seen.push(f);
                Ok(Found::Option(f))
            }
            // Only on this error path: serde wants the list for the life of the program.
            None => Err(E::unknown_field(
                k,
                Box::leak(self.face.keys().into_boxed_slice()),
            )),
        }
    }
}

/// Reads one option's value straight from the document, as [`PromoteArgs`] (its serde attributes).
struct OneOption(&'static str);

impl<'de> DeserializeSeed<'de> for OneOption {
    type Value = PromoteArgs;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<PromoteArgs, D::Error> {
        PromoteArgs::deserialize(OneEntry {
            key: Some(self.0),
            value: Some(d),
        })
    }
}

/// A mapping of one key, its value still in the document.
struct OneEntry<D> {
    key: Option<&'static str>,
    value: Option<D>,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for OneEntry<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, D: Deserializer<'de>> MapAccess<'de> for OneEntry<D> {
    type Error = D::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, D::Error> {
        match self.key.take() {
            None => Ok(None),
            Some(k) => seed.deserialize(k.into_deserializer()).map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, D::Error> {
        match self.value.take() {
            Some(d) => seed.deserialize(d),
            None => Err(de::Error::custom("a value read twice")),
        }
    }
}
