//! Dashboard sign-in and form protection. A session is a signed cookie (expiry, nonce and an
//! HMAC under a key stretched from the API token), so every replica sharing the token accepts
//! it and no server keeps state; the token itself never leaves the sign-in form. Forms carry a
//! CSRF value that must match a `SameSite=Strict` cookie of the same visitor, and a post the
//! browser says came from another site is refused whatever it carries.

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

use crate::config::Secret;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "gisttrack_session";
/// The CSRF cookie's name (its value is also each form's `csrf` field).
pub const CSRF_COOKIE: &str = "gisttrack_csrf";
/// A cookie's name as set and read: with the `__Host-` prefix over TLS, which browsers accept
/// only from this host itself (`Secure`, `Path=/`, no `Domain`), so a sibling subdomain cannot
/// plant one. Plain HTTP cannot use the prefix.
pub fn cookie_name(base: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

/// How long a sign-in lasts.
pub const SESSION_SECONDS: i64 = 12 * 3600;

/// Random bytes as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buffer)
        .expect("the operating system's random source");
    hex(&buffer)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key sessions are signed with. Stretched from the API token (PBKDF2, once at start), so
/// a session cookie that leaks is no quick offline test of guesses at the token.
pub struct SessionKey(hmac::Key);

/// PBKDF2 rounds: a fraction of a second once per process, a real cost per guess.
const STRETCH_ROUNDS: u32 = 100_000;

impl SessionKey {
    pub fn from_token(token: &Secret) -> SessionKey {
        let mut derived = [0u8; 32];
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            std::num::NonZeroU32::new(STRETCH_ROUNDS).expect("non-zero"),
            b"gisttrack dashboard session key v1",
            token.expose().as_bytes(),
            &mut derived,
        );
        SessionKey(hmac::Key::new(hmac::HMAC_SHA256, &derived))
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

fn signed_part(expires: i64, nonce: &str) -> String {
    format!("gisttrack-session|{expires}|{nonce}")
}

/// A new session cookie value: `{expires}.{nonce}.{mac}`, valid until `now + SESSION_SECONDS`.
pub fn new_session(key: &SessionKey, now_secs: i64) -> String {
    let expires = now_secs + SESSION_SECONDS;
    let nonce = random_hex(16);
    let mac = hmac::sign(&key.0, signed_part(expires, &nonce).as_bytes());
    format!("{expires}.{nonce}.{}", hex(mac.as_ref()))
}

/// Whether a session cookie value was signed with this key and has not expired.
pub fn valid_session(key: &SessionKey, value: &str, now_secs: i64) -> bool {
    let mut parts = value.split('.');
    let (Some(expires), Some(nonce), Some(mac), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(expires) = expires.parse::<i64>() else {
        return false;
    };
    let Some(mac) = unhex(mac) else {
        return false;
    };
    expires > now_secs && hmac::verify(&key.0, signed_part(expires, nonce).as_bytes(), &mac).is_ok()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A presented API token, compared in constant time.
pub fn is_api_token(token: &Secret, presented: &str) -> bool {
    presented.as_bytes().ct_eq(token.expose().as_bytes()).into()
}

/// Whether a form's CSRF field matches the visitor's cookie (constant time; both present).
pub fn csrf_matches(cookie: Option<&str>, field: Option<&str>) -> bool {
    match (cookie, field) {
        (Some(cookie), Some(field)) if !cookie.is_empty() => {
            cookie.as_bytes().ct_eq(field.as_bytes()).into()
        }
        _ => false,
    }
}

/// A cookie's value from a `Cookie` header. A name sent twice (a second cookie planted for a
/// narrower path or from a sibling domain) is ambiguous, and counts as absent.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    let mut values = header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(key, _)| *key == name)
        .map(|(_, value)| value);
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// Whether the browser says a post came from another site: `Sec-Fetch-Site` other than
/// `same-origin` or `none` (typed or bookmarked), or, where a browser does not send that
/// (plain HTTP other than localhost), an `Origin` that names none of this server's names:
/// the `Host` it was asked for, or any a proxy in front passed on in `X-Forwarded-Host`.
/// Clients that send neither are left to the CSRF value.
pub fn cross_site(fetch_site: Option<&str>, origin: Option<&str>, hosts: &[&str]) -> bool {
    if let Some(site) = fetch_site {
        return !matches!(site, "same-origin" | "none");
    }
    match origin {
        None => false,
        Some("null") => true,
        Some(origin) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            !hosts
                .iter()
                .any(|host| origin_host.eq_ignore_ascii_case(host.trim()))
        }
    }
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, for the whole site; `Secure` when
/// the request came over TLS (a proxy in front says so); `max_age` 0 deletes it.
pub fn set_cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> String {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(seconds) = max_age {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_accepted_until_it_expires_and_only_with_its_token() {
        let token = SessionKey::from_token(&Secret::new("the-api-token").unwrap());
        let other = SessionKey::from_token(&Secret::new("another-token").unwrap());
        let session = new_session(&token, 1_000);
        assert!(valid_session(&token, &session, 1_000));
        assert!(!valid_session(&token, &session, 1_000 + SESSION_SECONDS));
        assert!(!valid_session(&other, &session, 1_000), "another token's");
        assert!(!session.contains("the-api-token"), "the token is not in it");
        let forged = session.replacen(&(1_000 + SESSION_SECONDS).to_string(), "99999999999", 1);
        assert!(
            !valid_session(&token, &forged, 1_000),
            "a longer expiry is not signed"
        );
        for junk in ["", "a.b", "1.2.3.4", "x.y.zz", "5000.n.0g"] {
            assert!(!valid_session(&token, junk, 1_000), "{junk:?}");
        }
    }

    #[test]
    fn forms_need_the_visitors_own_csrf_value() {
        assert!(csrf_matches(Some("abc"), Some("abc")));
        assert!(!csrf_matches(Some("abc"), Some("abd")));
        assert!(!csrf_matches(Some("abc"), None));
        assert!(!csrf_matches(None, Some("abc")));
        assert!(!csrf_matches(Some(""), Some("")));
        let header = Some("a=1; gisttrack_csrf=xyz; b=2");
        assert_eq!(cookie(header, CSRF_COOKIE), Some("xyz"));
        assert_eq!(cookie(header, "missing"), None);
        let planted = Some("gisttrack_csrf=mine; gisttrack_csrf=planted");
        assert_eq!(
            cookie(planted, CSRF_COOKIE),
            None,
            "two values: neither is trusted"
        );
        assert_eq!(random_hex(16).len(), 32);
    }

    #[test]
    fn posts_the_browser_marks_as_from_another_site_are_cross_site() {
        let host = &["127.0.0.1:3000"][..];
        let origin = Some("http://127.0.0.1:3000");
        assert!(!cross_site(Some("same-origin"), origin, host));
        assert!(!cross_site(Some("none"), None, host));
        assert!(
            !cross_site(None, None, host),
            "no header: the CSRF value decides"
        );
        assert!(
            cross_site(Some("same-site"), None, host),
            "a sibling subdomain"
        );
        assert!(cross_site(Some("cross-site"), None, host));
        assert!(cross_site(None, Some("https://evil.example"), host));
        assert!(cross_site(None, Some("null"), host));
        assert!(!cross_site(None, Some("HTTP://127.0.0.1:3000"), host));
        // Behind proxies: the browser's host is one of the names passed on.
        let proxied = &["10.0.0.5:3000", "gisttrack.corp:8443", " edge.corp"][..];
        assert!(!cross_site(
            None,
            Some("https://gisttrack.corp:8443"),
            proxied
        ));
        assert!(!cross_site(None, Some("https://edge.corp"), proxied));
        assert!(
            cross_site(None, Some("https://gisttrack.corp"), proxied),
            "another port"
        );
        assert!(
            cross_site(None, Some("https://evil.example"), &[]),
            "no name to match"
        );
    }
}
