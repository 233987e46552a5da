//! The checks a hello gets before any password is verified (SPEC §6, §2.2):
//! the first frame decodes as a hello, speaks this protocol version, names
//! a principal that could exist, and proposes properties within the limits
//! and the configured restrictions.
//!
//! No I/O and no shared state beyond the configuration, and public, so the
//! `hello` fuzz target (`fuzz/fuzz_targets/hello.rs`) and its regression test
//! (`server/tests/fuzz_regressions.rs`) run exactly what a connection runs.

use regex::Regex;
use usher_core::props::{PropertyError, PropertyLimits};
use usher_core::protocol::{ClientMessage, CloseReason, Hello, PROTOCOL_VERSION, decode};
use usher_core::security::is_valid_principal_name;
use usher_core::{Error, ErrorDetails, ErrorKind};

use crate::config::PropertiesSection;

/// Why a hello was refused: the `Reject` reason and its error.
pub type Refusal = (CloseReason, Error);

/// A compiled restriction on client-proposed values of one key.
#[derive(Debug)]
struct Restrict {
    regex: Option<Regex>,
    values: Option<Vec<String>>,
}

/// The property limits and compiled restrictions a hello is checked against.
#[derive(Debug)]
pub struct HelloRules {
    limits: PropertyLimits,
    restrictions: Vec<(String, Restrict)>,
}

impl HelloRules {
    /// Compiles the `[properties]` section's restrictions (whole-value
    /// regexes).
    pub fn new(properties: &PropertiesSection) -> anyhow::Result<Self> {
        let mut restrictions = Vec::new();
        for (key, r) in &properties.restrict {
            let regex = match &r.regex {
                // Anchored: the whole value must match.
                Some(re) => Some(Regex::new(&format!("^(?:{re})$"))?),
                None => None,
            };
            restrictions.push((key.clone(), Restrict { regex, values: r.values.clone() }));
        }
        Ok(Self { limits: properties.limits, restrictions })
    }

    /// Decodes a hello frame and checks it: the whole of what a connection
    /// does with its first frame before it verifies the password.
    pub fn check_frame(&self, frame: &[u8]) -> Result<Hello, Refusal> {
        let hello = decode_hello(frame)?;
        self.check(&hello)?;
        Ok(hello)
    }

    /// The principal's shape and the proposed properties. A principal name
    /// no store can hold is refused like a wrong password, without running
    /// argon2 (it reveals nothing: such a principal cannot exist).
    pub fn check(&self, hello: &Hello) -> Result<(), Refusal> {
        if hello.principal.as_deref().is_some_and(|p| !is_valid_principal_name(p)) {
            let error = Error::new(ErrorKind::AuthenticationFailed, "authentication failed");
            return Err((CloseReason::AuthenticationFailed, error));
        }
        // Proposed properties are untrusted: keys, sizes, restrictions.
        self.limits
            .check(hello.properties.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(property_refusal)?;
        for (key, r) in &self.restrictions {
            if let Some(value) = hello.properties.get(key) {
                let regex_ok = r.regex.as_ref().is_none_or(|re| re.is_match(value));
                let set_ok = r.values.as_ref().is_none_or(|vs| vs.iter().any(|v| v == value));
                if !regex_ok || !set_ok {
                    return Err((
                        CloseReason::ProtocolError,
                        Error::invalid_argument(
                            key.clone(),
                            format!("value of property {key:?} is not allowed"),
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn protocol_error(message: impl Into<String>) -> Refusal {
    (CloseReason::ProtocolError, Error::new(ErrorKind::Protocol, message))
}

/// Decodes the first frame as a hello of this protocol version.
pub fn decode_hello(frame: &[u8]) -> Result<Hello, Refusal> {
    match decode::<ClientMessage>(frame) {
        Ok(ClientMessage::Hello(hello)) => {
            if hello.version != PROTOCOL_VERSION {
                return Err(protocol_error(format!(
                    "unsupported protocol version {} (this server speaks version {PROTOCOL_VERSION})",
                    hello.version
                )));
            }
            Ok(hello)
        }
        Ok(_) => Err(protocol_error("the first message must be a hello")),
        Err(e) => Err(protocol_error(format!("the hello does not decode: {e}"))),
    }
}

fn property_refusal(e: PropertyError) -> Refusal {
    let err = match e {
        PropertyError::Limit { key, limit, max } => {
            Error::new(ErrorKind::LimitExceeded, format!("property {key:?} breaks the limit {limit} ({max})"))
                .with_details(ErrorDetails::Limit { limit: limit.to_owned(), key: Some(key), count: None })
        }
        other @ (PropertyError::BadKey(_) | PropertyError::KeywordKey(_) | PropertyError::ReadOnly(_)) => {
            let message = other.to_string();
            let (PropertyError::BadKey(k) | PropertyError::KeywordKey(k) | PropertyError::ReadOnly(k)) =
                other
            else {
                return (CloseReason::ProtocolError, Error::new(ErrorKind::InvalidArgument, message));
            };
            Error::invalid_argument(k, message)
        }
    };
    (CloseReason::ProtocolError, err)
}
