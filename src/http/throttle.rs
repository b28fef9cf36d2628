//! Wrong API tokens, throttled per client address and overall: the one check of a presented
//! token, for the API's bearer header and the dashboard's sign-in form alike.
//!
//! A throttled attempt is answered 429 without its token being looked at, so guessing gets no
//! faster by ignoring the 429s; a right token from an address that is not throttled passes at
//! once, with no delay added. The address is the TCP peer's: `X-Forwarded-For` is not
//! trusted, since any client can write it and would get a fresh address for every guess
//! (behind a proxy, its clients share the proxy's address, and so its throttle).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::Secret;

/// Wrong tokens one address may send in a row...
const ADDRESS_BURST: f64 = 10.0;
/// ...and then one more each time this passes.
const ADDRESS_REFILL: Duration = Duration::from_secs(6);
/// Wrong tokens from all addresses together in a row, and then one more each time
/// [`GLOBAL_REFILL`] passes. Beyond that ceiling only addresses with no wrong token in the
/// last [`MEMORY`] are heard (each once), so many addresses guessing at once cannot add up
/// to a fast guesser, and a user who never got it wrong is not locked out by them.
const GLOBAL_BURST: f64 = 100.0;
const GLOBAL_REFILL: Duration = Duration::from_millis(600);
/// How long an address is remembered after its last wrong token.
const MEMORY: Duration = Duration::from_secs(15 * 60);
/// Addresses remembered at most; beyond it, new ones count as remembered.
const MAX_ADDRESSES: usize = 100_000;

/// What a presented token gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// Missing or wrong.
    Refused,
    /// Not looked at: too many wrong ones came from this address, or from everywhere.
    Throttled {
        /// Whole seconds until an attempt is heard again (for `Retry-After`).
        retry_after: u64,
    },
}

/// The failures counted so far.
#[derive(Debug, Default)]
pub struct Throttle {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    addresses: HashMap<IpAddr, Leaky>,
    global: Leaky,
}

/// A count of wrong tokens that drains at a steady rate.
#[derive(Debug, Clone, Copy)]
struct Leaky {
    level: f64,
    at: Option<Instant>,
}

impl Default for Leaky {
    fn default() -> Leaky {
        Leaky {
            level: 0.0,
            at: None,
        }
    }
}

impl Leaky {
    fn level(&self, now: Instant, refill: Duration) -> f64 {
        let drained = self.at.map_or(0.0, |at| {
            now.saturating_duration_since(at).as_secs_f64() / refill.as_secs_f64()
        });
        (self.level - drained).max(0.0)
    }

    fn add(&mut self, now: Instant, refill: Duration, ceiling: f64) {
        self.level = (self.level(now, refill) + 1.0).min(ceiling);
        self.at = Some(now);
    }

    /// How long until one more failure fits under `burst`, if it does not now.
    fn wait(&self, now: Instant, refill: Duration, burst: f64) -> Option<Duration> {
        let over = self.level(now, refill) - (burst - 1.0);
        (over > 0.0).then(|| refill.mul_f64(over))
    }
}

/// The address a client is counted under: IPv4 as it is (IPv4-mapped IPv6 too), IPv6 by its
/// /64, which one subscriber usually holds whole.
fn key(client: Option<IpAddr>) -> IpAddr {
    match client {
        None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        Some(IpAddr::V4(v4)) => IpAddr::V4(v4),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

impl Throttle {
    /// Checks `presented` against `expected` for a client at `client` (unknown: `None`).
    /// A missing or empty token is refused without counting: it is no guess.
    pub fn check(
        &self,
        client: Option<IpAddr>,
        expected: &Secret,
        presented: Option<&str>,
    ) -> Verdict {
        self.check_at(client, expected, presented, Instant::now())
    }

    fn check_at(
        &self,
        client: Option<IpAddr>,
        expected: &Secret,
        presented: Option<&str>,
        now: Instant,
    ) -> Verdict {
        let Some(presented) = presented.map(str::trim).filter(|p| !p.is_empty()) else {
            return Verdict::Refused;
        };
        let key = key(client);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(wait) = state.wait(key, now) {
            return Verdict::Throttled {
                retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
            };
        }
        if crate::http::session::is_api_token(expected, presented) {
            state.addresses.remove(&key);
            return Verdict::Accepted;
        }
        state.fail(key, now);
        Verdict::Refused
    }
}

impl State {
    fn wait(&self, key: IpAddr, now: Instant) -> Option<Duration> {
        let record = self.addresses.get(&key);
        let own = record.and_then(|r| r.wait(now, ADDRESS_REFILL, ADDRESS_BURST));
        let remembered = match record {
            Some(r) => {
                r.at.is_some_and(|at| now.saturating_duration_since(at) < MEMORY)
            }
            None => self.addresses.len() >= MAX_ADDRESSES,
        };
        let global = remembered
            .then(|| self.global.wait(now, GLOBAL_REFILL, GLOBAL_BURST))
            .flatten();
        own.max(global)
    }

    fn fail(&mut self, key: IpAddr, now: Instant) {
        self.global.add(now, GLOBAL_REFILL, GLOBAL_BURST);
        if !self.addresses.contains_key(&key) && self.addresses.len() >= MAX_ADDRESSES {
            self.addresses.retain(|_, r| {
                r.at.is_some_and(|at| now.saturating_duration_since(at) < MEMORY)
            });
            if self.addresses.len() >= MAX_ADDRESSES {
                return;
            }
        }
        self.addresses
            .entry(key)
            .or_default()
            .add(now, ADDRESS_REFILL, f64::INFINITY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const RIGHT: &str = "the-right-token-0123456789";

    fn v4(last: u8) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)))
    }

    /// An attempt from 192.0.2.`last` at `at`.
    fn attempt(throttle: &Throttle, last: u8, presented: Option<&str>, at: Instant) -> Verdict {
        throttle.check_at(v4(last), &Secret::new(RIGHT).unwrap(), presented, at)
    }

    #[test]
    fn an_address_gets_ten_wrong_tokens_then_waits_while_others_pass() {
        let throttle = Throttle::default();
        let now = Instant::now();
        for _ in 0..10 {
            assert_eq!(attempt(&throttle, 1, Some("wrong"), now), Verdict::Refused);
        }
        assert_eq!(
            attempt(&throttle, 1, Some("wrong"), now),
            Verdict::Throttled { retry_after: 6 }
        );
        assert_eq!(
            attempt(&throttle, 1, Some(RIGHT), now),
            Verdict::Throttled { retry_after: 6 },
            "a throttled attempt is not looked at, right or wrong"
        );
        assert_eq!(
            attempt(&throttle, 2, Some(RIGHT), now),
            Verdict::Accepted,
            "another address is not slowed"
        );
        let later = now + ADDRESS_REFILL;
        assert_eq!(
            attempt(&throttle, 1, Some("wrong"), later),
            Verdict::Refused,
            "one more is heard after the refill"
        );
        assert!(matches!(
            attempt(&throttle, 1, Some("wrong"), later),
            Verdict::Throttled { .. }
        ));
    }

    #[test]
    fn no_token_is_no_guess() {
        let throttle = Throttle::default();
        let now = Instant::now();
        for _ in 0..50 {
            assert_eq!(attempt(&throttle, 1, None, now), Verdict::Refused);
            assert_eq!(attempt(&throttle, 1, Some("  "), now), Verdict::Refused);
        }
        assert_eq!(attempt(&throttle, 1, Some(RIGHT), now), Verdict::Accepted);
    }

    #[test]
    fn past_the_global_ceiling_only_addresses_without_failures_are_heard() {
        let throttle = Throttle::default();
        let now = Instant::now();
        for address in 1..=20u8 {
            for _ in 0..5 {
                assert_eq!(
                    attempt(&throttle, address, Some("wrong"), now),
                    Verdict::Refused
                );
            }
        }
        // 100 failures: the ceiling. Each of those addresses has room left of its own.
        assert!(matches!(
            attempt(&throttle, 1, Some("wrong"), now),
            Verdict::Throttled { .. }
        ));
        assert_eq!(
            attempt(&throttle, 99, Some(RIGHT), now),
            Verdict::Accepted,
            "an address that never failed is heard"
        );
        assert_eq!(attempt(&throttle, 98, Some("wrong"), now), Verdict::Refused);
        assert!(matches!(
            attempt(&throttle, 98, Some("wrong"), now),
            Verdict::Throttled { .. }
        ));
        assert_eq!(
            attempt(&throttle, 1, Some("wrong"), now + GLOBAL_REFILL),
            Verdict::Refused,
            "the ceiling drains"
        );
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(key(Some(a)), key(Some(b)));
        assert_ne!(key(Some(a)), key(Some(c)));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(key(Some(mapped)), key(v4(7)));
    }
}
