//! Permissions: the eight global permissions, the four path permissions, their
//! bitsets, and [`Permissions`], the effective rights of a set of roles.
//!
//! [`Permissions`] is kept in a canonical form (see [`Permissions::new`]) so
//! that equality is semantic: two values are equal exactly when they grant the
//! same thing at every path. The same form makes the SPEC §2.3 "holds" rule a
//! finite check and keeps [`Permissions::path_allows`] allocation-free, since
//! it runs for every topic update and every subscriber.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

bitflags::bitflags! {
    /// A set of [`GlobalPermission`]s.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct GlobalPermissions: u8 {
        /// [`GlobalPermission::Authenticate`].
        const AUTHENTICATE = 1 << 0;
        /// [`GlobalPermission::ViewSession`].
        const VIEW_SESSION = 1 << 1;
        /// [`GlobalPermission::ModifySession`].
        const MODIFY_SESSION = 1 << 2;
        /// [`GlobalPermission::RegisterHandler`].
        const REGISTER_HANDLER = 1 << 3;
        /// [`GlobalPermission::ViewServer`].
        const VIEW_SERVER = 1 << 4;
        /// [`GlobalPermission::ControlServer`].
        const CONTROL_SERVER = 1 << 5;
        /// [`GlobalPermission::ViewSecurity`].
        const VIEW_SECURITY = 1 << 6;
        /// [`GlobalPermission::ModifySecurity`].
        const MODIFY_SECURITY = 1 << 7;
    }
}

bitflags::bitflags! {
    /// A set of [`PathPermission`]s.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct PathPermissions: u8 {
        /// [`PathPermission::ReadTopic`].
        const READ_TOPIC = 1 << 0;
        /// [`PathPermission::SelectTopic`].
        const SELECT_TOPIC = 1 << 1;
        /// [`PathPermission::UpdateTopic`].
        const UPDATE_TOPIC = 1 << 2;
        /// [`PathPermission::ModifyTopic`].
        const MODIFY_TOPIC = 1 << 3;
    }
}

/// A permission not tied to a topic path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GlobalPermission {
    /// Log in with a principal.
    Authenticate,
    /// See other sessions and their properties.
    ViewSession,
    /// Change or close other sessions.
    ModifySession,
    /// Register listeners and queue handlers.
    RegisterHandler,
    /// See server state.
    ViewServer,
    /// Control the server.
    ControlServer,
    /// See the security configuration.
    ViewSecurity,
    /// Change the security configuration; bypasses no-escalation and dominance.
    ModifySecurity,
}

impl GlobalPermission {
    /// Every global permission, in SPEC order.
    pub const ALL: [GlobalPermission; 8] = [
        GlobalPermission::Authenticate,
        GlobalPermission::ViewSession,
        GlobalPermission::ModifySession,
        GlobalPermission::RegisterHandler,
        GlobalPermission::ViewServer,
        GlobalPermission::ControlServer,
        GlobalPermission::ViewSecurity,
        GlobalPermission::ModifySecurity,
    ];

    /// The upper-snake name, e.g. `MODIFY_SESSION`.
    pub const fn name(self) -> &'static str {
        match self {
            GlobalPermission::Authenticate => "AUTHENTICATE",
            GlobalPermission::ViewSession => "VIEW_SESSION",
            GlobalPermission::ModifySession => "MODIFY_SESSION",
            GlobalPermission::RegisterHandler => "REGISTER_HANDLER",
            GlobalPermission::ViewServer => "VIEW_SERVER",
            GlobalPermission::ControlServer => "CONTROL_SERVER",
            GlobalPermission::ViewSecurity => "VIEW_SECURITY",
            GlobalPermission::ModifySecurity => "MODIFY_SECURITY",
        }
    }

    /// This permission as a one-element set.
    pub const fn bit(self) -> GlobalPermissions {
        match self {
            GlobalPermission::Authenticate => GlobalPermissions::AUTHENTICATE,
            GlobalPermission::ViewSession => GlobalPermissions::VIEW_SESSION,
            GlobalPermission::ModifySession => GlobalPermissions::MODIFY_SESSION,
            GlobalPermission::RegisterHandler => GlobalPermissions::REGISTER_HANDLER,
            GlobalPermission::ViewServer => GlobalPermissions::VIEW_SERVER,
            GlobalPermission::ControlServer => GlobalPermissions::CONTROL_SERVER,
            GlobalPermission::ViewSecurity => GlobalPermissions::VIEW_SECURITY,
            GlobalPermission::ModifySecurity => GlobalPermissions::MODIFY_SECURITY,
        }
    }
}

impl fmt::Display for GlobalPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GlobalPermission {
    type Err = UnknownPermission;

    /// Parses the exact (case-sensitive) upper-snake name.
    fn from_str(word: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.name() == word).ok_or_else(|| UnknownPermission(word.to_owned()))
    }
}

/// A permission on topic paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathPermission {
    /// Receive values.
    ReadTopic,
    /// Subscribe with a selector.
    SelectTopic,
    /// Set values.
    UpdateTopic,
    /// Add and remove topics.
    ModifyTopic,
}

impl PathPermission {
    /// Every path permission, in SPEC order.
    pub const ALL: [PathPermission; 4] = [
        PathPermission::ReadTopic,
        PathPermission::SelectTopic,
        PathPermission::UpdateTopic,
        PathPermission::ModifyTopic,
    ];

    /// The upper-snake name, e.g. `READ_TOPIC`.
    pub const fn name(self) -> &'static str {
        match self {
            PathPermission::ReadTopic => "READ_TOPIC",
            PathPermission::SelectTopic => "SELECT_TOPIC",
            PathPermission::UpdateTopic => "UPDATE_TOPIC",
            PathPermission::ModifyTopic => "MODIFY_TOPIC",
        }
    }

    /// This permission as a one-element set.
    pub const fn bit(self) -> PathPermissions {
        match self {
            PathPermission::ReadTopic => PathPermissions::READ_TOPIC,
            PathPermission::SelectTopic => PathPermissions::SELECT_TOPIC,
            PathPermission::UpdateTopic => PathPermissions::UPDATE_TOPIC,
            PathPermission::ModifyTopic => PathPermissions::MODIFY_TOPIC,
        }
    }
}

impl fmt::Display for PathPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PathPermission {
    type Err = UnknownPermission;

    /// Parses the exact (case-sensitive) upper-snake name.
    fn from_str(word: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.name() == word).ok_or_else(|| UnknownPermission(word.to_owned()))
    }
}

/// A word that is not the name of a permission of the expected kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission {0:?}")]
pub struct UnknownPermission(pub String);

impl GlobalPermissions {
    /// Parses a list of upper-snake names; the error names the first bad word.
    pub fn parse<S: AsRef<str>>(words: &[S]) -> Result<Self, UnknownPermission> {
        words.iter().try_fold(Self::empty(), |set, w| Ok(set | w.as_ref().parse::<GlobalPermission>()?.bit()))
    }

    /// True when `p` is in the set.
    pub const fn has(self, p: GlobalPermission) -> bool {
        self.contains(p.bit())
    }

    /// The members, in SPEC order.
    pub fn members(self) -> impl Iterator<Item = GlobalPermission> {
        GlobalPermission::ALL.into_iter().filter(move |p| self.has(*p))
    }
}

impl PathPermissions {
    /// Parses a list of upper-snake names; the error names the first bad word.
    pub fn parse<S: AsRef<str>>(words: &[S]) -> Result<Self, UnknownPermission> {
        words.iter().try_fold(Self::empty(), |set, w| Ok(set | w.as_ref().parse::<PathPermission>()?.bit()))
    }

    /// True when `p` is in the set.
    pub const fn has(self, p: PathPermission) -> bool {
        self.contains(p.bit())
    }

    /// The members, in SPEC order.
    pub fn members(self) -> impl Iterator<Item = PathPermission> {
        PathPermission::ALL.into_iter().filter(move |p| self.has(*p))
    }
}

/// The effective permissions of a set of roles: global permissions, default
/// path permissions, and path permissions assigned at specific topic paths.
///
/// At a path the nearest assigned ancestor (the path itself, then its parents)
/// wins, else the defaults. Canonical form: an assigned path is kept only when
/// it changes what its parent resolves to, so `==` compares behaviour, not
/// spelling.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Permissions {
    global: GlobalPermissions,
    default_path: PathPermissions,
    // A BTreeMap rather than a HashMap: deterministic `Debug` and iteration,
    // and lookups by `&str` slices of the caller's path need no allocation.
    paths: BTreeMap<Box<str>, PathPermissions>,
}

impl Permissions {
    /// Permissions from their parts, canonicalised. `paths` are resolved
    /// among themselves by nearest ancestor, exactly as one role's assigned
    /// paths are.
    pub fn new<P, I>(global: GlobalPermissions, default_path: PathPermissions, paths: I) -> Self
    where
        I: IntoIterator<Item = (P, PathPermissions)>,
        P: Into<Box<str>>,
    {
        let raw =
            Self { global, default_path, paths: paths.into_iter().map(|(p, s)| (p.into(), s)).collect() };
        raw.canonical()
    }

    /// No permissions at all (an anonymous session with no roles, an
    /// undefined role).
    pub fn none() -> Self {
        Self::default()
    }

    /// The global permissions.
    pub fn global(&self) -> GlobalPermissions {
        self.global
    }

    /// The default path permissions (where no assigned path applies).
    pub fn default_path(&self) -> PathPermissions {
        self.default_path
    }

    /// The assigned paths, in canonical form, sorted.
    pub fn assigned_paths(&self) -> impl Iterator<Item = (&str, PathPermissions)> {
        self.paths.iter().map(|(p, s)| (&**p, *s))
    }

    /// True when the global permission is granted.
    pub fn has(&self, p: GlobalPermission) -> bool {
        self.global.has(p)
    }

    /// The path permissions at `path`: the nearest assigned ancestor's, else
    /// the defaults. Never allocates.
    pub fn at(&self, path: &str) -> PathPermissions {
        if self.paths.is_empty() {
            return self.default_path;
        }
        let mut prefix = path;
        loop {
            if let Some(set) = self.paths.get(prefix) {
                return *set;
            }
            match prefix.rfind('/') {
                Some(i) => prefix = &prefix[..i],
                None => return self.default_path,
            }
        }
    }

    /// True when the path permission is granted at `path`. Never allocates.
    pub fn path_allows(&self, path: &str, p: PathPermission) -> bool {
        self.at(path).has(p)
    }

    /// The "holds" rule of SPEC §2.3: `self`'s global permissions are a
    /// superset of `other`'s, and `self`'s path permissions are a superset of
    /// `other`'s in the defaults and at every path either assigns.
    ///
    /// Checking those paths is the same as checking every path: any path
    /// resolves, in both, through its nearest ancestor among the union of the
    /// two assigned sets (or the defaults when there is none).
    pub fn holds(&self, other: &Permissions) -> bool {
        self.global.contains(other.global)
            && self.default_path.contains(other.default_path)
            && self.paths.keys().chain(other.paths.keys()).all(|p| self.at(p).contains(other.at(p)))
    }

    /// The union: at every path, what either grants there.
    pub fn union(&self, other: &Permissions) -> Permissions {
        if self.paths.is_empty() && other.paths.is_empty() {
            return Self {
                global: self.global | other.global,
                default_path: self.default_path | other.default_path,
                paths: BTreeMap::new(),
            };
        }
        // As in `holds`, every path resolves in both through its nearest
        // ancestor among the union of assigned paths, so pointwise union at
        // those paths (and the defaults) is the union everywhere.
        let paths = self
            .paths
            .keys()
            .chain(other.paths.keys())
            .map(|p| (p.clone(), self.at(p) | other.at(p)))
            .collect();
        Self {
            global: self.global | other.global,
            default_path: self.default_path | other.default_path,
            paths,
        }
        .canonical()
    }

    /// Drops every assigned path that grants what its parent resolves to.
    fn canonical(mut self) -> Self {
        let redundant: Vec<Box<str>> =
            self.paths.iter().filter(|(p, set)| self.parent_of(p) == **set).map(|(p, _)| p.clone()).collect();
        // Removing them all at once is sound: each removed entry equals what
        // its parent resolves to in the original table, so by induction every
        // path still resolves to the same set.
        for p in redundant {
            self.paths.remove(&p);
        }
        self
    }

    /// What `path`'s parent resolves to (the defaults for a top-level path).
    fn parent_of(&self, path: &str) -> PathPermissions {
        match path.rfind('/') {
            Some(i) => self.at(&path[..i]),
            None => self.default_path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: PathPermissions = PathPermissions::READ_TOPIC;
    const S: PathPermissions = PathPermissions::SELECT_TOPIC;
    const U: PathPermissions = PathPermissions::UPDATE_TOPIC;
    const M: PathPermissions = PathPermissions::MODIFY_TOPIC;
    const NONE: PathPermissions = PathPermissions::empty();

    fn perms(
        global: GlobalPermissions,
        default: PathPermissions,
        paths: &[(&str, PathPermissions)],
    ) -> Permissions {
        Permissions::new(global, default, paths.iter().map(|(p, s)| (*p, *s)))
    }

    fn paths(default: PathPermissions, paths: &[(&str, PathPermissions)]) -> Permissions {
        perms(GlobalPermissions::empty(), default, paths)
    }

    #[test]
    fn names_round_trip_and_display() {
        for p in GlobalPermission::ALL {
            assert_eq!(p.to_string().parse::<GlobalPermission>(), Ok(p));
            assert!(p.name().bytes().all(|c| c.is_ascii_uppercase() || c == b'_'));
        }
        for p in PathPermission::ALL {
            assert_eq!(p.to_string().parse::<PathPermission>(), Ok(p));
        }
        assert_eq!(GlobalPermission::ModifySecurity.to_string(), "MODIFY_SECURITY");
        assert_eq!(PathPermission::SelectTopic.to_string(), "SELECT_TOPIC");
        assert_eq!(GlobalPermissions::all().members().count(), 8);
        assert_eq!(PathPermissions::all().members().count(), 4);
    }

    #[test]
    fn parse_names_the_bad_word() {
        assert_eq!(
            GlobalPermissions::parse(&["VIEW_SESSION", "MODIFY_SESSION"]),
            Ok(GlobalPermissions::VIEW_SESSION | GlobalPermissions::MODIFY_SESSION)
        );
        assert_eq!(GlobalPermissions::parse::<&str>(&[]), Ok(GlobalPermissions::empty()));
        assert_eq!(
            GlobalPermissions::parse(&["view_session"]),
            Err(UnknownPermission("view_session".into()))
        );
        assert_eq!(GlobalPermissions::parse(&["READ_TOPIC"]), Err(UnknownPermission("READ_TOPIC".into())));
        assert_eq!(PathPermissions::parse(&["READ_TOPIC", "READ_TOPIC"]), Ok(R));
        let err = PathPermissions::parse(&["READ_TOPIC", "WRITE_TOPIC"]).expect_err("bad word");
        assert_eq!(err.to_string(), r#"unknown permission "WRITE_TOPIC""#);
    }

    #[test]
    fn nearest_ancestor_then_defaults() {
        let p = paths(R | S, &[("a", U), ("a/b/c", M), ("x/y", NONE)]);
        assert_eq!(p.at("a"), U);
        assert_eq!(p.at("a/b"), U, "inherits from a");
        assert_eq!(p.at("a/b/c"), M);
        assert_eq!(p.at("a/b/c/d/e"), M);
        assert_eq!(p.at("a/bc"), U, "segment boundary, not string prefix");
        assert_eq!(p.at("ab"), R | S, "'ab' is not under 'a'");
        assert_eq!(p.at("x"), R | S);
        assert_eq!(p.at("x/y/z"), NONE, "an assignment can take permissions away");
        assert_eq!(p.at("zzz"), R | S);
        assert!(p.path_allows("a/b/c/d", PathPermission::ModifyTopic));
        assert!(!p.path_allows("a/b/c/d", PathPermission::ReadTopic));
        assert!(p.path_allows("q", PathPermission::SelectTopic));
    }

    #[test]
    fn canonical_form_makes_equality_semantic() {
        // "a" equal to the defaults and "a/b" equal to "a" are redundant.
        assert_eq!(paths(R, &[("a", R), ("a/b", R)]), paths(R, &[]));
        assert_eq!(paths(R, &[("a", U), ("a/b", U), ("a/b/c", R)]), paths(R, &[("a", U), ("a/b/c", R)]));
        // Not redundant: differs from its parent.
        assert_ne!(paths(R, &[("a", U)]), paths(R, &[]));
        assert_eq!(paths(R, &[("a", U)]).assigned_paths().collect::<Vec<_>>(), vec![("a", U)]);
    }

    #[test]
    fn union_is_pointwise() {
        let a = paths(R, &[("x", NONE), ("y/z", M)]);
        let b = paths(S, &[("x/q", U)]);
        let u = a.union(&b);
        for path in ["", "x", "x/q", "x/q/r", "x/w", "y", "y/z", "y/z/1", "other"] {
            assert_eq!(u.at(path), a.at(path) | b.at(path), "{path}");
        }
        assert_eq!(u, b.union(&a));
        assert_eq!(u.union(&u), u);
        let g = perms(GlobalPermissions::VIEW_SESSION, NONE, &[]);
        assert!(a.union(&g).has(GlobalPermission::ViewSession));
        assert!(!a.has(GlobalPermission::ViewSession));
    }

    #[test]
    fn holds_globals() {
        let vs = perms(GlobalPermissions::VIEW_SESSION, NONE, &[]);
        let vsms = perms(GlobalPermissions::VIEW_SESSION | GlobalPermissions::MODIFY_SESSION, NONE, &[]);
        assert!(vsms.holds(&vs));
        assert!(!vs.holds(&vsms));
        assert!(vs.holds(&vs), "reflexive");
        assert!(vs.holds(&Permissions::none()), "everything holds nothing");
        assert!(!Permissions::none().holds(&vs));
        let ms = perms(GlobalPermissions::MODIFY_SESSION, NONE, &[]);
        assert!(!vs.holds(&ms) && !ms.holds(&vs), "incomparable");
    }

    #[test]
    fn holds_defaults() {
        assert!(paths(R | S, &[]).holds(&paths(R, &[])));
        assert!(!paths(R, &[]).holds(&paths(R | S, &[])));
        // Globals do not make up for path permissions.
        let admin_no_paths = perms(GlobalPermissions::all(), NONE, &[]);
        assert!(!admin_no_paths.holds(&paths(R, &[])));
    }

    #[test]
    fn holds_at_a_path_only_the_other_assigns() {
        // B assigns more at "secret" than A's defaults give.
        let a = paths(R, &[]);
        let b = paths(R, &[("secret", R | U)]);
        assert!(!a.holds(&b));
        assert!(b.holds(&a));
        // B assigns less at "secret": A still holds it.
        let b = paths(R, &[("secret", NONE)]);
        assert!(a.holds(&b));
        assert!(!b.holds(&a), "A reads 'secret', B does not");
    }

    #[test]
    fn holds_at_a_path_only_self_assigns() {
        // A restricts "a" below its defaults; B reads everywhere by default.
        let a = paths(R | S, &[("a", NONE)]);
        let b = paths(R, &[]);
        assert!(!a.holds(&b), "B reads 'a', A does not");
        let a = paths(R, &[("a", R | M)]);
        assert!(a.holds(&b));
    }

    #[test]
    fn holds_nested_paths() {
        // A: defaults R, "a" gives R|U, "a/b" drops to R.
        let a = paths(R, &[("a", R | U), ("a/b", R)]);
        // B: U under "a/b/c" only.
        let b = paths(R, &[("a/b/c", R | U)]);
        assert!(!a.holds(&b), "at a/b/c A resolves through a/b to R only");
        // B: U at "a", which also covers "a/b" in B but not in A.
        let b = paths(R, &[("a", R | U)]);
        assert!(!a.holds(&b), "at a/b B has U (inherited), A not");
        assert!(b.holds(&a));
        // A grants U at a/b/c again: now A holds the a/b/c-only B.
        let a = paths(R, &[("a", R | U), ("a/b", R), ("a/b/c", R | U)]);
        assert!(a.holds(&paths(R, &[("a/b/c", R | U)])));
        assert!(a.holds(&paths(R, &[("a/b/c/d", R | U), ("a/x", U)])));
        assert!(!a.holds(&paths(R, &[("a/b/d", U)])));
    }

    #[test]
    fn holds_agrees_with_pointwise_check() {
        // Brute force over a small universe of paths: holds == "superset at
        // every path", for many pairs built from a fixed menu of assignments.
        let universe = ["", "a", "a/b", "a/b/c", "a/b/c/d", "a/c", "b", "b/a", "c"];
        let menu: [&[(&str, PathPermissions)]; 7] = [
            &[],
            &[("a", U)],
            &[("a/b", NONE)],
            &[("a", R | U), ("a/b", R)],
            &[("a/b/c", M | R)],
            &[("b", S), ("a/c", R | S | U)],
            &[("a", NONE), ("a/b/c", R | S)],
        ];
        let defaults = [NONE, R, R | S];
        let mut all = Vec::new();
        for d in defaults {
            for m in menu {
                all.push(paths(d, m));
            }
        }
        for x in &all {
            for y in &all {
                let pointwise = universe.iter().all(|p| x.at(p).contains(y.at(p)));
                assert_eq!(x.holds(y), pointwise, "{x:?} holds {y:?}");
            }
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Paths that nest in every way: siblings, parents, string prefixes
        /// that are not path prefixes ("a/bc" vs "a/b").
        const UNIVERSE: [&str; 10] =
            ["a", "a/b", "a/b/c", "a/bc", "a/b/c/d", "b", "b/a", "ab", "c", "zz/top"];

        fn table() -> impl Strategy<Value = (u8, Vec<(usize, u8)>)> {
            (0u8..16, proptest::collection::vec((0usize..8, 0u8..16), 0..6))
        }

        fn build(
            (default, entries): &(u8, Vec<(usize, u8)>),
        ) -> (Permissions, Vec<(&'static str, PathPermissions)>) {
            let entries: Vec<_> = entries
                .iter()
                .map(|(i, s)| (UNIVERSE[*i], PathPermissions::from_bits_truncate(*s)))
                .collect();
            let d = PathPermissions::from_bits_truncate(*default);
            (paths(d, &entries), entries)
        }

        /// Nearest-ancestor resolution straight from the raw entries (last
        /// entry wins for a repeated path, as in a map built from them).
        fn naive(default: u8, entries: &[(&str, PathPermissions)], path: &str) -> PathPermissions {
            let mut best: Option<(usize, PathPermissions)> = None;
            for (p, s) in entries {
                let is_ancestor =
                    path == *p || path.strip_prefix(p).is_some_and(|rest| rest.starts_with('/'));
                if is_ancestor && best.is_none_or(|(len, _)| p.len() >= len) {
                    best = Some((p.len(), *s));
                }
            }
            best.map_or(PathPermissions::from_bits_truncate(default), |(_, s)| s)
        }

        proptest! {
            #[test]
            fn canonical_resolution_matches_naive(t in table()) {
                let (p, entries) = build(&t);
                for path in UNIVERSE.iter().chain(&["", "a/b/c/d/e", "q"]) {
                    prop_assert_eq!(p.at(path), naive(t.0, &entries, path), "{}", path);
                }
            }

            #[test]
            fn union_and_holds_are_pointwise(x in table(), y in table()) {
                let ((a, _), (b, _)) = (build(&x), build(&y));
                let u = a.union(&b);
                let mut every = UNIVERSE.to_vec();
                every.extend(["", "a/b/c/d/e", "q"]);
                for path in &every {
                    prop_assert_eq!(u.at(path), a.at(path) | b.at(path));
                }
                let pointwise = every.iter().all(|p| a.at(p).contains(b.at(p)));
                prop_assert_eq!(a.holds(&b), pointwise);
                prop_assert!(u.holds(&a) && u.holds(&b));
            }
        }
    }
}
