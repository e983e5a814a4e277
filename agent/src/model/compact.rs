//! A compact binary serde format for keeping older stats samples in memory.
//!
//! **In memory only.** Struct fields are stored by *position* (the order serde visits them), not
//! by name, so bytes must be decoded as the very type that encoded them, by the same build. Never
//! persist or send them.
//!
//! Use: `encode(&*sample, &mut bytes)` once when a sample stops being the newest, and
//! `decode::<ContainerStats>(&bytes)` when history is asked for. `bytes` can be one `Vec<u8>` per
//! sample or one shared buffer with offsets (values are self-delimiting only given their type).
//!
//! Layout (every value starts with a byte other than `1`, which only marks `Some`; this lets a
//! `Go null` decoder such as `Option<Vec<T>>` read a value that was written as a plain `Vec<T>`):
//! - unsigned integers: LEB128 varint; signed: zigzag varint; `f64`/`f32`: little-endian bits.
//! - strings: varint header `h`; `h & 3 == 0`: `h >> 2` bytes of text follow (`0` = empty);
//!   `h & 3 == 1`: a back-reference to an earlier string of this value or to [`DICTIONARY`];
//!   `h == 2`: Go's zero time; `h == 3`: a zigzag varint of Unix nanoseconds. Strings that are
//!   exactly what [`Timestamp`] prints are stored as times (9 bytes instead of ~30) and come back
//!   byte-identical. [`Timestamp`] itself is not a string here: it serialises its nanoseconds as
//!   an `i64` to formats that are not human-readable, as this one.
//! - seqs and maps: varint `len << 1` then the items. A map serialised without a length is taken
//!   to be a struct with serde's `flatten` (the only such map in the model): it has
//!   `len << 1 | 1`, leaves out entries whose value is zero (they decode as the struct's
//!   `Default`), and every key and value carries a type tag so that serde's buffering of
//!   flattened fields (`deserialize_any`) works for scalar fields.
//! - map keys that are integers or bools are written as their decimal text (as JSON does), so a
//!   map serialised with string keys decodes into integer keys and vice versa.
//! - structs: for each field that is not zero, `gap + 1` (gap = field position minus the previous
//!   written position, so one byte) then the value; a `0` byte ends the struct. Zero values
//!   (0, false, "", empty seq/map, `None`, a struct whose fields are all zero) are left out and
//!   decoded as zero (not as the struct's `Default`, which may differ), so a cached sample that is
//!   mostly zeros costs a few bytes.
//! - `Option`: `0` = `None`, `1` then the value = `Some`. Enums: varint variant index then content.
//!
//! Limits (none of them met by the model types; the round-trip tests would catch one): no
//! `#[serde(alias)]` (aliases shift field positions), `skip_serializing_if` may only skip zero
//! values, a flattened struct may only hold scalar fields and must default to zeros, a real map
//! must be serialised with its length (serde's maps are), and a seq may not be longer than the
//! rest of the input (so `Vec<()>` is unsupported).

use std::fmt::{self, Write as _};

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};

use super::json::Timestamp;

/// Appends the compact encoding of `v` to `out`.
///
/// Cannot fail for the model types. Should a `Serialize` impl report an error, `out` is left as
/// it was, so decoding the (missing) value later returns an error instead of wrong data.
pub fn encode<T: Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) {
    let start = out.len();
    if try_encode(v, out).is_err() {
        out.truncate(start);
    }
}

/// [`encode`], reporting a `Serialize` impl's error.
pub fn try_encode<T: Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) -> Result<(), CompactError> {
    let mut enc = Encoder {
        out,
        strings: Vec::new(),
    };
    v.serialize(ValueSer {
        enc: &mut enc,
        mode: Mode::PLAIN,
    })?;
    Ok(())
}

/// Decodes a value written by [`encode`] for the same type `T`. Bad input gives an error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CompactError> {
    let mut dec = Decoder {
        input: bytes,
        pos: 0,
        strings: Vec::new(),
    };
    let v = T::deserialize(ValueDe {
        dec: &mut dec,
        mode: Mode::PLAIN,
    })?;
    if dec.pos != bytes.len() {
        return Err(CompactError::Trailing(bytes.len() - dec.pos));
    }
    Ok(v)
}

#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error("decode compact value: input ends early")]
    Eof,
    #[error("decode compact value: {0} bytes left over")]
    Trailing(usize),
    #[error("decode compact value at byte {at}: {what}")]
    Invalid { at: usize, what: &'static str },
    /// An error raised by a `Serialize`/`Deserialize` impl.
    #[error("compact value: {0}")]
    Custom(String),
}

impl ser::Error for CompactError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        CompactError::Custom(msg.to_string())
    }
}

impl de::Error for CompactError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        CompactError::Custom(msg.to_string())
    }
}

/// Strings common in samples, stored as a one-byte reference. Any text may be added or
/// reordered (the format is in-memory only); other strings are simply written out.
pub const DICTIONARY: &[&str] = &[
    // StatMap keys (blkio / io.stat operations).
    "Async",
    "Count",
    "Discard",
    "Read",
    "Sync",
    "Total",
    "Write",
    // NetworkStats: flattened `InterfaceStats` fields and the other keys of its map.
    "name",
    "rx_bytes",
    "rx_packets",
    "rx_errors",
    "rx_dropped",
    "tx_bytes",
    "tx_packets",
    "tx_errors",
    "tx_dropped",
    "interfaces",
    "tcp",
    "tcp6",
    "udp",
    "udp6",
    "tcp_advanced",
    // Frequent values.
    "eth0",
    "healthy",
    "unhealthy",
    "starting",
    "2MB",
    "1GB",
    "max_open_files",
];

/// Strings of this length range are remembered for back-references within one value.
const MIN_SHARED: usize = 2;
const MAX_SHARED: usize = 64;
/// At most this many remembered strings per value (bounds the linear lookup).
const MAX_TABLE: usize = 64;

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Type tags, used only for the keys and values of a map written without a length.
mod tag {
    pub const NONE: u8 = 0;
    pub const SOME: u8 = 1;
    pub const UNIT: u8 = 2;
    pub const FALSE: u8 = 3;
    pub const TRUE: u8 = 4;
    pub const UINT: u8 = 5;
    pub const SINT: u8 = 6;
    pub const F64: u8 = 7;
    pub const F32: u8 = 8;
    pub const STR: u8 = 9;
    pub const BYTES: u8 = 10;
    pub const CHAR: u8 = 11;
    /// Seq, map, struct, tuple or enum in the untagged layout.
    pub const COMPOUND: u8 = 12;
}

/// How the value at hand is written: with a type tag, and/or as a map key (numbers as text).
#[derive(Clone, Copy)]
struct Mode {
    tagged: bool,
    key: bool,
}

impl Mode {
    const PLAIN: Mode = Mode {
        tagged: false,
        key: false,
    };
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A fixed buffer for short formatted text (times, numbers as keys) without allocating.
struct StackStr {
    buf: [u8; 64],
    len: usize,
}

impl StackStr {
    fn new() -> Self {
        StackStr {
            buf: [0; 64],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only whole `&str`s are copied in, so this cannot fail; fall back to "" regardless.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for StackStr {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Checks that formatted output equals `rest` exactly, without allocating.
struct SameText<'a> {
    rest: &'a [u8],
}

impl fmt::Write for SameText<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        match self.rest.strip_prefix(s.as_bytes()) {
            Some(r) => {
                self.rest = r;
                Ok(())
            }
            None => Err(fmt::Error),
        }
    }
}

/// `s` as a timestamp if it is exactly how [`Timestamp`] prints one (so it round-trips).
fn as_timestamp(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if !(20..=30).contains(&b.len()) || b[4] != b'-' || b[10] != b'T' || b[b.len() - 1] != b'Z' {
        return None;
    }
    let t = Timestamp::parse_rfc3339(s).ok()?;
    let mut same = SameText { rest: b };
    (write!(same, "{t}").is_ok() && same.rest.is_empty()).then_some(t)
}

// ---------------------------------------------------------------------------------------------
// Encoding

struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    /// (offset, len) in `out` of strings written out in full, for back-references.
    strings: Vec<(usize, usize)>,
}

impl Encoder<'_> {
    fn varint(&mut self, v: u64) {
        put_varint(self.out, v);
    }

    /// Drops everything from `mark` on (a zero field), with any strings remembered there.
    fn truncate(&mut self, mark: usize) {
        self.out.truncate(mark);
        while self.strings.last().is_some_and(|&(off, _)| off >= mark) {
            self.strings.pop();
        }
    }

    /// Inserts a varint at `mark` (for seqs and maps serialised without a length).
    fn insert_varint(&mut self, mark: usize, v: u64) {
        let mut tmp = Vec::with_capacity(10);
        put_varint(&mut tmp, v);
        let n = tmp.len();
        self.out.splice(mark..mark, tmp);
        // Remembered strings after `mark` moved with the text.
        for s in self.strings.iter_mut().filter(|s| s.0 >= mark) {
            s.0 += n;
        }
    }

    fn str(&mut self, s: &str) {
        if s.is_empty() {
            self.out.push(0);
            return;
        }
        if let Some(t) = as_timestamp(s) {
            if t.is_zero() {
                self.out.push(2);
            } else {
                self.out.push(3);
                self.varint(zigzag(t.as_unix_nanos()));
            }
            return;
        }
        if let Some(i) = DICTIONARY.iter().position(|d| *d == s) {
            self.varint(((i as u64 + 1) << 2) | 1);
            return;
        }
        let shareable = (MIN_SHARED..=MAX_SHARED).contains(&s.len());
        if shareable {
            let found = self.strings.iter().position(|&(off, len)| {
                len == s.len() && &self.out[off..off + len] == s.as_bytes()
            });
            if let Some(i) = found {
                self.varint((((DICTIONARY.len() + i) as u64 + 1) << 2) | 1);
                return;
            }
        }
        self.varint((s.len() as u64) << 2);
        if shareable && self.strings.len() < MAX_TABLE {
            self.strings.push((self.out.len(), s.len()));
        }
        self.out.extend_from_slice(s.as_bytes());
    }
}

/// Serialises one value. `Ok(true)` means the value was zero (so a struct field can be dropped).
struct ValueSer<'e, 'a> {
    enc: &'e mut Encoder<'a>,
    mode: Mode,
}

impl<'e, 'a> ValueSer<'e, 'a> {
    fn tag(&mut self, t: u8) {
        if self.mode.tagged {
            self.enc.out.push(t);
        }
    }

    fn uint(mut self, v: u64) -> Result<bool, CompactError> {
        if self.mode.key {
            return self.key_text(format_args!("{v}"));
        }
        self.tag(tag::UINT);
        self.enc.varint(v);
        Ok(v == 0)
    }

    fn sint(mut self, v: i64) -> Result<bool, CompactError> {
        if self.mode.key {
            return self.key_text(format_args!("{v}"));
        }
        self.tag(tag::SINT);
        self.enc.varint(zigzag(v));
        Ok(v == 0)
    }

    /// Map keys that are not strings are written as text, as JSON does.
    fn key_text(mut self, args: fmt::Arguments<'_>) -> Result<bool, CompactError> {
        let mut buf = StackStr::new();
        buf.write_fmt(args)
            .map_err(|_| CompactError::Custom("map key too long".into()))?;
        self.tag(tag::STR);
        self.enc.str(buf.as_str());
        Ok(false)
    }

    fn compound(mut self) -> Compound<'e, 'a> {
        self.tag(tag::COMPOUND);
        Compound {
            enc: self.enc,
            count: 0,
            last: -1,
            all_zero: true,
            expected: None,
            mark: None,
            tagged_entries: false,
            entry_mark: 0,
        }
    }
}

impl<'e, 'a> ser::Serializer for ValueSer<'e, 'a> {
    type Ok = bool;
    type Error = CompactError;
    type SerializeSeq = Compound<'e, 'a>;
    type SerializeTuple = Compound<'e, 'a>;
    type SerializeTupleStruct = Compound<'e, 'a>;
    type SerializeTupleVariant = Compound<'e, 'a>;
    type SerializeMap = Compound<'e, 'a>;
    type SerializeStruct = Compound<'e, 'a>;
    type SerializeStructVariant = Compound<'e, 'a>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<bool, CompactError> {
        if self.mode.key {
            return self.key_text(format_args!("{v}"));
        }
        if self.mode.tagged {
            self.enc.out.push(if v { tag::TRUE } else { tag::FALSE });
        } else {
            self.enc.out.push(u8::from(v));
        }
        Ok(!v)
    }
    fn serialize_i8(self, v: i8) -> Result<bool, CompactError> {
        self.sint(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<bool, CompactError> {
        self.sint(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<bool, CompactError> {
        self.sint(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<bool, CompactError> {
        self.sint(v)
    }
    fn serialize_u8(self, v: u8) -> Result<bool, CompactError> {
        self.uint(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<bool, CompactError> {
        self.uint(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<bool, CompactError> {
        self.uint(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<bool, CompactError> {
        self.uint(v)
    }
    fn serialize_f32(mut self, v: f32) -> Result<bool, CompactError> {
        self.tag(tag::F32);
        self.enc.out.extend_from_slice(&v.to_bits().to_le_bytes());
        Ok(v.to_bits() == 0)
    }
    fn serialize_f64(mut self, v: f64) -> Result<bool, CompactError> {
        self.tag(tag::F64);
        self.enc.out.extend_from_slice(&v.to_bits().to_le_bytes());
        Ok(v.to_bits() == 0)
    }
    fn serialize_char(mut self, v: char) -> Result<bool, CompactError> {
        if self.mode.key {
            return self.key_text(format_args!("{v}"));
        }
        self.tag(tag::CHAR);
        self.enc.varint(v.into());
        Ok(false)
    }
    fn serialize_str(mut self, v: &str) -> Result<bool, CompactError> {
        self.tag(tag::STR);
        self.enc.str(v);
        Ok(v.is_empty() && !self.mode.key)
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, v: &T) -> Result<bool, CompactError> {
        // Timestamps come here; format on the stack rather than into a fresh String.
        let mut buf = StackStr::new();
        if write!(buf, "{v}").is_ok() {
            self.serialize_str(buf.as_str())
        } else {
            self.serialize_str(&v.to_string())
        }
    }
    fn serialize_bytes(mut self, v: &[u8]) -> Result<bool, CompactError> {
        self.tag(tag::BYTES);
        self.enc.varint((v.len() as u64) << 1);
        self.enc.out.extend_from_slice(v);
        Ok(v.is_empty())
    }
    fn serialize_none(self) -> Result<bool, CompactError> {
        self.enc.out.push(tag::NONE);
        Ok(true)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<bool, CompactError> {
        self.enc.out.push(tag::SOME);
        v.serialize(self)?;
        Ok(false)
    }
    fn serialize_unit(mut self) -> Result<bool, CompactError> {
        self.tag(tag::UNIT);
        Ok(true)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<bool, CompactError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
    ) -> Result<bool, CompactError> {
        let c = self.compound();
        c.enc.varint(index.into());
        Ok(false)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<bool, CompactError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        v: &T,
    ) -> Result<bool, CompactError> {
        let c = self.compound();
        c.enc.varint(index.into());
        v.serialize(ValueSer {
            enc: c.enc,
            mode: Mode::PLAIN,
        })?;
        Ok(false)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'e, 'a>, CompactError> {
        let mut c = self.compound();
        match len {
            Some(n) => {
                c.enc.varint((n as u64) << 1);
                c.expected = Some(n as i64);
            }
            None => c.mark = Some(c.enc.out.len()),
        }
        Ok(c)
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'e, 'a>, CompactError> {
        Ok(self.compound())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Compound<'e, 'a>, CompactError> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'e, 'a>, CompactError> {
        let c = self.compound();
        c.enc.varint(index.into());
        Ok(c)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'e, 'a>, CompactError> {
        let mut c = self.compound();
        match len {
            Some(n) => {
                c.enc.varint((n as u64) << 1);
                c.expected = Some(n as i64);
            }
            None => {
                c.mark = Some(c.enc.out.len());
                c.tagged_entries = true;
            }
        }
        Ok(c)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'e, 'a>, CompactError> {
        Ok(self.compound())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'e, 'a>, CompactError> {
        let c = self.compound();
        c.enc.varint(index.into());
        Ok(c)
    }
}

/// State of a seq, tuple, map or struct being written.
struct Compound<'e, 'a> {
    enc: &'e mut Encoder<'a>,
    /// Items (or struct fields, skipped ones included) seen so far.
    count: i64,
    /// Struct: position of the last field written (-1 = none).
    last: i64,
    all_zero: bool,
    /// Seq/map with a length: the promised length, checked at the end.
    expected: Option<i64>,
    /// Seq/map without a length: where to insert it.
    mark: Option<usize>,
    tagged_entries: bool,
    /// Map: where the current entry starts.
    entry_mark: usize,
}

impl Compound<'_, '_> {
    fn item<T: Serialize + ?Sized>(&mut self, v: &T, mode: Mode) -> Result<(), CompactError> {
        let zero = v.serialize(ValueSer {
            enc: self.enc,
            mode,
        })?;
        self.all_zero &= zero;
        Ok(())
    }

    /// Ends a seq or map: writes or checks the length.
    fn end_counted(self, is_map: bool) -> Result<bool, CompactError> {
        let n = self.count as u64;
        match self.mark {
            Some(mark) => {
                let header = match (n, is_map) {
                    (0, _) => 0,
                    (_, true) => (n << 1) | 1,
                    (_, false) => n << 1,
                };
                self.enc.insert_varint(mark, header);
            }
            None if self.expected != Some(self.count) => {
                return Err(CompactError::Custom(
                    "seq or map length differs from its size hint".into(),
                ));
            }
            None => {}
        }
        Ok(n == 0)
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = bool;
    type Error = CompactError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CompactError> {
        self.count += 1;
        self.item(v, Mode::PLAIN)
    }
    fn end(self) -> Result<bool, CompactError> {
        self.end_counted(false)
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = bool;
    type Error = CompactError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CompactError> {
        self.item(v, Mode::PLAIN)
    }
    fn end(self) -> Result<bool, CompactError> {
        Ok(self.all_zero)
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = bool;
    type Error = CompactError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CompactError> {
        self.item(v, Mode::PLAIN)
    }
    fn end(self) -> Result<bool, CompactError> {
        Ok(self.all_zero)
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = bool;
    type Error = CompactError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CompactError> {
        self.item(v, Mode::PLAIN)
    }
    fn end(self) -> Result<bool, CompactError> {
        Ok(false)
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = bool;
    type Error = CompactError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), CompactError> {
        self.count += 1;
        self.entry_mark = self.enc.out.len();
        let mode = Mode {
            tagged: self.tagged_entries,
            key: true,
        };
        self.item(k, mode)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CompactError> {
        let mode = Mode {
            tagged: self.tagged_entries,
            key: false,
        };
        let zero = v.serialize(ValueSer {
            enc: self.enc,
            mode,
        })?;
        if zero && self.tagged_entries {
            // A map without a length is a flattened struct: drop zero fields like a struct does.
            self.enc.truncate(self.entry_mark);
            self.count -= 1;
        }
        Ok(())
    }
    fn end(self) -> Result<bool, CompactError> {
        self.end_counted(true)
    }
}

impl Compound<'_, '_> {
    fn field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CompactError> {
        let idx = self.count;
        self.count += 1;
        let mark = self.enc.out.len();
        // gap >= 1, so the key byte is >= 2: never `0` (end) nor `1` (`Some`).
        self.enc.varint((idx - self.last + 1) as u64);
        let zero = v.serialize(ValueSer {
            enc: self.enc,
            mode: Mode::PLAIN,
        })?;
        if zero {
            self.enc.truncate(mark);
        } else {
            self.last = idx;
        }
        Ok(())
    }

    fn end_struct(self) -> bool {
        self.enc.out.push(0);
        self.last < 0
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = bool;
    type Error = CompactError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        v: &T,
    ) -> Result<(), CompactError> {
        self.field(v)
    }
    fn skip_field(&mut self, _: &'static str) -> Result<(), CompactError> {
        // Keeps positions aligned with the deserializer's field list.
        self.count += 1;
        Ok(())
    }
    fn end(self) -> Result<bool, CompactError> {
        Ok(self.end_struct())
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = bool;
    type Error = CompactError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        v: &T,
    ) -> Result<(), CompactError> {
        self.field(v)
    }
    fn skip_field(&mut self, _: &'static str) -> Result<(), CompactError> {
        self.count += 1;
        Ok(())
    }
    fn end(self) -> Result<bool, CompactError> {
        self.end_struct();
        Ok(false)
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

struct Decoder<'de> {
    input: &'de [u8],
    pos: usize,
    /// (offset, len) in `input` of strings read in full, mirroring the encoder's table.
    strings: Vec<(usize, usize)>,
}

impl<'de> Decoder<'de> {
    fn invalid(&self, what: &'static str) -> CompactError {
        CompactError::Invalid { at: self.pos, what }
    }

    fn peek(&self) -> Result<u8, CompactError> {
        self.input.get(self.pos).copied().ok_or(CompactError::Eof)
    }

    fn byte(&mut self) -> Result<u8, CompactError> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'de [u8], CompactError> {
        let input = self.input;
        let end = self.pos.checked_add(n).ok_or(CompactError::Eof)?;
        let s = input.get(self.pos..end).ok_or(CompactError::Eof)?;
        self.pos = end;
        Ok(s)
    }

    fn varint(&mut self) -> Result<u64, CompactError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(self.invalid("varint overflows 64 bits"));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.invalid("varint longer than 10 bytes"))
    }

    /// A seq/map length, which cannot exceed the bytes left (each item takes at least one).
    fn len(&mut self, header: u64) -> Result<usize, CompactError> {
        let n = usize::try_from(header >> 1).map_err(|_| self.invalid("length too large"))?;
        if n > self.input.len() - self.pos {
            return Err(self.invalid("length exceeds input"));
        }
        Ok(n)
    }

    fn expect_tag(&mut self, mode: Mode, want: u8) -> Result<(), CompactError> {
        if mode.tagged && self.byte()? != want {
            return Err(self.invalid("unexpected type tag"));
        }
        Ok(())
    }

    fn str<V: Visitor<'de>>(&mut self, v: V) -> Result<V::Value, CompactError> {
        let h = self.varint()?;
        match h & 3 {
            0 => {
                let len = usize::try_from(h >> 2).map_err(|_| self.invalid("length too large"))?;
                let at = self.pos;
                let bytes = self.take(len)?;
                let s = std::str::from_utf8(bytes).map_err(|_| self.invalid("invalid UTF-8"))?;
                if (MIN_SHARED..=MAX_SHARED).contains(&len) && self.strings.len() < MAX_TABLE {
                    self.strings.push((at, len));
                }
                v.visit_borrowed_str(s)
            }
            1 => {
                let i = usize::try_from((h >> 2).saturating_sub(1))
                    .map_err(|_| self.invalid("bad string reference"))?;
                if let Some(d) = DICTIONARY.get(i) {
                    return v.visit_borrowed_str(d);
                }
                let &(off, len) = i
                    .checked_sub(DICTIONARY.len())
                    .and_then(|j| self.strings.get(j))
                    .ok_or_else(|| self.invalid("bad string reference"))?;
                let input = self.input;
                let s = input
                    .get(off..off + len)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .ok_or_else(|| self.invalid("bad string reference"))?;
                v.visit_borrowed_str(s)
            }
            _ if h == 2 => v.visit_borrowed_str(ZERO_TIME),
            _ if h == 3 => {
                let t = Timestamp::from_unix_nanos(unzigzag(self.varint()?));
                let mut buf = StackStr::new();
                write!(buf, "{t}").map_err(|_| self.invalid("bad time"))?;
                v.visit_str(buf.as_str())
            }
            _ => Err(self.invalid("bad string header")),
        }
    }

    /// A map key written as text, read back as a number or bool.
    fn key_text(&mut self, mode: Mode) -> Result<String, CompactError> {
        self.expect_tag(mode, tag::STR)?;
        self.str(StringVisitor)
    }
}

struct StringVisitor;

impl Visitor<'_> for StringVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
}

/// Deserialises one value; `mode` says whether it carries a type tag or is a map key.
struct ValueDe<'d, 'de> {
    dec: &'d mut Decoder<'de>,
    mode: Mode,
}

impl<'d, 'de> ValueDe<'d, 'de> {
    fn compound(&mut self) -> Result<(), CompactError> {
        self.dec.expect_tag(self.mode, tag::COMPOUND)
    }

    fn uint<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        if self.mode.key {
            let s = self.dec.key_text(self.mode)?;
            return match s.parse::<u64>() {
                Ok(n) => v.visit_u64(n),
                Err(_) => Err(self.dec.invalid("map key is not a number")),
            };
        }
        if self.mode.tagged {
            return self.any(v);
        }
        v.visit_u64(self.dec.varint()?)
    }

    fn sint<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        if self.mode.key {
            let s = self.dec.key_text(self.mode)?;
            return match s.parse::<i64>() {
                Ok(n) => v.visit_i64(n),
                Err(_) => Err(self.dec.invalid("map key is not a number")),
            };
        }
        if self.mode.tagged {
            return self.any(v);
        }
        v.visit_i64(unzigzag(self.dec.varint()?))
    }

    /// Only tagged values describe themselves.
    fn any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        if !self.mode.tagged {
            return Err(self.dec.invalid("value has no type tag"));
        }
        let dec = self.dec;
        match dec.byte()? {
            tag::NONE => v.visit_none(),
            tag::SOME => v.visit_some(ValueDe {
                dec,
                mode: self.mode,
            }),
            tag::UNIT => v.visit_unit(),
            tag::FALSE => v.visit_bool(false),
            tag::TRUE => v.visit_bool(true),
            tag::UINT => v.visit_u64(dec.varint()?),
            tag::SINT => v.visit_i64(unzigzag(dec.varint()?)),
            tag::F64 => v.visit_f64(f64_from(dec.take(8)?)),
            tag::F32 => v.visit_f32(f32_from(dec.take(4)?)),
            tag::STR => dec.str(v),
            tag::BYTES => {
                let h = dec.varint()?;
                let n = dec.len(h)?;
                v.visit_borrowed_bytes(dec.take(n)?)
            }
            tag::CHAR => v.visit_char(read_char(dec)?),
            _ => Err(dec.invalid("value needs its type (a compound in a flattened struct?)")),
        }
    }
}

fn f64_from(b: &[u8]) -> f64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    f64::from_bits(u64::from_le_bytes(a))
}

fn f32_from(b: &[u8]) -> f32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    f32::from_bits(u32::from_le_bytes(a))
}

fn read_char(dec: &mut Decoder<'_>) -> Result<char, CompactError> {
    let n = dec.varint()?;
    u32::try_from(n)
        .ok()
        .and_then(char::from_u32)
        .ok_or_else(|| dec.invalid("invalid char"))
}

macro_rules! uints {
    ($($m:ident)*) => {$(
        fn $m<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
            self.uint(v)
        }
    )*};
}
macro_rules! sints {
    ($($m:ident)*) => {$(
        fn $m<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
            self.sint(v)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ValueDe<'_, 'de> {
    type Error = CompactError;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        if self.mode.key && !self.mode.tagged {
            return self.deserialize_str(v);
        }
        self.any(v)
    }

    uints!(deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64);
    sints!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64);

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        if self.mode.key {
            return match self.dec.key_text(self.mode)?.as_str() {
                "true" => v.visit_bool(true),
                "false" => v.visit_bool(false),
                _ => Err(self.dec.invalid("map key is not a bool")),
            };
        }
        if self.mode.tagged {
            return self.any(v);
        }
        match self.dec.byte()? {
            0 => v.visit_bool(false),
            1 => v.visit_bool(true),
            _ => Err(self.dec.invalid("invalid bool")),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        if self.mode.tagged {
            return self.any(v);
        }
        v.visit_f32(f32_from(self.dec.take(4)?))
    }

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        if self.mode.tagged {
            return self.any(v);
        }
        v.visit_f64(f64_from(self.dec.take(8)?))
    }

    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        if self.mode.key {
            let s = self.dec.key_text(self.mode)?;
            let mut it = s.chars();
            return match (it.next(), it.next()) {
                (Some(c), None) => v.visit_char(c),
                _ => Err(self.dec.invalid("map key is not one char")),
            };
        }
        if self.mode.tagged {
            return self.any(v);
        }
        v.visit_char(read_char(self.dec)?)
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        if self.mode.tagged {
            return self.any(v);
        }
        self.dec.str(v)
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        self.deserialize_str(v)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        if self.mode.tagged {
            return self.any(v);
        }
        let h = self.dec.varint()?;
        let n = self.dec.len(h)?;
        v.visit_borrowed_bytes(self.dec.take(n)?)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        self.deserialize_bytes(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        match self.dec.peek()? {
            tag::NONE => {
                self.dec.pos += 1;
                v.visit_none()
            }
            tag::SOME => {
                self.dec.pos += 1;
                v.visit_some(self)
            }
            // Written as a plain value, read through `Option` (Go's null-or-value decoders).
            _ => v.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        self.dec.expect_tag(self.mode, tag::UNIT)?;
        v.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, CompactError> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, CompactError> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(mut self, v: V) -> Result<V::Value, CompactError> {
        self.compound()?;
        let h = self.dec.varint()?;
        if h & 1 != 0 {
            return Err(self.dec.invalid("map where a seq was expected"));
        }
        let n = self.dec.len(h)?;
        v.visit_seq(Items {
            dec: self.dec,
            left: n,
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        mut self,
        len: usize,
        v: V,
    ) -> Result<V::Value, CompactError> {
        self.compound()?;
        v.visit_seq(Items {
            dec: self.dec,
            left: len,
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        v: V,
    ) -> Result<V::Value, CompactError> {
        self.deserialize_tuple(len, v)
    }

    fn deserialize_map<V: Visitor<'de>>(mut self, v: V) -> Result<V::Value, CompactError> {
        self.compound()?;
        let h = self.dec.varint()?;
        let n = self.dec.len(h)?;
        v.visit_map(Entries {
            dec: self.dec,
            left: n,
            tagged: h & 1 != 0,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        mut self,
        _: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, CompactError> {
        self.compound()?;
        v.visit_map(Fields::new(Some(self.dec), fields)?)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        mut self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, CompactError> {
        self.compound()?;
        v.visit_enum(Variant { dec: self.dec })
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        self.deserialize_any_or_str(v)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        self.deserialize_any(v)
    }
}

impl<'de> ValueDe<'_, 'de> {
    fn deserialize_any_or_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        if self.mode.tagged {
            self.any(v)
        } else {
            self.dec.str(v)
        }
    }
}

/// Items of a seq or tuple.
struct Items<'d, 'de> {
    dec: &'d mut Decoder<'de>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Items<'_, 'de> {
    type Error = CompactError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, CompactError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(ValueDe {
            dec: self.dec,
            mode: Mode::PLAIN,
        })
        .map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// Entries of a map.
struct Entries<'d, 'de> {
    dec: &'d mut Decoder<'de>,
    left: usize,
    tagged: bool,
}

impl<'de> de::MapAccess<'de> for Entries<'_, 'de> {
    type Error = CompactError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, CompactError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let mode = Mode {
            tagged: self.tagged,
            key: true,
        };
        seed.deserialize(ValueDe {
            dec: self.dec,
            mode,
        })
        .map(Some)
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, CompactError> {
        let mode = Mode {
            tagged: self.tagged,
            key: false,
        };
        seed.deserialize(ValueDe {
            dec: self.dec,
            mode,
        })
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// A struct's fields in order: the written ones from the input, the others as zero.
struct Fields<'d, 'de> {
    /// `None` for a struct that was left out whole (all fields zero).
    dec: Option<&'d mut Decoder<'de>>,
    fields: &'static [&'static str],
    /// Position of the next field to hand out.
    next: usize,
    /// Position of the next field present in the input; `usize::MAX` when none is left.
    present: usize,
}

impl<'d, 'de> Fields<'d, 'de> {
    fn new(
        mut dec: Option<&'d mut Decoder<'de>>,
        fields: &'static [&'static str],
    ) -> Result<Self, CompactError> {
        let present = match dec.as_deref_mut() {
            Some(d) => next_present(d, fields, -1)?,
            None => usize::MAX,
        };
        Ok(Fields {
            dec,
            fields,
            next: 0,
            present,
        })
    }
}

/// Reads a field key (`gap + 1`, or `0` = end) and returns the field's position.
fn next_present(dec: &mut Decoder<'_>, fields: &[&str], last: i64) -> Result<usize, CompactError> {
    let k = dec.varint()?;
    if k == 0 {
        return Ok(usize::MAX);
    }
    if k == 1 {
        return Err(dec.invalid("bad field key"));
    }
    let pos = u64::try_from(last + 1)
        .ok()
        .and_then(|l| l.checked_add(k - 2))
        .and_then(|p| usize::try_from(p).ok())
        .filter(|&p| p < fields.len())
        .ok_or_else(|| dec.invalid("field position out of range"))?;
    Ok(pos)
}

impl<'de> de::MapAccess<'de> for Fields<'_, 'de> {
    type Error = CompactError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, CompactError> {
        let Some(name) = self.fields.get(self.next) else {
            if self.present != usize::MAX {
                return Err(CompactError::Invalid {
                    at: self.dec.as_ref().map_or(0, |d| d.pos),
                    what: "field position out of range",
                });
            }
            return Ok(None);
        };
        seed.deserialize(de::value::BorrowedStrDeserializer::new(name))
            .map(Some)
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, CompactError> {
        let idx = self.next;
        self.next += 1;
        match self.dec.as_deref_mut() {
            Some(dec) if idx == self.present => {
                let v = seed.deserialize(ValueDe {
                    dec: &mut *dec,
                    mode: Mode::PLAIN,
                })?;
                self.present = next_present(dec, self.fields, idx as i64)?;
                Ok(v)
            }
            _ => seed.deserialize(Zero),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.fields.len() - self.next)
    }
}

/// Enum variant index, then its content.
struct Variant<'d, 'de> {
    dec: &'d mut Decoder<'de>,
}

impl<'d, 'de> de::EnumAccess<'de> for Variant<'d, 'de> {
    type Error = CompactError;
    type Variant = Self;
    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), CompactError> {
        let i = self.dec.varint()?;
        let i = u32::try_from(i).map_err(|_| self.dec.invalid("bad variant index"))?;
        let v = seed.deserialize(IntoDeserializer::<CompactError>::into_deserializer(i))?;
        Ok((v, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, 'de> {
    type Error = CompactError;
    fn unit_variant(self) -> Result<(), CompactError> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, CompactError> {
        seed.deserialize(ValueDe {
            dec: self.dec,
            mode: Mode::PLAIN,
        })
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, CompactError> {
        v.visit_seq(Items {
            dec: self.dec,
            left: len,
        })
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, CompactError> {
        v.visit_map(Fields::new(Some(self.dec), fields)?)
    }
}

/// The zero value of whatever type asks: stands in for a struct field that was left out.
struct Zero;

macro_rules! zero_as {
    ($($m:ident => $visit:ident($val:expr);)*) => {$(
        fn $m<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
            v.$visit($val)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Zero {
    type Error = CompactError;

    fn is_human_readable(&self) -> bool {
        false
    }

    zero_as! {
        deserialize_bool => visit_bool(false);
        deserialize_u8 => visit_u64(0);
        deserialize_u16 => visit_u64(0);
        deserialize_u32 => visit_u64(0);
        deserialize_u64 => visit_u64(0);
        deserialize_i8 => visit_i64(0);
        deserialize_i16 => visit_i64(0);
        deserialize_i32 => visit_i64(0);
        deserialize_i64 => visit_i64(0);
        deserialize_f32 => visit_f32(0.0);
        deserialize_f64 => visit_f64(0.0);
        deserialize_str => visit_borrowed_str("");
        deserialize_string => visit_borrowed_str("");
        deserialize_bytes => visit_borrowed_bytes(&[]);
        deserialize_byte_buf => visit_borrowed_bytes(&[]);
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, CompactError> {
        Err(CompactError::Invalid {
            at: 0,
            what: "omitted field of unknown type",
        })
    }
    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        self.deserialize_any(v)
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        v.visit_none()
    }
    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        v.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, CompactError> {
        v.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, CompactError> {
        v.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        v.visit_seq(de::value::SeqDeserializer::<_, CompactError>::new(
            std::iter::empty::<()>(),
        ))
    }
    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        v: V,
    ) -> Result<V::Value, CompactError> {
        v.visit_seq(ZeroItems(len))
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        v: V,
    ) -> Result<V::Value, CompactError> {
        v.visit_seq(ZeroItems(len))
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        v.visit_map(de::value::MapDeserializer::<_, CompactError>::new(
            std::iter::empty::<((), ())>(),
        ))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, CompactError> {
        v.visit_map(Fields::new(None, fields)?)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, CompactError> {
        self.deserialize_any(v)
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        self.deserialize_any(v)
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CompactError> {
        v.visit_unit()
    }
}

struct ZeroItems(usize);

impl<'de> de::SeqAccess<'de> for ZeroItems {
    type Error = CompactError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, CompactError> {
        if self.0 == 0 {
            return Ok(None);
        }
        self.0 -= 1;
        seed.deserialize(Zero).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::Sparse;
    use crate::model::json::to_go_json;
    use crate::model::v1::*;

    /// Round-trips `v`, checking equality and that the JSON clients would see is unchanged
    /// (`Sparse` compares unset equal to zero; the JSON also shows a `None` vs `Some(zero)`).
    fn round_trip<T>(v: &T) -> Vec<u8>
    where
        T: Serialize + DeserializeOwned + PartialEq + fmt::Debug,
    {
        let mut buf = Vec::new();
        try_encode(v, &mut buf).expect("encode");
        let back: T = decode(&buf).expect("decode");
        assert_eq!(&back, v);
        assert_eq!(
            String::from_utf8(to_go_json(&back)),
            String::from_utf8(to_go_json(v))
        );
        buf
    }

    fn ts(nanos: i64) -> Timestamp {
        Timestamp::from_unix_nanos(nanos)
    }

    fn psi(total: u64, avg10: f64) -> PSIStats {
        PSIStats {
            full: PSIData {
                total: total / 2,
                avg10: avg10 / 2.0,
                avg60: 0.0,
                avg300: 0.0,
            },
            some: PSIData {
                total,
                avg10,
                avg60: avg10 / 3.0,
                avg300: 0.01,
            },
        }
    }

    fn disk(device: &str, minor: u64, stats: &[(&str, u64)]) -> PerDiskStats {
        PerDiskStats {
            device: device.into(),
            major: 8,
            minor,
            stats: stats.iter().copied().collect(),
        }
    }

    fn iface(name: &str, rx: u64) -> InterfaceStats {
        InterfaceStats {
            name: name.into(),
            rx_bytes: rx,
            rx_packets: rx / 900,
            rx_errors: 0,
            rx_dropped: 3,
            tx_bytes: rx / 4,
            tx_packets: rx / 2000,
            tx_errors: 0,
            tx_dropped: 0,
        }
    }

    /// What the housekeeping loop stores for a busy docker container on cgroup v2 (values from
    /// a live cAdvisor sample of an nginx container: one disk, eth0, no per-cpu usage).
    fn docker_sample() -> ContainerStats {
        let mut s = ContainerStats {
            timestamp: ts(1_795_371_389_914_702_850),
            ..Default::default()
        };
        s.cpu.usage = CpuUsage {
            total: 48_211_309_000,
            per_cpu: Vec::new(),
            user: 30_511_204_000,
            system: 17_700_105_000,
        };
        s.cpu.cfs.periods = 18_223;
        s.cpu.cfs.throttled_periods = 12;
        s.cpu.cfs.throttled_time = 1_204_330_000;
        s.cpu.psi = psi(2_301_554, 0.12);
        s.memory = MemoryStats {
            usage: 73_420_800,
            max_usage: 0,
            cache: 21_094_400,
            rss: 48_357_376,
            mapped_file: 9_728_000,
            working_set: 61_534_208,
            total_active_file: 8_499_200,
            total_inactive_file: 11_886_592,
            file_dirty: 4096,
            pgscan: 0,
            kernel: 3_321_856,
            container_data: MemoryStatsMemoryData {
                pgfault: 1_202_937,
                pgmajfault: 151,
                numa_stats: Sparse::none(),
            },
            hierarchical_data: MemoryStatsMemoryData {
                pgfault: 1_202_937,
                pgmajfault: 151,
                numa_stats: Sparse::none(),
            },
            psi: psi(10_233, 0.0),
            ..Default::default()
        };
        s.diskio.io_service_bytes = vec![disk(
            "/dev/nvme0n1",
            0,
            &[
                ("Read", 36_864_000),
                ("Write", 1_245_184),
                ("Total", 38_109_184),
            ],
        )];
        s.diskio.io_serviced = vec![disk(
            "/dev/nvme0n1",
            0,
            &[("Read", 1_130), ("Write", 288), ("Total", 1_418)],
        )];
        s.diskio.psi = psi(88_120, 0.0);
        s.network.set(NetworkStats::from_interfaces(vec![iface(
            "eth0", 48_300_122,
        )]));
        s.processes.set(ProcessStats {
            process_count: 5,
            fd_count: 41,
            socket_count: 6,
            threads_current: 9,
            threads_max: 4_194_304,
            ulimits: vec![UlimitSpec {
                name: "max_open_files".into(),
                soft_limit: 1_048_576,
                hard_limit: 1_048_576,
            }],
        });
        s
    }

    /// Every section non-zero, to exercise each type's encoding.
    fn full_sample() -> ContainerStats {
        let mut s = docker_sample();
        s.cpu.usage.per_cpu = vec![12_000_000_001, 11_000_000_002, 13_500_000_003, 0];
        s.cpu.cfs.bursts_periods = 4;
        s.cpu.cfs.burst_time = 77_000;
        s.cpu.schedstat = CpuSchedstat {
            run_time: 9_000_111,
            runqueue_time: 22_333,
            run_periods: 4_455,
        };
        s.cpu.load_average = 2;
        s.cpu.load_d_average = -1;
        s.cpu_inst = Some(Box::new(CpuInstStats {
            usage: CpuInstUsage {
                total: 120_000_000,
                per_cpu: vec![60_000_000, 60_000_000],
                user: 100_000_000,
                system: 20_000_000,
            },
        }));
        let ops = [
            ("Async", 10),
            ("Discard", 0),
            ("Read", 36_864_000),
            ("Sync", 20),
            ("Total", 38_109_184),
            ("Write", 1_245_184),
        ];
        let d = &mut *s.diskio;
        d.io_service_bytes = vec![disk("/dev/sda", 0, &ops), disk("/dev/sdb", 16, &ops)];
        d.io_serviced = vec![disk("/dev/sda", 0, &ops), disk("/dev/sdb", 16, &ops)];
        d.io_queued = vec![disk("/dev/sda", 0, &[("Read", 1)])];
        d.sectors = vec![disk("/dev/sda", 0, &[("Count", 72_000)])];
        d.io_service_time = vec![disk("/dev/sdb", 16, &[("Write", 5)])];
        d.io_wait_time = vec![disk("/dev/sdb", 16, &[("Write", 6)])];
        d.io_merged = vec![disk("/dev/sdb", 16, &[("Write", 7), ("Weird", 8)])];
        d.io_time = vec![disk("/dev/sdb", 16, &[("Count", 9)])];
        d.io_cost_usage = vec![disk("/dev/sdb", 16, &[("Count", 10)])];
        d.io_cost_wait = vec![disk("/dev/sdb", 16, &[("Count", 11)])];
        d.io_cost_indebt = vec![disk("/dev/sdb", 16, &[("Count", 12)])];
        d.io_cost_indelay = vec![disk("/dev/sdb", 16, &[("Count", 13)])];
        s.memory.max_usage = 99_000_000;
        s.memory.swap = 4096;
        s.memory.file_writeback = 8192;
        s.memory.pgscan = 55;
        s.memory.pgsteal = 44;
        s.memory.workingset_refault_file = 3;
        s.memory.workingset_refault_anon = 2;
        s.memory.failcnt = 1;
        s.memory.events = MemoryEvents { high: 7, max: 1 };
        s.memory.container_data.numa_stats.set(MemoryNumaStats {
            file: BTreeMap::from([(0, 100), (1, 200), (10, 5)]),
            anon: BTreeMap::from([(0, 300)]),
            unevictable: BTreeMap::from([(1, 1)]),
        });
        s.hugetlb.set(BTreeMap::from([
            (
                "2MB".to_owned(),
                HugetlbStats {
                    usage: 4_194_304,
                    max_usage: 8_388_608,
                    failcnt: 0,
                },
            ),
            (
                "1GB".to_owned(),
                HugetlbStats {
                    usage: 0,
                    max_usage: 0,
                    failcnt: 2,
                },
            ),
        ]));
        let mut net =
            NetworkStats::from_interfaces(vec![iface("eth0", 48_300_122), iface("eth1", 1_000)]);
        net.tcp = TcpStat {
            established: 12,
            listen: 2,
            time_wait: 40,
            ..Default::default()
        };
        net.tcp6 = TcpStat {
            listen: 1,
            ..Default::default()
        };
        net.udp = UdpStat {
            listen: 1,
            dropped: 2,
            rx_queued: 3,
            tx_queued: 4,
        };
        net.udp6.listen = 1;
        net.tcp_advanced.set(TcpAdvancedStat {
            rto_algorithm: 1,
            rto_min: 200,
            rto_max: 120_000,
            max_conn: -1,
            active_opens: 1_002,
            in_segs: 99_999,
            paws_estab: 3,
            ..Default::default()
        });
        s.network.set(net);
        s.filesystem.set(vec![FsStats {
            device: "/dev/sda1".into(),
            fs_type: "ext4".into(),
            capacity: 100_000_000_000,
            usage: 12_000_000,
            base_usage: 4_000_000,
            available: 80_000_000_000,
            has_inodes: true,
            inodes: 6_000_000,
            inodes_free: 5_000_000,
            reads_completed: 1,
            reads_merged: 2,
            sectors_read: 3,
            read_time: 4,
            writes_completed: 5,
            writes_merged: 6,
            sectors_written: 7,
            write_time: 8,
            io_in_progress: 9,
            io_time: 10,
            weighted_io_time: 11,
        }]);
        s.task_stats.set(LoadStats {
            nr_sleeping: 4,
            nr_running: 1,
            nr_stopped: 0,
            nr_uninterruptible: 1,
            nr_io_wait: 2,
        });
        s.accelerators.set(vec![AcceleratorStats {
            make: "nvidia".into(),
            model: "A100".into(),
            id: "GPU-1".into(),
            memory_total: 40_000_000_000,
            memory_used: 1_000,
            duty_cycle: 50,
        }]);
        s.custom_metrics.set(BTreeMap::from([(
            "qps".to_owned(),
            vec![MetricVal {
                label: "path".into(),
                labels: BTreeMap::from([("code".to_owned(), "200".to_owned())]),
                timestamp: ts(1_795_371_389_000_000_000),
                int_value: -4,
                float_value: 12.5,
            }],
        )]));
        s.perf_stats.set(vec![PerfStat {
            scaling_ratio: 0.5,
            value: 123,
            name: "instructions".into(),
            cpu: 3,
        }]);
        s.perf_uncore_stats.set(vec![PerfUncoreStat {
            scaling_ratio: 1.0,
            value: 9,
            name: "cas_count_read".into(),
            socket: 0,
            pmu: "uncore_imc_0".into(),
        }]);
        s.referenced_memory = 1_234_567;
        s.resctrl.set(ResctrlStats {
            memory_bandwidth: vec![MemoryBandwidthStats {
                mbm_total_bytes: 1,
                mbm_local_bytes: 2,
            }],
            cache: vec![CacheStats { llc_occupancy: 3 }],
        });
        s.cpuset.memory_migrate = 1;
        s.oom_events = 2;
        s.health.set(Health {
            status: "healthy".into(),
        });
        s
    }

    #[test]
    fn zero_sample_round_trips_in_a_few_bytes() {
        let buf = round_trip(&ContainerStats::default());
        println!("zero ContainerStats: {} bytes", buf.len());
        assert!(buf.len() < 32, "{} bytes", buf.len());
        let back: ContainerStats = decode(&buf).expect("decode");
        assert!(back.network.is_unset() && back.diskio.is_unset() && back.health.is_unset());
    }

    /// An unset `Sparse` field skips serialising its zero value: the bytes must be exactly those
    /// of the zero value written out (which the struct then leaves out), at every depth.
    #[test]
    fn unset_sparse_encodes_as_its_zero_value_would() {
        let enc = |v: &ContainerStats| {
            let mut b = Vec::new();
            try_encode(v, &mut b).expect("encode");
            b
        };
        for mut s in [ContainerStats::default(), docker_sample(), full_sample()] {
            let unset = enc(&s);
            // `Sparse::new` stores even a zero value, so it is serialised field by field.
            if s.network.is_unset() {
                s.network = Sparse::new(NetworkStats::default());
            }
            if s.network.tcp_advanced.is_unset() {
                s.network.tcp_advanced = Sparse::new(TcpAdvancedStat::default());
            }
            if s.diskio.is_unset() {
                s.diskio = Sparse::new(DiskIoStats::default());
            }
            if s.processes.is_unset() {
                s.processes = Sparse::new(ProcessStats::default());
            }
            if s.memory.container_data.numa_stats.is_unset() {
                s.memory.container_data.numa_stats = Sparse::new(MemoryNumaStats::default());
            }
            if s.health.is_unset() {
                s.health = Sparse::new(Health::default());
            }
            assert_eq!(unset, enc(&s));
            round_trip(&s);
        }
    }

    #[test]
    fn docker_sample_round_trips_under_500_bytes() {
        let s = docker_sample();
        let buf = round_trip(&s);
        let json = to_go_json(&s).len();
        println!(
            "docker-like sample: {} bytes (JSON {json} bytes)",
            buf.len()
        );
        assert!(buf.len() < 500, "{} bytes", buf.len());
    }

    #[test]
    fn full_sample_round_trips() {
        let s = full_sample();
        let buf = round_trip(&s);
        println!("fully populated sample: {} bytes", buf.len());
        let back: ContainerStats = decode(&buf).expect("decode");
        // Sparse parts come back set exactly when they were non-zero.
        assert!(!back.network.tcp_advanced.is_unset());
        assert!(!back.memory.container_data.numa_stats.is_unset());
        assert!(back.memory.hierarchical_data.numa_stats.is_unset());
        assert_eq!(back.diskio.io_merged[0].stats.get("Weird"), Some(8));
    }

    #[test]
    fn sparse_set_to_zero_comes_back_unset() {
        let mut s = ContainerStats::default();
        s.network.tcp.listen = 0; // allocates a zero NetworkStats
        assert!(!s.network.is_unset());
        let mut buf = Vec::new();
        encode(&s, &mut buf);
        let back: ContainerStats = decode(&buf).expect("decode");
        assert!(back.network.is_unset());
        assert_eq!(back, s);
    }

    #[test]
    fn timestamps_round_trip() {
        for t in [
            Timestamp::ZERO,
            ts(0),
            ts(1),
            ts(-1_000_000_001),
            ts(1_795_371_389_914_702_850),
            ts(i64::MAX),
        ] {
            let buf = round_trip(&t);
            assert!(buf.len() <= 11, "{t}: {} bytes", buf.len());
        }
        // Strings that merely look like times are kept as text.
        for s in [
            "2026-11-22T18:16:29.910Z",
            "2026-11-22T18:16:29+00:00",
            "0001-01-01T00:00:00Z",
            "2026-11-22T18:16:29.91470285Z",
            "9999-99-99T99:99:99Z",
        ] {
            round_trip(&s.to_owned());
        }
    }

    #[test]
    fn spec_round_trips() {
        let spec = ContainerSpec {
            creation_time: ts(1_795_371_000_123_000_000),
            start_time: Timestamp::ZERO,
            labels: BTreeMap::from([
                ("com.docker.compose.service".to_owned(), "web".to_owned()),
                ("maintainer".to_owned(), "NGINX <a@b.c>".to_owned()),
            ]),
            envs: BTreeMap::from([("PATH".to_owned(), "/usr/bin".to_owned())]),
            has_cpu: true,
            cpu: CpuSpec {
                limit: 1024,
                max_limit: 0,
                mask: "0-3".into(),
                quota: 200_000,
                period: 100_000,
            },
            has_memory: true,
            memory: MemorySpec {
                limit: 536_870_912,
                reservation: 0,
                swap_limit: 1_073_741_824,
            },
            has_network: true,
            has_processes: true,
            processes: ProcessSpec { limit: 4096 },
            has_filesystem: true,
            has_diskio: true,
            has_custom_metrics: true,
            custom_metrics: vec![MetricSpec {
                name: "qps".into(),
                metric_type: "gauge".into(),
                format: "float".into(),
                units: "per second".into(),
            }],
            image: "nginx:1.27".into(),
            ..Default::default()
        };
        round_trip(&spec);
        round_trip(&ContainerSpec::default());
    }

    #[test]
    fn events_round_trip_including_non_zero_defaults() {
        // `ContainerDeletionEventData` defaults to exit code -1: a left-out 0 must stay 0.
        for exit_code in [0, -1, 137] {
            round_trip(&Event {
                container_name: "/docker/abc".into(),
                timestamp: ts(1_795_371_389_914_702_850),
                event_type: EventType::ContainerDeletion,
                event_data: EventData {
                    oom_kill: None,
                    container_deletion: Some(ContainerDeletionEventData { exit_code }),
                },
            });
        }
        for event_type in EventType::ALL {
            round_trip(&Event {
                container_name: "/".into(),
                timestamp: ts(5),
                event_type,
                event_data: EventData {
                    oom_kill: Some(OomKillEventData {
                        pid: 4242,
                        process_name: "stress".into(),
                        constraint: "CONSTRAINT_MEMCG".into(),
                    }),
                    container_deletion: None,
                },
            });
        }
        round_trip(&Event::default());
        // `num_stats` defaults to 60 when absent; 0 must survive.
        round_trip(&ContainerInfoRequest {
            num_stats: 0,
            start: ts(1),
            end: Timestamp::ZERO,
        });
    }

    #[test]
    fn machine_info_round_trips() {
        use crate::model::machine::*;
        let m = MachineInfo {
            timestamp: ts(1_795_371_389_914_702_850),
            vendor_id: "AuthenticAMD".into(),
            num_cores: 8,
            num_physical_cores: 4,
            num_sockets: 1,
            memory_capacity: 33_554_432_000,
            memory_by_type: BTreeMap::from([(
                "Unbuffered-DDR4".to_owned(),
                MemoryInfo {
                    capacity: 1,
                    dimm_count: 2,
                },
            )]),
            filesystems: vec![FsInfo {
                device: "/dev/sda1".into(),
                capacity: 5,
                fs_type: "vfs".into(),
                inodes: 7,
                has_inodes: true,
                ..Default::default()
            }],
            ..Default::default()
        };
        round_trip(&m);
    }

    #[test]
    fn scalars_options_and_maps_round_trip() {
        round_trip(&(
            u64::MAX,
            i64::MIN,
            -1i8,
            0.1f32,
            f64::MIN_POSITIVE,
            'é',
            true,
        ));
        round_trip(&-0.0f64);
        round_trip(&Some(Some(0u64)));
        round_trip(&Option::<u64>::None);
        round_trip(&vec![String::new(), "x".into(), "xy".into(), "xy".into()]);
        round_trip(&BTreeMap::from([(-3i32, 1u8), (7, 0)]));
        round_trip(&BTreeMap::from([(true, ()), (false, ())]));
        round_trip(&std::collections::HashMap::from([(
            "a".to_owned(),
            vec![1u64],
        )]));
        // Many distinct strings: past the back-reference table's capacity.
        let many: Vec<String> = (0..200).map(|i| format!("s{}", i % 90)).collect();
        round_trip(&many);
    }

    #[test]
    fn garbage_never_panics() {
        let mut buf = Vec::new();
        encode(&full_sample(), &mut buf);
        // Every truncation is an error.
        for n in 0..buf.len() {
            assert!(decode::<ContainerStats>(&buf[..n]).is_err(), "length {n}");
        }
        let mut extra = buf.clone();
        extra.push(0);
        assert!(matches!(
            decode::<ContainerStats>(&extra),
            Err(CompactError::Trailing(1))
        ));
        // Flipped bytes may decode to something else, but must not panic.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..3000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut bad = buf.clone();
            let i = (seed % bad.len() as u64) as usize;
            bad[i] ^= (seed >> 32) as u8 | 1;
            let _ = decode::<ContainerStats>(&bad);
            let _ = decode::<Event>(&bad[i..]);
        }
        assert!(decode::<ContainerStats>(&[0xff; 12]).is_err());
        assert!(decode::<String>(&[0x04, 0xff]).is_err());
    }
}
