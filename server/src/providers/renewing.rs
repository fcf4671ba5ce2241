//! A credential that expires (an OAuth2 access token, a role's AWS keys),
//! shared by every request of one deployment. It is fetched on first use
//! and again shortly before it expires; if that renewal fails, the one held
//! is used until it does expire. Requests arriving during a fetch wait for
//! it instead of starting their own, and take its answer, whatever it is:
//! against an endpoint that does not answer, or one handing out credentials
//! already expired (a clock running ahead), N waiting requests would
//! otherwise make N fetches in turn.
//!
//! EC2 instance profile keys are "statically stable", as AWS's SDKs treat
//! them: keys the metadata service hands out already expired, or fails to
//! renew, are used 10 to 15 minutes more. AWS accepts recently expired
//! instance keys, so an outage of the metadata service or of its keys'
//! renewal does not stop Bedrock requests.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::Mutex;

use crate::error::GatewayError;

/// How long before its expiry a credential is replaced: requests in flight
/// with the old one still finish, and clocks may disagree a little.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// The longest a credential is taken to last, whatever its issuer says:
/// none lives longer than a day, and adding it to a clock must not
/// overflow.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// How long a credential is used before it is fetched again when its
/// renewal failed, or when it arrived with less than `REFRESH_MARGIN` left.
const RENEWAL_RETRY: Duration = Duration::from_secs(30);

/// How long statically stable keys are used past their expiry at least;
/// up to `STALE_USE_JITTER_SECS` more, so that a fleet does not ask again in
/// step. (AWS's Rust SDK: 10 minutes and up to 5 more.)
const STALE_USE: Duration = Duration::from_secs(600);
const STALE_USE_JITTER_SECS: u16 = 300;

pub struct Renewing<T> {
    state: Mutex<State<T>>,
    /// Set by [`Renewing::forget`] while the state was busy: the next
    /// `get` drops what is held.
    forgotten: AtomicBool,
    /// Expired credentials are used a while more (`statically_stable`).
    statically_stable: bool,
    /// What is held, and for which provider, for the log.
    what: &'static str,
    provider: &'static str,
}

struct State<T> {
    held: Option<Held<T>>,
    /// The last fetch that failed with nothing held to fall back on: when
    /// it ended, and why.
    failed: Option<(Instant, GatewayError)>,
}

struct Held<T> {
    value: T,
    /// When the fetch that brought it ended.
    fetched_at: Instant,
    refresh_at: Instant,
    expires_at: Instant,
}

impl<T> Renewing<T> {
    /// `what` names the credential ("access token") and `provider` its
    /// deployment's provider in the log.
    pub fn new(what: &'static str, provider: &'static str) -> Self {
        Self {
            state: Mutex::new(State {
                held: None,
                failed: None,
            }),
            forgotten: AtomicBool::new(false),
            statically_stable: false,
            what,
            provider,
        }
    }

    /// For EC2 instance profile keys: used 10 to 15 minutes past their
    /// expiry when they arrive expired or their renewal fails (see above).
    pub fn statically_stable(what: &'static str, provider: &'static str) -> Self {
        Self {
            statically_stable: true,
            ..Self::new(what, provider)
        }
    }
}

impl<T: Clone> Renewing<T> {
    /// The credential, from `fetch` when none is held or the one held is
    /// due for renewal. `fetch` yields the credential and how long it lasts
    /// from when it was asked for; it is called only when it is needed, and
    /// its future is boxed then, so that every request's wait for a held
    /// credential stays small.
    pub async fn get<F>(&self, fetch: impl FnOnce() -> F) -> Result<T, GatewayError>
    where
        F: Future<Output = Result<(T, Duration), GatewayError>>,
    {
        let (what, provider) = (self.what, self.provider);
        let arrived = Instant::now();
        let mut state = self.state.lock().await;
        if self.forgotten.swap(false, Ordering::Relaxed) {
            state.held = None;
        }
        let now = Instant::now();
        if let Some(held) =
            (state.held.as_ref()).filter(|h| now < h.refresh_at || h.fetched_at > arrived)
        {
            return Ok(held.value.clone());
        }
        if let Some((ended, error)) = &state.failed
            && *ended > arrived
        {
            return Err(error.clone());
        }
        match Box::pin(fetch()).await {
            Ok((value, mut lifetime)) => {
                // What a request refused meanwhile is replaced already.
                self.forgotten.store(false, Ordering::Relaxed);
                if lifetime.is_zero() && self.statically_stable {
                    lifetime = stale_use();
                    tracing::warn!(
                        provider,
                        "{what} arrived expired; used for {} s more",
                        lifetime.as_secs()
                    );
                }
                let fetched_at = Instant::now();
                let (refresh_at, expires_at) = renewal(now, lifetime, fetched_at);
                state.held = Some(Held {
                    value: value.clone(),
                    fetched_at,
                    refresh_at,
                    expires_at,
                });
                state.failed = None;
                Ok(value)
            }
            Err(error) => {
                let now = Instant::now();
                let usable = |h: &&mut Held<T>| now < h.expires_at || self.statically_stable;
                let Some(held) = state.held.as_mut().filter(usable) else {
                    state.failed = Some((now, error.clone()));
                    return Err(error);
                };
                tracing::warn!(provider, "{what} not renewed: {error}");
                if now < held.expires_at {
                    // Tried again later, not by every request in between.
                    held.refresh_at = (now + RENEWAL_RETRY).min(held.expires_at);
                } else {
                    (held.refresh_at, held.expires_at) = renewal(now, stale_use(), now);
                }
                Ok(held.value.clone())
            }
        }
    }

    /// Drops the credential held, which the provider refused (revoked, or
    /// expired early), so the next request fetches another. Never waits
    /// behind a fetch: when the state is busy, the next `get` drops it.
    pub fn forget(&self) {
        match self.state.try_lock() {
            Ok(mut state) => state.held = None,
            Err(_) => self.forgotten.store(true, Ordering::Relaxed),
        }
    }
}

/// How long statically stable keys are used past their expiry this time.
fn stale_use() -> Duration {
    let mut random = [0; 2];
    // The system's randomness failing leaves the jitter at zero.
    let _ = SystemRandom::new().fill(&mut random);
    let jitter = u16::from_le_bytes(random) % (STALE_USE_JITTER_SECS + 1);
    STALE_USE + Duration::from_secs(jitter.into())
}

/// When a credential asked for at `started` and lasting `lifetime` is
/// renewed, and when it expires. Both count from the request, so a slow
/// endpoint cannot make us hold it past its expiry. One handed out close to
/// its expiry (the EC2 metadata service rotates keys only minutes before)
/// is kept a while rather than fetched again by every request.
fn renewal(started: Instant, lifetime: Duration, now: Instant) -> (Instant, Instant) {
    let expires_at = started + lifetime;
    let refresh_at = (started + lifetime.saturating_sub(REFRESH_MARGIN))
        .max(now + RENEWAL_RETRY)
        .min(expires_at);
    (refresh_at, expires_at)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn refused() -> GatewayError {
        GatewayError::UpstreamUnavailable {
            provider: "test",
            message: "the endpoint is down".into(),
        }
    }

    async fn get(
        renewing: &Renewing<&'static str>,
        fetched: Result<(&'static str, Duration), GatewayError>,
    ) -> Result<&'static str, GatewayError> {
        renewing.get(|| async { fetched }).await
    }

    /// A credential is fetched once and then held until it is due; one
    /// the provider refused is fetched again, also when it is refused
    /// while another request holds the state.
    #[tokio::test]
    async fn held_until_due_or_forgotten() {
        let renewing = Renewing::new("token", "test");
        let got = async |fetched| get(&renewing, Ok((fetched, HOUR))).await.ok();
        assert_eq!(got("first").await, Some("first"));
        assert_eq!(got("second").await, Some("first"));
        renewing.forget();
        assert_eq!(got("third").await, Some("third"));
        let busy = renewing.state.lock().await;
        renewing.forget();
        drop(busy);
        assert_eq!(got("fourth").await, Some("fourth"));
        due(&renewing).await;
        assert_eq!(got("fifth").await, Some("fifth"));
    }

    /// A failed renewal keeps a credential that has not expired, and is
    /// tried again in 30 s rather than by every request; an expired one is
    /// not kept.
    #[tokio::test]
    async fn failed_renewal_keeps_an_unexpired_credential() {
        let renewing = Renewing::new("token", "test");
        get(&renewing, Ok(("kept", Duration::from_secs(120))))
            .await
            .expect("fetched");
        due(&renewing).await;
        let tried = AtomicUsize::new(0);
        let failing = async {
            tried.fetch_add(1, Ordering::SeqCst);
            Err(refused())
        };
        let kept = renewing.get(|| failing).await;
        assert_eq!((kept.ok(), tried.load(Ordering::SeqCst)), (Some("kept"), 1));
        let state = renewing.state.lock().await;
        let retry_in = state.held.as_ref().expect("held").refresh_at - Instant::now();
        assert!(retry_in > Duration::from_secs(25), "{retry_in:?}");
        drop(state);

        let renewing = Renewing::new("token", "test");
        get(&renewing, Ok(("expired", Duration::ZERO)))
            .await
            .expect("fetched");
        let error = get(&renewing, Err(refused())).await;
        assert!(
            matches!(error, Err(GatewayError::UpstreamUnavailable { .. })),
            "{error:?}"
        );
    }

    /// Statically stable keys (EC2's): arriving expired, they are held 10
    /// to 15 minutes, not fetched by every request; when their renewal
    /// fails after expiry they are used again that long. A refusal still
    /// drops them.
    #[tokio::test]
    async fn statically_stable_keys_outlive_their_expiry() {
        let renewing = Renewing::statically_stable("token", "test");
        let minute = Duration::from_secs(60);
        let held_for = async |renewing: &Renewing<_>| {
            let state = renewing.state.lock().await;
            let held = state.held.as_ref().expect("held");
            (
                held.refresh_at - Instant::now(),
                held.expires_at - Instant::now(),
            )
        };
        let got = get(&renewing, Ok(("expired", Duration::ZERO))).await;
        assert_eq!(got.ok(), Some("expired"));
        let got = get(&renewing, Ok(("another", Duration::ZERO))).await;
        assert_eq!(got.ok(), Some("expired"), "held, not fetched again");
        let (refresh_in, expires_in) = held_for(&renewing).await;
        assert!(
            refresh_in > 4 * minute && refresh_in <= 10 * minute,
            "{refresh_in:?}"
        );
        assert!(
            expires_in > 9 * minute && expires_in <= 15 * minute,
            "{expires_in:?}"
        );

        let mut state = renewing.state.lock().await;
        let held = state.held.as_mut().expect("held");
        (held.refresh_at, held.expires_at) = (Instant::now(), Instant::now());
        drop(state);
        let got = get(&renewing, Err(refused())).await;
        assert_eq!(got.ok(), Some("expired"), "kept through a failed renewal");
        let (refresh_in, _) = held_for(&renewing).await;
        assert!(refresh_in > 4 * minute, "{refresh_in:?}");

        renewing.forget();
        let got = get(&renewing, Err(refused())).await;
        assert!(got.is_err(), "{got:?}");
    }

    /// Makes the credential held due for renewal now.
    async fn due(renewing: &Renewing<&'static str>) {
        let mut state = renewing.state.lock().await;
        state.held.as_mut().expect("held").refresh_at = Instant::now();
    }

    /// Requests that waited for a fetch take its answer instead of each
    /// fetching again, even when it failed or brought a credential already
    /// expired; a request arriving afterwards fetches again.
    #[tokio::test]
    async fn waiting_requests_share_a_fetch() {
        for answer in [Err(refused()), Ok(("expired", Duration::ZERO))] {
            let renewing = Arc::new(Renewing::<&'static str>::new("token", "test"));
            let fetches = Arc::new(AtomicUsize::new(0));
            let request = || {
                let (renewing, fetches) = (renewing.clone(), fetches.clone());
                let answer = answer.clone();
                async move {
                    let fetch = async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        answer
                    };
                    renewing.get(|| fetch).await
                }
            };

            let busy = renewing.state.lock().await;
            let waiting: Vec<_> = (0..3).map(|_| tokio::spawn(request())).collect();
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(busy);
            for waited in waiting {
                let result = waited.await.expect("joined");
                assert_eq!(result.is_ok(), answer.is_ok(), "{result:?}");
            }
            assert_eq!(fetches.load(Ordering::SeqCst), 1, "one fetch for three");
            request().await.ok();
            assert_eq!(fetches.load(Ordering::SeqCst), 2, "a later request fetches");
        }
    }

    /// Renewed 5 minutes before expiry; a credential arriving with less
    /// left than that is kept 30 s (never past its expiry).
    #[test]
    fn renewal_times() {
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        assert_eq!(
            renewal(now, 60 * minute, now),
            (now + 55 * minute, now + 60 * minute)
        );
        assert_eq!(
            renewal(now, 4 * minute, now),
            (now + RENEWAL_RETRY, now + 4 * minute)
        );
        let nearly_gone = Duration::from_secs(10);
        assert_eq!(
            renewal(now, nearly_gone, now),
            (now + nearly_gone, now + nearly_gone)
        );
        assert_eq!(renewal(now, Duration::ZERO, now), (now, now));
    }
}
