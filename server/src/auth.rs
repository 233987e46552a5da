//! Password hashing and verification (SPEC §8).
//!
//! Hashes are argon2id in PHC format. Verification is CPU-heavy (tens of ms),
//! so it runs on a small pool of dedicated threads (`min(cores, 4)`) fed by a
//! bounded queue (256 by default): when the queue is full the login is refused
//! instead of letting a login flood starve the tokio workers that serve
//! established sessions. An unknown principal is verified against a dummy
//! hash, so the time taken does not reveal which principals exist. Nothing in
//! this module logs a password or a hash.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;
use tokio::sync::oneshot;

use usher_core::security::{AnonymousPolicy, SecurityStore};

/// Why a login did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong principal or password (deliberately not saying which).
    #[error("authentication failed")]
    Failed,
    /// Anonymous sessions are denied by configuration.
    #[error("anonymous sessions are not allowed")]
    AnonymousDenied,
    /// The verification queue is full.
    #[error("the server is busy verifying passwords; try again")]
    Busy,
}

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    Ok(hash.to_string())
}

/// Checks that `phc` is an argon2id PHC string.
#[cfg(test)]
pub fn check_phc(phc: &str) -> anyhow::Result<()> {
    let parsed = PasswordHash::new(phc).map_err(|e| anyhow::anyhow!("not a PHC hash: {e}"))?;
    if parsed.algorithm != argon2::Algorithm::Argon2id.ident() {
        anyhow::bail!("expected an argon2id hash, found {}", parsed.algorithm);
    }
    Ok(())
}

/// A random password for the embedded default (24 alphanumeric characters).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..24).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

fn verify(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default().verify_password(password.as_bytes(), &hash).is_ok(),
        Err(_) => false,
    }
}

struct Job {
    hash: Arc<str>,
    password: String,
    /// True when the principal is unknown: the result is discarded after the
    /// (dummy) verification so the time taken matches a real one.
    dummy: bool,
    reply: oneshot::Sender<bool>,
}

struct Principal {
    hash: Arc<str>,
    roles: Vec<String>,
}

struct Accounts {
    principals: BTreeMap<String, Principal>,
    anonymous: Option<Vec<String>>,
}

impl Accounts {
    fn from_store(store: &SecurityStore) -> Self {
        let principals = store
            .principals
            .iter()
            .map(|(name, p)| {
                (name.clone(), Principal { hash: Arc::from(p.password_hash()), roles: p.roles().to_vec() })
            })
            .collect();
        let anonymous = match &store.anonymous {
            AnonymousPolicy::Deny => None,
            AnonymousPolicy::Roles(roles) => Some(roles.clone()),
        };
        Self { principals, anonymous }
    }
}

/// Verifies hellos against the configured principals.
pub(crate) struct Authenticator {
    // Swapped whole on a store reload; a std RwLock: nothing awaits while
    // it is held (the Arc is cloned out before verification).
    accounts: std::sync::RwLock<Arc<Accounts>>,
    dummy_hash: Arc<str>,
    // Bounded: when full, `try_send` fails and the login is refused with
    // `AuthError::Busy` (the client sees AUTHENTICATION_FAILED with that reason).
    jobs: SyncSender<Job>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Starts the verification threads.
    pub(crate) fn new(store: &SecurityStore, threads: usize, queue: usize) -> anyhow::Result<Self> {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(4)
        } else {
            threads
        };
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for n in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new().name(format!("usher-auth-{n}")).spawn(move || {
                loop {
                    // A std Mutex around the receiver: each worker waits for
                    // the next job in turn; nothing async is involved.
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let ok = verify(&job.hash, &job.password);
                    let _ = job.reply.send(ok && !job.dummy);
                }
            })?;
        }
        Ok(Self {
            accounts: std::sync::RwLock::new(Arc::new(Accounts::from_store(store))),
            dummy_hash: Arc::from(hash_password("usher dummy password")?.as_str()),
            jobs: tx,
        })
    }

    /// Replaces the principals and the anonymous policy (store reload).
    pub(crate) fn replace(&self, store: &SecurityStore) {
        *self.accounts.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Accounts::from_store(store));
    }

    /// Authenticates a hello: `None` principal is anonymous. Returns the roles.
    pub(crate) async fn authenticate(
        &self,
        principal: Option<&str>,
        password: Option<&str>,
    ) -> Result<Vec<String>, AuthError> {
        let accounts = self.accounts.read().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(principal) = principal else {
            return accounts.anonymous.clone().ok_or(AuthError::AnonymousDenied);
        };
        let known = accounts.principals.get(principal);
        let (hash, dummy) = match known {
            Some(p) => (p.hash.clone(), false),
            None => (self.dummy_hash.clone(), true),
        };
        let (reply, rx) = oneshot::channel();
        let job = Job { hash, password: password.unwrap_or_default().to_owned(), dummy, reply };
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(AuthError::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(AuthError::Busy),
        }
        match rx.await {
            Ok(true) => Ok(known.map(|p| p.roles.clone()).unwrap_or_default()),
            _ => Err(AuthError::Failed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_known_and_refuses_unknown() -> anyhow::Result<()> {
        let hash = hash_password("pw")?;
        check_phc(&hash)?;
        let text = format!(
            "[anonymous]\nroles = [\"CLIENT\"]\n[principals.alice]\npassword_hash = \"{hash}\"\nroles = [\"CLIENT\"]\n"
        );
        let store = SecurityStore::from_toml(&text)?;
        let a = Authenticator::new(&store, 1, 4)?;
        assert_eq!(a.authenticate(Some("alice"), Some("pw")).await.ok(), Some(vec!["CLIENT".to_owned()]));
        assert!(matches!(a.authenticate(Some("alice"), Some("no")).await, Err(AuthError::Failed)));
        assert!(matches!(
            a.authenticate(Some("bob"), Some("usher dummy password")).await,
            Err(AuthError::Failed)
        ));
        assert_eq!(a.authenticate(None, None).await.ok(), Some(vec!["CLIENT".to_owned()]));
        Ok(())
    }
}
