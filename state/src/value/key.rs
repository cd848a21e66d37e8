//! Interned object keys: each distinct key's text is stored once for the whole process, and
//! a key is a thin pointer to it.
//!
//! An estate of 100,000 resources holds millions of object entries but only a few hundred
//! distinct keys (attribute names, policy grammar such as `Effect` and `Principal`, tag and
//! condition keys). A `CompactString` key is 24 bytes in every entry; an interned key is 8, so
//! an entry of an 8-byte key and a 24-byte [`Value`](super::Value) is 32 bytes instead of 48.
//! Two keys are equal when they point to the same text, so comparing keys while diffing is a
//! pointer comparison.
//!
//! The text of a key is kept until the process ends (it is never freed); what grows the table
//! is the number of distinct keys, not of entries. Interning takes a thread-local cache first
//! and a process-wide table under a lock only for a key that thread has not seen.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::{LazyLock, Mutex, PoisonError};

use serde::de::{Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};

/// An interned object key (see the module's documentation). It reads as the `str` it holds.
#[derive(Clone, Copy)]
pub struct Key(&'static &'static str);

/// Every key interned so far, by its text.
static TABLE: LazyLock<Mutex<HashMap<&'static str, Key>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

thread_local! {
    /// The keys this thread has interned or looked up, so that most lookups take no lock.
    static LOCAL: RefCell<HashMap<&'static str, Key>> = RefCell::new(HashMap::new());
}

impl Key {
    /// The key whose text is `text`, interning it when it is new.
    pub fn new(text: &str) -> Key {
        LOCAL.with(|local| {
            if let Some(key) = local.borrow().get(text) {
                return *key;
            }
            let key = Key::shared(text);
            local.borrow_mut().insert(key.as_str(), key);
            key
        })
    }

    /// The key from the process-wide table, added to it when it is new.
    fn shared(text: &str) -> Key {
        // A panic while the lock was held cannot leave the table half-changed (an insert is
        // its only change), so a poisoned lock is still a good table.
        let mut table = TABLE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(key) = table.get(text) {
            return *key;
        }
        let text: &'static str = Box::leak(text.to_owned().into_boxed_str());
        let key = Key(Box::leak(Box::new(text)));
        table.insert(text, key);
        key
    }

    /// The key's text.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl Deref for Key {
    type Target = str;
    fn deref(&self) -> &str {
        self.0
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        self.0
    }
}

impl PartialEq for Key {
    /// The same key: interning gives equal texts the same place.
    fn eq(&self, other: &Key) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for Key {}

impl Hash for Key {
    /// Hashes the text, as `str` does, so that a map keyed by `Key` can be searched by `&str`.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    /// By text.
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Key {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Key {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Key> for str {
    fn eq(&self, other: &Key) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Key> for &str {
    fn eq(&self, other: &Key) -> bool {
        *self == other.as_str()
    }
}

impl fmt::Display for Key {
    /// As `str` displays: width, fill and alignment apply (renderings align names with them).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&str> for Key {
    fn from(text: &str) -> Key {
        Key::new(text)
    }
}

impl From<&String> for Key {
    fn from(text: &String) -> Key {
        Key::new(text)
    }
}

impl From<String> for Key {
    fn from(text: String) -> Key {
        Key::new(&text)
    }
}

impl From<&Key> for Key {
    fn from(key: &Key) -> Key {
        *key
    }
}

impl From<compact_str::CompactString> for Key {
    fn from(text: compact_str::CompactString) -> Key {
        Key::new(&text)
    }
}

impl From<&compact_str::CompactString> for Key {
    fn from(text: &compact_str::CompactString) -> Key {
        Key::new(text)
    }
}

impl From<Key> for String {
    fn from(key: Key) -> String {
        key.as_str().to_owned()
    }
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E>(self, text: &str) -> Result<Key, E> {
        Ok(Key::new(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_are_the_same_key_on_every_thread() {
        let a = Key::new("RoleName");
        let b = Key::from(String::from("RoleName"));
        assert_eq!(a, b);
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        let c = std::thread::spawn(|| Key::new("RoleName")).join().unwrap();
        assert_eq!(a, c);
        assert_ne!(a, Key::new("RoleArn"));
        assert_eq!(a, "RoleName");
        assert_eq!(a.len(), 8);
        assert_eq!(format!("[{a:>10}]"), "[  RoleName]");
        assert_eq!(std::mem::size_of::<Key>(), 8);
    }

    #[test]
    fn orders_and_hashes_as_its_text() {
        let mut keys = [Key::new("b"), Key::new("a"), Key::new("c")];
        keys.sort();
        assert_eq!(keys.map(|k| k.as_str()), ["a", "b", "c"]);
        let set: std::collections::HashSet<Key> = keys.into_iter().collect();
        assert!(set.contains("b"));
    }

    #[test]
    fn reads_and_writes_as_a_json_string() {
        let key: Key = serde_json::from_str(r#""a \"quoted\" key""#).unwrap();
        assert_eq!(key, "a \"quoted\" key");
        assert_eq!(
            serde_json::to_string(&key).unwrap(),
            r#""a \"quoted\" key""#
        );
    }
}
