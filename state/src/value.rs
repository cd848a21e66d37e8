//! A compact JSON value for resource attributes: what state records, what providers observe
//! and what the blueprint wants, for every resource of an estate at once.
//!
//! `serde_json::Value` with `preserve_order` is 80 bytes, and each object is an `IndexMap`
//! with a hash table of its own; at 100,000 resources that is most of a plan's memory. This
//! value is 24 bytes: strings are `CompactString`s (up to 24 bytes inline, which holds account
//! ids, actions and effects without an allocation), keys are interned ([`Key`], 8 bytes), and
//! arrays and objects are boxed slices of their exact length (16 bytes, which leaves the
//! string's spare bit patterns free to tell the variants apart). An object is a slice of
//! entries in insertion order, searched linearly (attribute maps and policy documents have a
//! handful of keys); an entry is 32 bytes. Adding to an object or an array reallocates it, the
//! price of holding no spare capacity: build large ones through `collect` or `extend`, which
//! allocate once.
//!
//! It keeps `serde_json`'s behaviour where eksmgr depends on it: objects keep the order in
//! which keys were inserted (so state files and renderings are written as before), two
//! objects are equal whatever their order, and it serialises and deserialises as the same
//! JSON. It converts to and from `serde_json::Value` and compares equal to one.

use std::fmt;

use compact_str::CompactString;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
pub use serde_json::Number;
use smallvec::SmallVec;

mod key;

pub use key::Key;

#[doc(hidden)]
pub use serde_json as __serde_json;

/// A compact [`Value`] from JSON text written as `serde_json::json!` takes it (built as a
/// `serde_json::Value` first, then converted).
#[macro_export]
macro_rules! json {
    ($($json:tt)+) => {
        $crate::value::Value::from($crate::value::__serde_json::json!($($json)+))
    };
}

/// A string value: inline up to 24 bytes.
pub type Str = CompactString;

/// A JSON value, compact (see the module's documentation).
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(Str),
    /// An array.
    Array(Box<[Value]>),
    /// An object.
    Object(Map),
}

/// A JSON object: its entries in insertion order.
#[derive(Clone, Default)]
pub struct Map {
    entries: Box<[(Key, Value)]>,
}

const NULL: Value = Value::Null;

impl Map {
    /// An empty object.
    pub fn new() -> Self {
        Map {
            entries: Box::default(),
        }
    }

    /// Changes the entries as a vector, then puts them back into a slice of their length.
    fn edit<R>(&mut self, f: impl FnOnce(&mut Vec<(Key, Value)>) -> R) -> R {
        let mut entries = std::mem::take(&mut self.entries).into_vec();
        let out = f(&mut entries);
        self.entries = entries.into_boxed_slice();
        out
    }

    /// Adds an entry for a key it does not have, growing the slice by exactly one.
    fn push(&mut self, key: Key, value: Value) {
        self.edit(|entries| {
            entries.reserve_exact(1);
            entries.push((key, value));
        });
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == key)
    }

    /// Where `key` is, found by comparing pointers (keys are interned).
    fn position_of(&self, key: Key) -> Option<usize> {
        self.entries.iter().position(|(k, _)| *k == key)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find_map(|(k, v)| (k == key).then_some(v))
    }

    /// The value of `key`, to change it.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries
            .iter_mut()
            .find_map(|(k, v)| (k == key).then_some(v))
    }

    /// Whether the object has `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets `key` to `value`, returning the value it had; a new key goes last.
    pub fn insert(&mut self, key: Key, value: impl Into<Value>) -> Option<Value> {
        let value = value.into();
        match self.position_of(key).and_then(|i| self.entries.get_mut(i)) {
            Some((_, v)) => Some(std::mem::replace(v, value)),
            None => {
                self.push(key, value);
                None
            }
        }
    }

    /// Removes `key`, returning its value; the last entry takes its place, as
    /// `serde_json::Map::remove` does with `preserve_order`.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position(key)?;
        Some(self.edit(|entries| entries.swap_remove(i).1))
    }

    /// Removes `key`, keeping the order of the other entries.
    pub fn shift_remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position(key)?;
        Some(self.edit(|entries| entries.remove(i).1))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Key, &Value)> + ExactSizeIterator {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The entries, in order, with their values to change.
    pub fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = (&Key, &mut Value)> + ExactSizeIterator {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Key> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values, in order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The values, in order, to change.
    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut Value> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// Keeps the entries for which `f` is true.
    pub fn retain(&mut self, mut f: impl FnMut(&Key, &mut Value) -> bool) {
        // No copy: the vector takes the slice's allocation, and gives it back shrunk only
        // when an entry went.
        self.edit(|entries| entries.retain_mut(|(k, v)| f(k, v)));
    }

    /// Puts the entries in the order of their keys.
    pub fn sort_keys(&mut self) {
        self.entries.sort_by_key(|a| a.0);
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries = Box::default();
    }

    /// The value of `key`, inserting `f()` first when it has none.
    pub fn entry_or_insert_with(
        &mut self,
        key: impl Into<Key>,
        f: impl FnOnce() -> Value,
    ) -> &mut Value {
        let key = key.into();
        let i = match self.position_of(key) {
            Some(i) => i,
            None => {
                self.push(key, f());
                self.entries.len() - 1
            }
        };
        // `i` is in range: found, or the entry just pushed.
        &mut self.entries[i].1
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for Map {
    /// Equal when both have the same keys with equal values, in any order (the common case,
    /// the same order, is checked first without lookups).
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let same_order = self
            .entries
            .iter()
            .zip(&other.entries)
            .all(|((k1, v1), (k2, v2))| k1 == k2 && v1 == v2);
        same_order
            || self
                .iter()
                .all(|(k, v)| other.get(k).is_some_and(|o| o == v))
    }
}

impl Eq for Value {}
impl Eq for Map {}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => a == b,
            _ => false,
        }
    }
}

impl<K: Into<Key>, V: Into<Value>> FromIterator<(K, V)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = Map::new();
        map.extend(iter);
        map
    }
}

impl<K: Into<Key>, V: Into<Value>> Extend<(K, V)> for Map {
    /// Adds or replaces each entry (a repeated key keeps its first place and takes the last
    /// value, as `insert` does). The entries grow as a vector and are put back into a slice of
    /// their length once, at the end, not at every entry as `insert` would.
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        self.edit(|entries| {
            for (k, v) in iter {
                let (key, value) = (k.into(), v.into());
                match entries.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, v)) => *v = value,
                    None => entries.push((key, value)),
                }
            }
        });
    }
}

impl IntoIterator for Map {
    type Item = (Key, Value);
    type IntoIter = std::vec::IntoIter<(Key, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_vec().into_iter()
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a Key, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Key, Value)>,
        fn(&'a (Key, Value)) -> (&'a Key, &'a Value),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl std::ops::Index<&str> for Map {
    type Output = Value;
    /// The value of `key`, or `null` when it has none.
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl std::ops::Index<&str> for Value {
    type Output = Value;
    /// The value of `key` in an object; `null` when it is not one or has no such key.
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl std::ops::Index<usize> for Value {
    type Output = Value;
    /// Element `i` of an array; `null` when it is not one or is shorter.
    fn index(&self, i: usize) -> &Value {
        match self {
            Value::Array(a) => a.get(i).unwrap_or(&NULL),
            _ => &NULL,
        }
    }
}

impl std::ops::IndexMut<&str> for Value {
    /// The value of `key` in an object, inserted as `null` when missing; `null` becomes an
    /// empty object first. As `serde_json::Value`, it panics on any other value: use it only
    /// on documents whose shape the code itself built.
    fn index_mut(&mut self, key: &str) -> &mut Value {
        if self.is_null() {
            *self = Value::Object(Map::new());
        }
        match self {
            Value::Object(m) => m.entry_or_insert_with(key, || Value::Null),
            other => panic!("cannot index into a non-object JSON value with {key:?}: {other}"),
        }
    }
}

impl std::ops::IndexMut<usize> for Value {
    /// Element `i` of an array. As `serde_json::Value`, it panics when this is not an array
    /// or is shorter: use it only on documents whose shape the code itself built.
    fn index_mut(&mut self, i: usize) -> &mut Value {
        match self {
            Value::Array(a) => {
                let len = a.len();
                a.get_mut(i)
                    .unwrap_or_else(|| panic!("index {i} out of range for an array of {len}"))
            }
            other => panic!("cannot index into a non-array JSON value with {i}: {other}"),
        }
    }
}

impl Value {
    /// The value at a JSON Pointer (RFC 6901), such as `/Properties/Policy`.
    pub fn pointer(&self, pointer: &str) -> Option<&Value> {
        if pointer.is_empty() {
            return Some(self);
        }
        let rest = pointer.strip_prefix('/')?;
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .try_fold(self, |v, token| match v {
                Value::Object(m) => m.get(&token),
                Value::Array(a) => token.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            })
    }

    /// The value of `key` when this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|m| m.get(key))
    }

    /// The value of `key` when this is an object that has it, to change it.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.as_object_mut().and_then(|m| m.get_mut(key))
    }

    /// Whether it is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether it is an object.
    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    /// Whether it is an array.
    pub fn is_array(&self) -> bool {
        matches!(self, Value::Array(_))
    }

    /// Whether it is a string.
    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }

    /// The object, when it is one.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The object, when it is one, to change it.
    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The array, when it is one.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The array, when it is one, to change it.
    pub fn as_array_mut(&mut self) -> Option<&mut [Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The string, when it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, when it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number as a `u64`, when it is one that fits.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// The number as an `i64`, when it is one that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// The number as an `f64`, when it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    /// Takes the value out, leaving `null`.
    pub fn take(&mut self) -> Value {
        std::mem::take(self)
    }

    /// The same value as a `serde_json::Value`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::Value::Number(n.clone()),
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_json).collect()),
            Value::Object(m) => serde_json::Value::Object(m.to_json()),
        }
    }
}

impl Map {
    /// The same object as a `serde_json::Map`.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_json()))
            .collect()
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(n),
            serde_json::Value::String(s) => Value::String(s.into()),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(m) => Value::Object(m.into()),
        }
    }
}

impl From<&serde_json::Value> for Value {
    fn from(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(n.clone()),
            serde_json::Value::String(s) => Value::String(s.as_str().into()),
            serde_json::Value::Array(a) => Value::Array(a.iter().map(Value::from).collect()),
            serde_json::Value::Object(m) => Value::Object(m.into()),
        }
    }
}

impl From<serde_json::Map<String, serde_json::Value>> for Map {
    fn from(m: serde_json::Map<String, serde_json::Value>) -> Self {
        let entries = m
            .into_iter()
            .map(|(k, v)| (Key::new(&k), Value::from(v)))
            .collect();
        Map { entries }
    }
}

impl From<&serde_json::Map<String, serde_json::Value>> for Map {
    fn from(m: &serde_json::Map<String, serde_json::Value>) -> Self {
        let entries = m
            .iter()
            .map(|(k, v)| (Key::new(k), Value::from(v)))
            .collect();
        Map { entries }
    }
}

impl From<Value> for serde_json::Value {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(b),
            Value::Number(n) => serde_json::Value::Number(n),
            Value::String(s) => serde_json::Value::String(s.into_string()),
            Value::Array(a) => {
                serde_json::Value::Array(a.into_vec().into_iter().map(Into::into).collect())
            }
            Value::Object(m) => serde_json::Value::Object(
                m.into_iter()
                    .map(|(k, v)| (String::from(k), v.into()))
                    .collect(),
            ),
        }
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Object(m)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(a: Vec<T>) -> Self {
        Value::Array(a.into_iter().map(Into::into).collect())
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::String(s.as_str().into())
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Self {
        Value::Number((n as u64).into())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s.into())
    }
}

impl From<Str> for Value {
    fn from(s: Str) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Number(n.into())
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Number(n.into())
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Number(n.into())
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Self {
        Value::Number(n.into())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl<T: Into<Value>> FromIterator<T> for Value {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Value::Array(iter.into_iter().map(Into::into).collect())
    }
}

impl PartialEq<serde_json::Value> for Value {
    fn eq(&self, other: &serde_json::Value) -> bool {
        match (self, other) {
            (Value::Null, serde_json::Value::Null) => true,
            (Value::Bool(a), serde_json::Value::Bool(b)) => a == b,
            (Value::Number(a), serde_json::Value::Number(b)) => a == b,
            (Value::String(a), serde_json::Value::String(b)) => a == b,
            (Value::Array(a), serde_json::Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
            }
            (Value::Object(a), serde_json::Value::Object(b)) => a == b,
            _ => false,
        }
    }
}

impl PartialEq<Value> for serde_json::Value {
    fn eq(&self, other: &Value) -> bool {
        other == self
    }
}

impl PartialEq<serde_json::Map<String, serde_json::Value>> for Map {
    fn eq(&self, other: &serde_json::Map<String, serde_json::Value>) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .all(|(k, v)| other.get(k.as_str()).is_some_and(|o| v == o))
    }
}

impl PartialEq<Map> for serde_json::Map<String, serde_json::Value> {
    fn eq(&self, other: &Map) -> bool {
        other == self
    }
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<String> for Value {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == Some(other.as_str())
    }
}

impl PartialEq<bool> for Value {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}

impl fmt::Display for Value {
    /// Compact JSON, as `serde_json::Value` displays.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(n) => n.serialize(s),
            Value::String(v) => s.serialize_str(v),
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Object(m) => m.serialize(s),
        }
    }
}

impl Serialize for Map {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k.as_str(), v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for Map {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MapVisitor)
    }
}

/// Entries or elements read before they are moved, once, into an allocation of their exact
/// size: most objects and arrays of attributes have fewer than this many.
const INLINE: usize = 8;

/// Reads an object's entries; a repeated key keeps the last value, in the first one's place
/// (as `serde_json` does). Repeats are found by a linear search in a small object and through
/// an index in a large one, so that reading an object of n keys is never O(n²).
fn read_map<'de, A: MapAccess<'de>>(mut access: A) -> Result<Map, A::Error> {
    const INDEXED_FROM: usize = 32;
    let mut entries: SmallVec<[(Key, Value); INLINE]> = SmallVec::new();
    let mut index: Option<std::collections::HashMap<Key, usize>> = None;
    while let Some(key) = access.next_key::<Key>()? {
        let value: Value = access.next_value()?;
        let at = if entries.len() < INDEXED_FROM {
            entries.iter().position(|(k, _)| *k == key)
        } else {
            let index = index.get_or_insert_with(|| {
                entries
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (*k, i))
                    .collect()
            });
            let at = index.get(&key).copied();
            if at.is_none() {
                index.insert(key, entries.len());
            }
            at
        };
        match at.and_then(|i| entries.get_mut(i)) {
            Some((_, v)) => *v = value,
            None => entries.push((key, value)),
        }
    }
    Ok(Map {
        entries: exact(entries),
    })
}

/// The items in a slice of their exact size (one allocation when they were inline).
fn exact<T, const N: usize>(items: SmallVec<[T; N]>) -> Box<[T]>
where
    [T; N]: smallvec::Array<Item = T>,
{
    if items.spilled() {
        items.into_vec().into_boxed_slice()
    } else {
        // Not `collect`: it gives room for at least four items, to shrink again.
        let mut v = Vec::with_capacity(items.len());
        v.extend(items);
        v.into_boxed_slice()
    }
}

struct MapVisitor;

impl<'de> Visitor<'de> for MapVisitor {
    type Value = Map;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Map, A::Error> {
        read_map(access)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.into()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s.into()))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Deserialize::deserialize(d)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out: SmallVec<[Value; INLINE]> = SmallVec::new();
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(exact(out)))
    }

    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Value, A::Error> {
        read_map(access).map(Value::Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_24_bytes_and_an_entry_32() {
        assert_eq!(std::mem::size_of::<Value>(), 24);
        assert_eq!(std::mem::size_of::<(Key, Value)>(), 32);
    }

    #[test]
    fn insert_extend_retain_and_remove_keep_the_order() {
        let mut m: Map = [("a", 1u64), ("b", 2)].into_iter().collect();
        m.extend([("a", 3u64), ("c", 4)]);
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"a":3,"b":2,"c":4}"#);
        m.retain(|k, _| k != "b");
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"a":3,"c":4}"#);
        assert_eq!(m.shift_remove("a"), Some(Value::from(3u64)));
        m.clear();
        assert!(m.is_empty());
    }

    #[test]
    fn round_trips_the_same_json_in_the_same_order() {
        let text = r#"{"b":1,"a":[true,null,"x",-2,1.5,{"z":{},"y":[]}],"c":"a string longer than twenty-four bytes"}"#;
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), text);
        let j: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v, j);
        assert_eq!(j, v);
        assert_eq!(Value::from(j.clone()).to_json(), j);
        assert_eq!(serde_json::Value::from(v.clone()), j);
        assert_eq!(
            serde_json::to_string_pretty(&v).unwrap(),
            serde_json::to_string_pretty(&j).unwrap()
        );
    }

    #[test]
    fn objects_equal_in_any_order_and_differ_by_value() {
        let a = Value::from(serde_json::json!({"a": 1, "b": [1, 2]}));
        let b = Value::from(serde_json::json!({"b": [1, 2], "a": 1}));
        assert_eq!(a, b);
        assert_ne!(a, Value::from(serde_json::json!({"b": [2, 1], "a": 1})));
        assert_ne!(a, Value::from(serde_json::json!({"a": 1})));
        assert_ne!(a, Value::from(serde_json::json!({"a": 1, "c": [1, 2]})));
    }

    #[test]
    fn map_keeps_insertion_order_and_replaces_in_place() {
        let mut m = Map::new();
        m.insert("z".into(), 1u64);
        m.insert("a".into(), 2u64);
        assert_eq!(m.insert("z".into(), 3u64), Some(Value::from(1u64)));
        assert_eq!(m.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["z", "a"]);
        assert_eq!(m["z"], serde_json::json!(3));
        assert!(m["missing"].is_null());
        m.insert("m".into(), "x");
        assert_eq!(m.remove("z"), Some(Value::from(3u64)));
        assert_eq!(m.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["m", "a"]);
    }

    #[test]
    fn a_repeated_key_keeps_the_last_value_in_the_first_place() {
        let v: Value = serde_json::from_str(r#"{"a":1,"b":2,"a":3}"#).unwrap();
        let j: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":2,"a":3}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            serde_json::to_string(&j).unwrap()
        );
    }

    #[test]
    fn a_large_object_with_repeated_keys_reads_as_serde_json_does() {
        let mut text = String::from("{");
        for i in 0..100 {
            text.push_str(&format!("\"k{}\":{i},", i % 70));
        }
        text.push_str("\"last\":true}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let j: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v.as_object().map(Map::len), Some(71));
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            serde_json::to_string(&j).unwrap()
        );
    }

    #[test]
    fn pointer_and_index_follow_serde_json() {
        let mut v = Value::from(serde_json::json!({"a/b": [{"c": 1}], "d": null}));
        assert_eq!(v.pointer("/a~1b/0/c"), Some(&Value::from(1u64)));
        assert_eq!(v.pointer(""), Some(&v.clone()));
        assert_eq!(v.pointer("/a~1b/1"), None);
        assert_eq!(v.pointer("nope"), None);
        v["d"]["e"] = Value::from("set");
        v["a/b"][0]["c"] = Value::from(2u64);
        assert_eq!(v, serde_json::json!({"a/b": [{"c": 2}], "d": {"e": "set"}}));
        assert!(v["missing"][3].is_null());
    }

    #[test]
    fn map_from_a_value_that_is_not_an_object_is_an_error() {
        assert!(serde_json::from_str::<Map>("[1]").is_err());
        assert!(serde_json::from_str::<Map>("{\"a\":[1]}").is_ok());
    }
}
