//! One session's entry in the registry, and how filters read it.
//!
//! Laid out for the filter scan (SPEC §9 P5) and for idle memory (P1): a
//! short principal is stored in the record itself, and all user properties
//! of a session live in two allocations whatever their number.

use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;

use usher_core::SessionId;
use usher_core::intern::Sym;
use usher_core::props::{FixedKey, InlineText, PropValue, PropertySource};
use usher_core::protocol::ClientType;

use crate::roles::RoleSet;
use crate::session::Session;

/// One session's properties and handle.
#[derive(Debug)]
pub(crate) struct Record {
    /// The session's shared half.
    pub session: Arc<Session>,
    /// `$SessionId`.
    pub id: SessionId,
    /// `$StartTime`, ms since the epoch.
    pub start_time: u64,
    /// `$Principal`.
    pub principal: ShortStr,
    /// `$Roles` (shared by every session with the same set).
    pub roles: Arc<RoleSet>,
    /// `$Environment`.
    pub environment: Box<str>,
    /// `$Country` (upper case).
    pub country: Box<str>,
    /// `$Language` (lower case).
    pub language: Box<str>,
    /// `$Connector` (shared by the listener's sessions).
    pub connector: Arc<str>,
    /// `$ClientIP`.
    pub client_ip: IpAddr,
    /// `$ClientType`.
    pub client_type: ClientType,
    /// `$Transport` is `WEBSOCKET_TLS` when true.
    pub tls: bool,
    /// User properties.
    pub user: UserProps,
}

/// A string kept in place when it is at most [`ShortStr::INLINE`] bytes
/// (principals usually are), else on the heap: testing `$Principal` then
/// reads no cache line beyond the record, and a short principal costs no
/// allocation.
#[derive(Clone)]
pub(crate) enum ShortStr {
    Inline { len: u8, buf: [u8; ShortStr::INLINE] },
    Heap(Box<str>),
}

impl ShortStr {
    /// Longest string stored in place (the enum is then 24 bytes).
    pub(crate) const INLINE: usize = 22;
}

impl From<&str> for ShortStr {
    fn from(s: &str) -> Self {
        let mut buf = [0u8; Self::INLINE];
        match buf.get_mut(..s.len()) {
            Some(dst) => {
                dst.copy_from_slice(s.as_bytes());
                ShortStr::Inline { len: s.len() as u8, buf }
            }
            None => ShortStr::Heap(s.into()),
        }
    }
}

impl Deref for ShortStr {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        match self {
            // Only whole `&str`s are copied in, so this never fails.
            ShortStr::Inline { len, buf } => std::str::from_utf8(&buf[..*len as usize]).unwrap_or(""),
            ShortStr::Heap(s) => s,
        }
    }
}

impl std::fmt::Debug for ShortStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

/// A session's user properties, sorted by key symbol, in two allocations
/// (none when empty): the keys followed by the end offset of each value in
/// `text`, and the values' text concatenated in key order. A lookup scans
/// the keys (20 keys fill a bit over one cache line) and slices the text.
///
/// Offsets are `u32`: the property limits (SPEC §2, `max_total_bytes`,
/// 16 KiB by default) keep a session's text far below 4 GiB; a value past
/// that bound would read as absent, never as another value.
#[derive(Debug, Default, Clone)]
pub(crate) struct UserProps {
    keys_ends: Box<[u32]>,
    text: Box<str>,
}

impl UserProps {
    /// From pairs in any order; a key given twice keeps its last value.
    pub(crate) fn new<'a>(pairs: impl IntoIterator<Item = (Sym, &'a str)>) -> Self {
        let mut pairs: Vec<(Sym, &str)> = pairs.into_iter().collect();
        // Stable, so the last of equal keys is last; keep it.
        pairs.sort_by_key(|(k, _)| *k);
        pairs.reverse();
        pairs.dedup_by_key(|(k, _)| *k);
        pairs.reverse();
        let mut keys_ends: Vec<u32> = pairs.iter().map(|(k, _)| k.0).collect();
        let mut text = String::with_capacity(pairs.iter().map(|(_, v)| v.len()).sum());
        for (_, v) in &pairs {
            text.push_str(v);
            keys_ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
        }
        Self { keys_ends: keys_ends.into(), text: text.into() }
    }

    fn split(&self) -> (&[u32], &[u32]) {
        self.keys_ends.split_at(self.keys_ends.len() / 2)
    }

    fn value(&self, ends: &[u32], i: usize) -> Option<&str> {
        let start = if i == 0 { 0 } else { *ends.get(i - 1)? as usize };
        self.text.get(start..*ends.get(i)? as usize)
    }

    /// One property's value.
    #[inline]
    pub(crate) fn get(&self, key: Sym) -> Option<&str> {
        let (keys, ends) = self.split();
        // Linear: the keys sit in one or two cache lines, and a scan lets the
        // CPU load them in parallel where a binary search would chain them.
        let i = keys.iter().position(|&k| k >= key.0)?;
        if keys[i] != key.0 {
            return None;
        }
        self.value(ends, i)
    }

    /// Every property, by key symbol.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Sym, &str)> {
        let (keys, ends) = self.split();
        keys.iter().enumerate().filter_map(move |(i, k)| Some((Sym(*k), self.value(ends, i)?)))
    }

    /// The address of the keys, for prefetching a record's properties.
    pub(super) fn prefetch_addresses(&self) -> [*const u8; 2] {
        [self.keys_ends.as_ptr().cast(), self.text.as_ptr()]
    }
}

/// A record as filters see it (the server name is not stored per session).
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    /// The record.
    pub rec: &'a Record,
    /// `$ServerName`.
    pub server_name: &'a str,
}

impl PropertySource for View<'_> {
    fn fixed(&self, key: FixedKey) -> PropValue<'_> {
        let r = self.rec;
        let inline = |t: Option<InlineText>| t.map(PropValue::Inline).unwrap_or(PropValue::Str(""));
        match key {
            FixedKey::SessionId => inline(InlineText::format(r.id)),
            FixedKey::Principal => PropValue::Str(&r.principal),
            FixedKey::Roles => PropValue::Str(&r.roles.text),
            FixedKey::ClientType => PropValue::Str(r.client_type.as_str()),
            FixedKey::Transport => PropValue::Str(if r.tls { "WEBSOCKET_TLS" } else { "WEBSOCKET" }),
            FixedKey::ServerName => PropValue::Str(self.server_name),
            FixedKey::Connector => PropValue::Str(&r.connector),
            FixedKey::ClientIp => inline(InlineText::format(r.client_ip)),
            FixedKey::StartTime => inline(InlineText::format(r.start_time)),
            FixedKey::Environment => PropValue::Str(&r.environment),
            FixedKey::Country => PropValue::Str(&r.country),
            FixedKey::Language => PropValue::Str(&r.language),
        }
    }

    #[inline]
    fn user(&self, key: Sym) -> Option<&str> {
        self.rec.user.get(key)
    }

    #[inline]
    fn has_role(&self, role: Sym) -> bool {
        self.rec.roles.has(role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_props_lookup_and_iteration() {
        let props = UserProps::new([(Sym(7), "seven"), (Sym(2), ""), (Sym(5), "five"), (Sym(2), "two")]);
        assert_eq!(props.get(Sym(2)), Some("two"), "the last of a repeated key wins");
        assert_eq!(props.get(Sym(5)), Some("five"));
        assert_eq!(props.get(Sym(7)), Some("seven"));
        assert_eq!(props.get(Sym(1)), None);
        assert_eq!(props.get(Sym(6)), None);
        assert_eq!(props.get(Sym(9)), None);
        let all: Vec<(Sym, &str)> = props.iter().collect();
        assert_eq!(all, [(Sym(2), "two"), (Sym(5), "five"), (Sym(7), "seven")]);
        let empty = UserProps::default();
        assert_eq!(empty.get(Sym(0)), None);
        assert_eq!(empty.iter().count(), 0);
    }

    #[test]
    fn short_strings_inline_and_on_the_heap() {
        for s in ["", "x", "exactly-22-bytes-long!", "twenty-three bytes long", "é-unicode"] {
            let short = ShortStr::from(s);
            assert_eq!(&*short, s);
            assert_eq!(matches!(short, ShortStr::Inline { .. }), s.len() <= ShortStr::INLINE, "{s}");
        }
        assert_eq!(std::mem::size_of::<ShortStr>(), 24);
    }
}
