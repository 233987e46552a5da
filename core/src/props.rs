//! Session properties (SPEC §2.2): the fixed keys the server sets, the rules
//! for user keys and values, and the canonical text of `$Roles`.
//!
//! [`PropertySource`] is the view of one session that filters evaluate
//! against; the server's registry implements it over its packed session
//! records, and tests implement it over plain maps.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::intern::Sym;

/// A fixed property: set by the server, name starts with `$`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FixedKey {
    /// `$SessionId`: text form of the id.
    SessionId,
    /// `$Principal`: the authenticated principal, `""` when anonymous.
    Principal,
    /// `$Roles`: canonical roles text, see [`roles_text`].
    Roles,
    /// `$ClientType`: `RUST`, `PYTHON`, `NODE`, `SWIFT`, `CLI`, `OTHER`.
    ClientType,
    /// `$Transport`: `WEBSOCKET` or `WEBSOCKET_TLS`.
    Transport,
    /// `$ServerName`: the server's configured name.
    ServerName,
    /// `$Connector`: the listener the session came through.
    Connector,
    /// `$ClientIP`: the peer address.
    ClientIp,
    /// `$StartTime`: milliseconds since the Unix epoch.
    StartTime,
    /// `$Environment`: e.g. `PYTHON_3.11`, set by the client library.
    Environment,
    /// `$Country`: empty unless set; upper-cased when set.
    Country,
    /// `$Language`: empty unless set; lower-cased when set.
    Language,
}

impl FixedKey {
    /// Every fixed key, in the order `*F` lists them.
    pub const ALL: [FixedKey; 12] = [
        FixedKey::SessionId,
        FixedKey::Principal,
        FixedKey::Roles,
        FixedKey::ClientType,
        FixedKey::Transport,
        FixedKey::ServerName,
        FixedKey::Connector,
        FixedKey::ClientIp,
        FixedKey::StartTime,
        FixedKey::Environment,
        FixedKey::Country,
        FixedKey::Language,
    ];

    /// The key's name, with its `$`.
    pub const fn name(self) -> &'static str {
        match self {
            FixedKey::SessionId => "$SessionId",
            FixedKey::Principal => "$Principal",
            FixedKey::Roles => "$Roles",
            FixedKey::ClientType => "$ClientType",
            FixedKey::Transport => "$Transport",
            FixedKey::ServerName => "$ServerName",
            FixedKey::Connector => "$Connector",
            FixedKey::ClientIp => "$ClientIP",
            FixedKey::StartTime => "$StartTime",
            FixedKey::Environment => "$Environment",
            FixedKey::Country => "$Country",
            FixedKey::Language => "$Language",
        }
    }

    /// The fixed key with this exact (case-sensitive) name, `$` included.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Only `$Country` and `$Language` may be set by a controller.
    pub const fn is_settable(self) -> bool {
        matches!(self, FixedKey::Country | FixedKey::Language)
    }
}

impl fmt::Display for FixedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `*F` in a key list: every fixed property.
pub const ALL_FIXED: &str = "*F";
/// `*U` in a key list: every user property.
pub const ALL_USER: &str = "*U";

/// The words of the filter language; none of them may be a user key.
pub const FILTER_KEYWORDS: [&str; 11] =
    ["and", "or", "not", "is", "eq", "ne", "matches", "in", "has", "hasroles", "all"];

/// True when `word` is a filter keyword (case-insensitive).
pub fn is_filter_keyword(word: &str) -> bool {
    FILTER_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Why a user key or value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertyError {
    /// The key does not match `[A-Za-z_][A-Za-z0-9_.-]{0,255}`.
    #[error("invalid property key {0:?}: must match [A-Za-z_][A-Za-z0-9_.-]{{0,255}}")]
    BadKey(String),
    /// The key is a filter keyword (`and`, `is`, ...).
    #[error("invalid property key {0:?}: a filter keyword cannot be a key")]
    KeywordKey(String),
    /// A `$` key that is not a fixed property, or one a controller may not set.
    #[error("property {0:?} cannot be set")]
    ReadOnly(String),
    /// A limit of [`PropertyLimits`] would be broken; names the key and limit.
    #[error("property {key:?} breaks the limit {limit} ({max})")]
    Limit {
        /// The key whose value or addition broke the limit.
        key: String,
        /// The limit's name: `max_user_properties`, `max_value_bytes`, `max_total_bytes`.
        limit: &'static str,
        /// The configured bound.
        max: usize,
    },
}

/// Checks a user-property key: `[A-Za-z_][A-Za-z0-9_.-]{0,255}`, not a keyword.
pub fn validate_user_key(key: &str) -> Result<(), PropertyError> {
    let b = key.as_bytes();
    let first_ok = b.first().is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
    let rest_ok = b.iter().skip(1).all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c));
    if !first_ok || !rest_ok || b.len() > 256 {
        return Err(PropertyError::BadKey(key.to_owned()));
    }
    if is_filter_keyword(key) {
        return Err(PropertyError::KeywordKey(key.to_owned()));
    }
    Ok(())
}

/// Bounds on a session's user properties. Defaults: 64 properties, 4 KiB per
/// value, 16 KiB for all keys and values together. A connect or a set that
/// would break one is refused with `LIMIT_EXCEEDED` naming the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PropertyLimits {
    /// Most user properties one session may have.
    pub max_user_properties: usize,
    /// Most bytes in one value.
    pub max_value_bytes: usize,
    /// Most bytes of all user keys and values of one session together.
    pub max_total_bytes: usize,
}

impl Default for PropertyLimits {
    fn default() -> Self {
        Self { max_user_properties: 64, max_value_bytes: 4 * 1024, max_total_bytes: 16 * 1024 }
    }
}

impl PropertyLimits {
    /// Checks a complete set of user properties against every rule: keys,
    /// value size, count and total size. Returns the first problem, naming
    /// its key. Deterministic: keys are checked in iteration order.
    pub fn check<'a, I>(&self, props: I) -> Result<(), PropertyError>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let (mut count, mut total) = (0usize, 0usize);
        for (key, value) in props {
            validate_user_key(key)?;
            if value.len() > self.max_value_bytes {
                return Err(self.limit(key, "max_value_bytes", self.max_value_bytes));
            }
            count += 1;
            if count > self.max_user_properties {
                return Err(self.limit(key, "max_user_properties", self.max_user_properties));
            }
            total += key.len() + value.len();
            if total > self.max_total_bytes {
                return Err(self.limit(key, "max_total_bytes", self.max_total_bytes));
            }
        }
        Ok(())
    }

    fn limit(&self, key: &str, limit: &'static str, max: usize) -> PropertyError {
        PropertyError::Limit { key: key.to_owned(), limit, max }
    }
}

/// True when `name` is a valid role name: `[A-Za-z0-9_.-]{1,64}`.
pub fn is_valid_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c))
}

/// The canonical `$Roles` text: sorted, de-duplicated, each in double quotes,
/// comma separated (`"CLIENT","OPERATOR"`); `""` for no roles.
pub fn roles_text<S: AsRef<str>>(roles: &[S]) -> String {
    let mut sorted: Vec<&str> = roles.iter().map(AsRef::as_ref).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::with_capacity(sorted.iter().map(|r| r.len() + 3).sum());
    for (i, role) in sorted.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(role);
        out.push('"');
    }
    out
}

/// Parses the canonical `$Roles` text back into role names. Accepts exactly
/// what [`roles_text`] writes (any order, which it then sorts); `None` for
/// anything else, including invalid role names.
pub fn parse_roles_text(text: &str) -> Option<Vec<String>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    let mut roles = Vec::new();
    for part in text.split(',') {
        let name = part.strip_prefix('"')?.strip_suffix('"')?;
        if !is_valid_role_name(name) {
            return None;
        }
        roles.push(name.to_owned());
    }
    roles.sort_unstable();
    roles.dedup();
    Some(roles)
}

/// A property value as a filter sees it: borrowed from the session record, or
/// formatted on the stack (ids, addresses, times) so evaluation never allocates.
#[derive(Clone, Copy, Debug)]
pub enum PropValue<'a> {
    /// Stored as text.
    Str(&'a str),
    /// Formatted into a small inline buffer.
    Inline(InlineText),
}

impl PropValue<'_> {
    /// The value as text.
    pub fn as_str(&self) -> &str {
        match self {
            PropValue::Str(s) => s,
            PropValue::Inline(t) => t.as_str(),
        }
    }
}

/// Up to 48 bytes of UTF-8 on the stack.
#[derive(Clone, Copy)]
pub struct InlineText {
    buf: [u8; 48],
    len: u8,
}

impl InlineText {
    /// Capacity in bytes.
    pub const CAPACITY: usize = 48;

    /// Copies `text` in; `None` if it is longer than [`Self::CAPACITY`].
    pub fn new(text: &str) -> Option<Self> {
        let mut me = Self { buf: [0; 48], len: 0 };
        me.buf.get_mut(..text.len())?.copy_from_slice(text.as_bytes());
        me.len = text.len() as u8;
        Some(me)
    }

    /// Formats `value` (ids, numbers, addresses) without allocating.
    pub fn format(value: impl fmt::Display) -> Option<Self> {
        use fmt::Write;
        let mut me = Self { buf: [0; 48], len: 0 };
        write!(me, "{value}").ok()?;
        Some(me)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so this cannot fail.
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Write for InlineText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let start = self.len as usize;
        let end = start + s.len();
        self.buf.get_mut(start..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end as u8;
        Ok(())
    }
}

impl fmt::Debug for InlineText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// One session as the filter language sees it.
///
/// Implemented by the server's registry records (keys and roles as [`Sym`]s
/// of the registry's [`crate::intern::Interner`]) and by test fixtures.
/// Implementations must not allocate: filters are evaluated millions of times
/// a second (SPEC §9 P5).
pub trait PropertySource {
    /// The value of a fixed property. Every fixed property is always present
    /// (possibly empty).
    fn fixed(&self, key: FixedKey) -> PropValue<'_>;
    /// The value of a user property, `None` when the session lacks it.
    fn user(&self, key: Sym) -> Option<&str>;
    /// True when `role` is one of the session's assigned roles (not counting
    /// roles those roles include).
    fn has_role(&self, role: Sym) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_keys_by_name() {
        for k in FixedKey::ALL {
            assert_eq!(FixedKey::from_name(k.name()), Some(k));
        }
        assert_eq!(FixedKey::from_name("$principal"), None);
        assert_eq!(FixedKey::from_name("$ClientIP"), Some(FixedKey::ClientIp));
        assert!(FixedKey::Country.is_settable() && !FixedKey::Principal.is_settable());
    }

    #[test]
    fn user_keys() {
        for ok in ["a", "_", "Tier", "a.b-c_d9", &"k".repeat(256)] {
            assert_eq!(validate_user_key(ok), Ok(()), "{ok}");
        }
        for bad in ["", "9a", "-a", ".a", "a b", "$a", "é", &"k".repeat(257)] {
            assert!(matches!(validate_user_key(bad), Err(PropertyError::BadKey(_))), "{bad}");
        }
        for kw in ["and", "OR", "HasRoles", "all", "in", "Matches"] {
            assert!(matches!(validate_user_key(kw), Err(PropertyError::KeywordKey(_))), "{kw}");
        }
    }

    #[test]
    fn limits_name_the_key() {
        let lim = PropertyLimits { max_user_properties: 2, max_value_bytes: 4, max_total_bytes: 10 };
        assert_eq!(lim.check([("a", "1"), ("b", "22")]), Ok(()));
        let err = lim.check([("a", "12345")]).expect_err("value too long");
        assert!(matches!(err, PropertyError::Limit { ref key, limit: "max_value_bytes", .. } if key == "a"));
        let err = lim.check([("a", "1"), ("b", "1"), ("c", "1")]).expect_err("too many");
        assert!(
            matches!(err, PropertyError::Limit { ref key, limit: "max_user_properties", .. } if key == "c")
        );
        let err = lim.check([("aaaa", "1111"), ("bb", "22")]).expect_err("too big");
        assert!(matches!(err, PropertyError::Limit { ref key, limit: "max_total_bytes", .. } if key == "bb"));
    }

    #[test]
    fn roles_text_both_ways() {
        assert_eq!(roles_text(&["OPERATOR", "CLIENT", "CLIENT"]), r#""CLIENT","OPERATOR""#);
        assert_eq!(roles_text::<&str>(&[]), "");
        assert_eq!(
            parse_roles_text(r#""OPERATOR","CLIENT""#),
            Some(vec!["CLIENT".to_owned(), "OPERATOR".to_owned()])
        );
        assert_eq!(parse_roles_text(""), Some(vec![]));
        for bad in [r#"CLIENT"#, r#""CLIENT""#.repeat(2).as_str(), r#""A B""#, r#""""#, r#""A","#] {
            assert_eq!(parse_roles_text(bad), None, "{bad}");
        }
        let roles = ["B", "A", "C.1"];
        assert_eq!(parse_roles_text(&roles_text(&roles)), Some(vec!["A".into(), "B".into(), "C.1".into()]));
    }

    #[test]
    fn role_names() {
        assert!(is_valid_role_name("CLIENT_CONTROL") && is_valid_role_name("a.b-9"));
        assert!(
            !is_valid_role_name("") && !is_valid_role_name("A B") && !is_valid_role_name(&"A".repeat(65))
        );
    }

    #[test]
    fn inline_text() {
        let t = InlineText::format(crate::SessionId::new(1, 2)).expect("fits");
        assert_eq!(t.as_str(), "0000000000000001-0000000000000002");
        assert!(InlineText::new(&"x".repeat(49)).is_none());
        assert_eq!(PropValue::Inline(t).as_str(), "0000000000000001-0000000000000002");
    }
}
