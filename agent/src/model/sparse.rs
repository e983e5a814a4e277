//! [`Sparse<T>`]: a rarely-filled part of a sample that costs one pointer while it is zero.
//!
//! The stats cache holds ~120k `ContainerStats`; TCP/UDP tables, perf, resctrl, NUMA maps and the
//! like are zero for nearly every container, yet Go's JSON always prints them. `Sparse<T>` reads as
//! a `&T` (a shared zero value when unset), allocates on first mutable access, and serialises as
//! `T` — so the JSON is Go's and the memory is a pointer.

use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Types with a shared, immutable zero value that [`Sparse`] hands out while unset.
pub trait Zero: Default + Send + Sync + 'static {
    fn zero() -> &'static Self;
}

/// Implements [`Zero`] for concrete types via a lazily built static `Default`.
macro_rules! impl_zero {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::model::sparse::Zero for $t {
            fn zero() -> &'static Self {
                static ZERO: std::sync::OnceLock<$t> = std::sync::OnceLock::new();
                ZERO.get_or_init(Default::default)
            }
        }
    )*};
}
pub(crate) use impl_zero;

/// A boxed `T` that is absent (one null pointer) while zero. Derefs to `T`; see module docs.
pub struct Sparse<T>(Option<Box<T>>);

impl<T> Sparse<T> {
    /// The unset (zero) value.
    pub const fn none() -> Self {
        Sparse(None)
    }

    /// True when nothing was ever stored (it reads as zero).
    pub fn is_unset(&self) -> bool {
        self.0.is_none()
    }

    /// Drops any stored value, going back to one null pointer.
    pub fn clear(&mut self) {
        self.0 = None;
    }

    pub fn get(&self) -> Option<&T> {
        self.0.as_deref()
    }
}

impl<T: Zero> Sparse<T> {
    pub fn new(v: T) -> Self {
        Sparse(Some(Box::new(v)))
    }
}

impl<T: Zero + PartialEq> Sparse<T> {
    /// Stores `v`, or stays unset when `v` is the zero value (keeps the cache small).
    pub fn set(&mut self, v: T) {
        self.0 = if &v == T::zero() {
            None
        } else {
            Some(Box::new(v))
        };
    }
}

impl<T> Default for Sparse<T> {
    fn default() -> Self {
        Sparse(None)
    }
}

impl<T: Zero> Deref for Sparse<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_deref().unwrap_or_else(|| T::zero())
    }
}

impl<T: Zero> DerefMut for Sparse<T> {
    /// Allocates the zero value on first mutable access.
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(Default::default)
    }
}

impl<T: Clone> Clone for Sparse<T> {
    fn clone(&self) -> Self {
        Sparse(self.0.clone())
    }
}

impl<T: Zero + fmt::Debug> fmt::Debug for Sparse<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// Equality of the values read, so an unset `Sparse` equals a stored zero.
impl<T: Zero + PartialEq> PartialEq for Sparse<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Zero + Eq> Eq for Sparse<T> {}

impl<T: Zero + Serialize> Serialize for Sparse<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(v) => v.serialize(s),
            // The binary sample cache (`model::compact`) leaves a zero struct field out whatever
            // zero it is, so an unset field says "zero" as a unit instead of serialising every
            // field of `T`'s zero (~150 for `NetworkStats`) only for them to be dropped: the bytes
            // are the same, a few µs per sample less. Every `Sparse` is a struct field (a unit in
            // a sequence would not decode as `T`). Text formats (JSON) print the zero `T`.
            None if !s.is_human_readable() => s.serialize_unit(),
            None => T::zero().serialize(s),
        }
    }
}

impl<'de, T: Zero + PartialEq + Deserialize<'de>> Deserialize<'de> for Sparse<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut s: Sparse<T> = Sparse::none();
        s.set(T::deserialize(d)?);
        Ok(s)
    }
}

impl<T: Zero> From<T> for Sparse<T> {
    fn from(v: T) -> Self {
        Sparse::new(v)
    }
}

/// `omitempty` for collections, also through a [`Sparse`].
pub(crate) trait IsEmpty {
    fn is_empty_value(&self) -> bool;
}
impl<T> IsEmpty for Vec<T> {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}
impl<K, V> IsEmpty for std::collections::BTreeMap<K, V> {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}
impl IsEmpty for String {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}
impl<T: IsEmpty> IsEmpty for Sparse<T> {
    fn is_empty_value(&self) -> bool {
        self.get().is_none_or(IsEmpty::is_empty_value)
    }
}
impl<T: IsEmpty> IsEmpty for Option<T> {
    fn is_empty_value(&self) -> bool {
        self.as_ref().is_none_or(IsEmpty::is_empty_value)
    }
}

/// `skip_serializing_if` helper for Go `omitempty` on slices, maps and strings.
pub(crate) fn is_empty<T: IsEmpty>(v: &T) -> bool {
    v.is_empty_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
    struct Pair {
        a: u64,
        b: Vec<u64>,
    }
    impl_zero!(Pair);

    #[test]
    fn reads_zero_allocates_on_write_and_serialises_as_t() {
        let mut s: Sparse<Pair> = Sparse::default();
        assert!(s.is_unset());
        assert_eq!(s.a, 0);
        assert_eq!(
            serde_json::to_string(&s).expect("json"),
            r#"{"a":0,"b":[]}"#
        );
        s.a = 3;
        assert!(!s.is_unset());
        assert_eq!(
            serde_json::to_string(&s).expect("json"),
            r#"{"a":3,"b":[]}"#
        );
        s.set(Pair::default());
        assert!(s.is_unset());
        assert_eq!(s, Sparse::new(Pair::default()));
        let back: Sparse<Pair> = serde_json::from_str(r#"{"a":0,"b":[]}"#).expect("de");
        assert!(back.is_unset());
        assert_eq!(size_of::<Sparse<Pair>>(), 8);
    }
}
