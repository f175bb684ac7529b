//! Browser sessions. A browser never holds the JWT where page scripts can read it: signing in
//! (a one-time link that `lathe standalone` prints, as Jupyter does, or a pasted token) puts
//! the token in an `HttpOnly`, `SameSite=Strict` cookie, and a request without an
//! `Authorization` header authenticates with that cookie. A request that changes state (any
//! method but GET, HEAD and OPTIONS) authenticated by the cookie must also carry the
//! `X-CSRF-Token` header equal to the `lathe_csrf` cookie (the double-submit pattern: a page of
//! another site can make the browser send the cookies, never read them to set the header;
//! `SameSite=Strict` already keeps the cookies off cross-site requests).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::Method;
use actix_web::http::header::{COOKIE, HeaderMap};
use lathe_common::{Error, ErrorCode, reasons};

/// The cookie that holds the session's JWT (`HttpOnly`).
pub const SESSION_COOKIE: &str = "lathe_session";
/// The cookie page scripts read to set [`CSRF_HEADER`].
pub const CSRF_COOKIE: &str = "lathe_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a sign-in link stays valid when no one uses it.
pub const SIGN_IN_TTL: Duration = Duration::from_secs(24 * 3600);

/// One-time sign-in codes, each standing for a token, redeemed at most once.
#[derive(Clone, Default)]
pub struct SignInCodes(Arc<Mutex<HashMap<String, Pending>>>);

struct Pending {
    token: String,
    expires: Instant,
}

impl SignInCodes {
    /// A new code for `token`, valid for `ttl` or until used.
    pub fn issue(&self, token: String, ttl: Duration) -> String {
        let code = random_secret();
        let mut codes = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        codes.retain(|_, pending| pending.expires > now);
        codes.insert(
            code.clone(),
            Pending {
                token,
                expires: now + ttl,
            },
        );
        code
    }

    /// The token of `code`, once: the code is gone afterwards.
    pub fn redeem(&self, code: &str) -> Option<String> {
        let mut codes = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let pending = codes.remove(code)?;
        (pending.expires > Instant::now()).then_some(pending.token)
    }
}

/// 244 random bits as 64 hex digits (two version-4 UUIDs, from the OS's generator).
pub fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The request's credential as an `Authorization` value: its header, else its session cookie
/// (refused, for a request that changes state, without the matching CSRF header); `None`
/// without either.
pub fn credential(headers: &HeaderMap, method: &Method) -> Result<Option<String>, Error> {
    if let Some(header) = headers.get(actix_web::http::header::AUTHORIZATION) {
        return Ok(Some(header.to_str().unwrap_or_default().to_owned()));
    }
    let Some(token) = cookie(headers, SESSION_COOKIE).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if changes_state(method) {
        let expected = cookie(headers, CSRF_COOKIE).unwrap_or_default();
        let given = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if expected.is_empty() || !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
            return Err(Error::new(
                ErrorCode::PermissionDenied,
                format!(
                    "a {method} authenticated by the session cookie needs the `X-CSRF-Token` header \
                     set to the value of the `{CSRF_COOKIE}` cookie"
                ),
            )
            .with_reason(reasons::CSRF_TOKEN_MISMATCH));
        }
    }
    Ok(Some(format!("Bearer {token}")))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `Set-Cookie` values of a session holding `token` for `max_age` (and its CSRF cookie).
pub fn session_cookies(token: &str, max_age: Duration) -> [String; 2] {
    let age = max_age.as_secs();
    [
        format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={age}"),
        format!(
            "{CSRF_COOKIE}={}; Path=/; SameSite=Strict; Max-Age={age}",
            random_secret()
        ),
    ]
}

/// The `Set-Cookie` values that end a session.
pub fn cleared_cookies() -> [String; 2] {
    [
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        format!("{CSRF_COOKIE}=; Path=/; SameSite=Strict; Max-Age=0"),
    ]
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{AUTHORIZATION, HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn a_code_is_redeemed_once_and_not_after_it_expires() {
        let codes = SignInCodes::default();
        let code = codes.issue("t1".to_owned(), Duration::from_secs(60));
        assert_eq!(code.len(), 64);
        assert_eq!(codes.redeem("not-a-code"), None);
        assert_eq!(codes.redeem(&code).as_deref(), Some("t1"));
        assert_eq!(codes.redeem(&code), None);
        let expired = codes.issue("t2".to_owned(), Duration::ZERO);
        assert_eq!(codes.redeem(&expired), None);
    }

    #[test]
    fn the_header_wins_and_the_cookie_needs_csrf_to_change_state() {
        let both = headers(&[
            (AUTHORIZATION.as_str(), "Bearer h"),
            ("cookie", "lathe_session=c"),
        ]);
        assert_eq!(
            credential(&both, &Method::POST).unwrap().as_deref(),
            Some("Bearer h")
        );
        let cookie_only = headers(&[("cookie", "a=b; lathe_session=c; lathe_csrf=x1")]);
        assert_eq!(
            credential(&cookie_only, &Method::GET).unwrap().as_deref(),
            Some("Bearer c")
        );
        let refused = credential(&cookie_only, &Method::POST).unwrap_err();
        assert_eq!(refused.code, ErrorCode::PermissionDenied);
        let wrong = headers(&[("cookie", "lathe_session=c; lathe_csrf=x1"), (CSRF_HEADER, "x2")]);
        assert!(credential(&wrong, &Method::DELETE).is_err());
        let right = headers(&[("cookie", "lathe_session=c; lathe_csrf=x1"), (CSRF_HEADER, "x1")]);
        assert_eq!(
            credential(&right, &Method::DELETE).unwrap().as_deref(),
            Some("Bearer c")
        );
        // No CSRF cookie at all: an empty header must not match it.
        let bare = headers(&[("cookie", "lathe_session=c"), (CSRF_HEADER, "")]);
        assert!(credential(&bare, &Method::PUT).is_err());
        assert_eq!(credential(&headers(&[]), &Method::GET).unwrap(), None);
    }

    #[test]
    fn the_session_cookie_is_http_only_and_strict() {
        let [session, csrf] = session_cookies("tok", Duration::from_secs(90));
        assert_eq!(
            session,
            "lathe_session=tok; Path=/; HttpOnly; SameSite=Strict; Max-Age=90"
        );
        assert!(
            csrf.starts_with("lathe_csrf=") && !csrf.contains("HttpOnly") && csrf.contains("SameSite=Strict")
        );
    }
}
