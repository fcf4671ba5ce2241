//! Who is calling. Today that is the master key or nobody (when none is
//! configured); virtual keys slot in here as one more `Principal` kind, and
//! everything downstream already receives the principal.

use crate::config::Secret;
use crate::error::GatewayError;

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No master key is configured: the gateway is open (local use).
    Anonymous,
    /// The caller presented the master key.
    Admin,
}

pub struct Authenticator {
    master_key: Option<Secret>,
}

impl Authenticator {
    pub fn new(master_key: Option<Secret>) -> Self {
        Self { master_key }
    }

    /// Checks an `Authorization` header value (HTTP header or gRPC metadata).
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, GatewayError> {
        let Some(master_key) = &self.master_key else {
            return Ok(Principal::Anonymous);
        };
        let presented = authorization.and_then(bearer_token).ok_or_else(|| {
            GatewayError::Unauthenticated(
                "missing bearer token: send `Authorization: Bearer <key>`".into(),
            )
        })?;
        if constant_time_eq(presented.as_bytes(), master_key.expose().as_bytes()) {
            Ok(Principal::Admin)
        } else {
            Err(GatewayError::Unauthenticated("invalid API key".into()))
        }
    }
}

fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares without an early exit, so response timing does not reveal how
/// much of a guessed key was right. (Five lines; not worth a dependency.)
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a master key everyone is let in; with one, only its bearer.
    #[test]
    fn master_key_gate() {
        let open = Authenticator::new(None);
        assert_eq!(open.authenticate(None).ok(), Some(Principal::Anonymous));
        let closed = Authenticator::new(Some(Secret::new("sk-master")));
        assert_eq!(
            closed.authenticate(Some("Bearer sk-master")).ok(),
            Some(Principal::Admin)
        );
        assert_eq!(
            closed.authenticate(Some("bearer  sk-master ")).ok(),
            Some(Principal::Admin)
        );
        for bad in [
            None,
            Some("sk-master"),
            Some("Bearer sk-mastex"),
            Some("Bearer "),
            Some("Basic sk-master"),
        ] {
            assert!(
                matches!(
                    closed.authenticate(bad),
                    Err(GatewayError::Unauthenticated(_))
                ),
                "{bad:?}"
            );
        }
    }
}
