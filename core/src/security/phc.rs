//! Checks that a stored password hash is an argon2id PHC string
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) that the server's argon2
//! verifier will accept, so a bad store is refused at load rather than at the
//! first login. Parsing uses the `password-hash` crate, the same parser the
//! `argon2` crate uses; the argon2-specific limits are checked here.
//!
//! Problems are reported as fixed phrases: never a piece of the string, which
//! may be a secret (a plain-text password put in the wrong field).

use password_hash::{PasswordHash, Salt};

/// The argon2 version this store accepts (0x13, the current one).
const VERSION: u32 = 19;
/// argon2's smallest salt, in bytes.
const MIN_SALT_BYTES: usize = 8;
/// argon2's largest degree of parallelism.
const MAX_P: u32 = 0xFF_FFFF;

/// Why a string is not an acceptable hash. The message never quotes it.
pub(crate) fn check_argon2id(s: &str) -> Result<(), &'static str> {
    if !s.starts_with('$') {
        return Err("not a PHC string (plain-text passwords are never accepted; use `usher hash-password`)");
    }
    let hash = PasswordHash::new(s).map_err(|_| "not a well-formed PHC string")?;
    if hash.algorithm.as_str() != "argon2id" {
        return Err("the algorithm must be argon2id");
    }
    if hash.version.is_some_and(|v| v != VERSION) {
        return Err("the argon2 version must be v=19");
    }
    let (mut m, mut t, mut p) = (None, None, None);
    for (name, value) in hash.params.iter() {
        let slot = match name.as_str() {
            "m" => &mut m,
            "t" => &mut t,
            "p" => &mut p,
            _ => return Err("unexpected parameter (only m, t and p are allowed)"),
        };
        *slot = Some(value.decimal().map_err(|_| "parameters m, t and p must be decimal numbers")?);
    }
    let (Some(m), Some(t), Some(p)) = (m, t, p) else {
        return Err("parameters m, t and p are all required");
    };
    if t < 1 {
        return Err("t (iterations) must be at least 1");
    }
    if !(1..=MAX_P).contains(&p) {
        return Err("p (parallelism) must be between 1 and 16777215");
    }
    if u64::from(m) < 8 * u64::from(p) {
        return Err("m (memory, KiB) must be at least 8 times p");
    }
    let salt: Salt<'_> = hash.salt.ok_or("the salt is missing")?;
    let mut buf = [0u8; 64];
    let salt = salt.decode_b64(&mut buf).map_err(|_| "the salt is not valid base64")?;
    if salt.len() < MIN_SALT_BYTES {
        return Err("the salt must be at least 8 bytes");
    }
    if hash.hash.is_none() {
        return Err("the hash output is missing");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-formed argon2id hash with the argon2 crate's default parameters
    /// (its output is made up: these tests check the format, not a password).
    const GOOD: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Z0q3C5q7p6V8l3r7d1x8mN7o0kq1o2o3o4o5o6o7o8o";

    #[test]
    fn accepts_argon2id() {
        assert_eq!(check_argon2id(GOOD), Ok(()));
        // The version may be left out (argon2 then assumes v=19).
        let no_version = GOOD.replace("$v=19", "");
        assert_eq!(check_argon2id(&no_version), Ok(()));
    }

    #[test]
    fn refuses_everything_else_without_quoting_it() {
        let cases: &[(&str, &str)] = &[
            ("hunter2", "not a PHC string"),
            ("", "not a PHC string"),
            ("$argon2id$", "not a well-formed PHC string"),
            (&GOOD.replace("argon2id", "argon2i"), "must be argon2id"),
            (&GOOD.replace("argon2id", "bcrypt"), "must be argon2id"),
            (&GOOD.replace("v=19", "v=16"), "version"),
            (&GOOD.replace("m=19456,t=2,p=1", "m=19456,t=2"), "all required"),
            (&GOOD.replace("t=2", "t=0"), "t (iterations)"),
            (&GOOD.replace("p=1", "p=0"), "p (parallelism)"),
            (&GOOD.replace("m=19456", "m=4"), "at least 8 times p"),
            (&GOOD.replace("p=1", "p=1,keyid=abcd"), "unexpected parameter"),
            (&GOOD.replace("c29tZXNhbHRzb21lc2FsdA", "c2FsdA"), "at least 8 bytes"),
            ("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA", "output is missing"),
            ("$argon2id$v=19$m=19456,t=2,p=1", "salt is missing"),
        ];
        for (input, expected) in cases {
            let err = check_argon2id(input).expect_err(input);
            assert!(err.contains(expected), "{input}: {err}");
            if !input.is_empty() {
                assert!(!err.contains(*input), "the reason must not quote the input");
            }
        }
    }
}
