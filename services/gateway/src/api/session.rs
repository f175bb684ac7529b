//! Signing a browser in and out ([`crate::session`]): a one-time link, or a token given once,
//! becomes an `HttpOnly` session cookie; the JWT never reaches page scripts.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{LOCATION, SET_COOKIE};
use actix_web::{HttpResponse, delete, get, post, web};
use lathe_common::auth::Verifier;
use lathe_common::{Error, ErrorCode, reasons};
use serde::Deserialize;
use utoipa::ToSchema;

use super::whoami::WhoAmI;
use crate::error::{ApiError, ErrorBody};
use crate::session::{SignInCodes, cleared_cookies, session_cookies};

#[derive(Deserialize)]
pub struct SignInLink {
    code: String,
    /// Where to go once signed in: a path of this server (default `/`).
    next: Option<String>,
}

/// A path of this server to go to after signing in: absolute, and not `//host` (which a
/// browser reads as another site).
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path,
        Some(_) | None => "/",
    }
}

fn with_session(
    mut response: actix_web::HttpResponseBuilder,
    token: &str,
    lifetime: Duration,
) -> actix_web::HttpResponseBuilder {
    for cookie in session_cookies(token, lifetime) {
        response.append_header((SET_COOKIE, cookie));
    }
    response
}

fn lifetime(exp: i64) -> Duration {
    Duration::from_secs(u64::try_from(exp - chrono::Utc::now().timestamp()).unwrap_or(0))
}

/// Where a browser goes with a used or expired link: the UI, which says so on its sign-in page.
const LINK_INVALID_PAGE: &str = "/ui/projects?sign_in=link_invalid";

/// A one-time sign-in link (`lathe standalone` prints one): gives the browser a session as the
/// link's token and goes on to `next`. A used or expired link is refused: a browser (which
/// accepts HTML) is sent to the UI's sign-in page, which says why; other clients get the 401.
#[get("/ui/sign-in")]
pub async fn sign_in_link(
    req: actix_web::HttpRequest,
    query: web::Query<SignInLink>,
    codes: web::Data<SignInCodes>,
    verifier: web::Data<Arc<Verifier>>,
) -> Result<HttpResponse, ApiError> {
    let Some(token) = codes.redeem(&query.code) else {
        let browser = req
            .headers()
            .get(actix_web::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
        if browser {
            return Ok(HttpResponse::SeeOther()
                .append_header((LOCATION, LINK_INVALID_PAGE))
                .finish());
        }
        return Err(ApiError(
            Error::new(
                ErrorCode::Unauthenticated,
                "this sign-in link was used already or has expired: restart `lathe standalone` for a new \
             one, or sign in with a token from `lathe token create`",
            )
            .with_reason(reasons::SIGN_IN_LINK_INVALID),
        ));
    };
    let claims = verifier.verify(&token)?;
    Ok(
        with_session(HttpResponse::SeeOther(), &token, lifetime(claims.exp))
            .append_header((LOCATION, local_path(query.next.as_deref())))
            .finish(),
    )
}

#[derive(Deserialize, ToSchema)]
pub struct SignIn {
    /// A token from `lathe token create`.
    pub token: String,
}

/// Signs the browser in with a token: the answer sets the session cookie (`HttpOnly`,
/// `SameSite=Strict`, living as long as the token) and the `lathe_csrf` cookie, whose value a
/// page sends back as `X-CSRF-Token` on requests that change state.
#[utoipa::path(
    tag = "session",
    request_body = SignIn,
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)),
)]
#[post("/api/v1/session")]
pub async fn sign_in(
    body: web::Json<SignIn>,
    verifier: web::Data<Arc<Verifier>>,
) -> Result<HttpResponse, ApiError> {
    let claims = verifier.verify(body.token.trim())?;
    Ok(with_session(HttpResponse::Ok(), body.token.trim(), lifetime(claims.exp)).json(WhoAmI::of(&claims)))
}

/// Signs the browser out: both cookies are cleared.
#[utoipa::path(tag = "session", responses((status = 204)))]
#[delete("/api/v1/session")]
pub async fn sign_out() -> HttpResponse {
    let mut response = HttpResponse::NoContent();
    for cookie in cleared_cookies() {
        response.append_header((SET_COOKIE, cookie));
    }
    response.finish()
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_of_this_server_are_followed() {
        assert_eq!(
            local_path(Some("/api/v1/projects/p/monitors/m/windows/t/report.html")),
            "/api/v1/projects/p/monitors/m/windows/t/report.html"
        );
        for elsewhere in [
            "//evil.example/x",
            "https://evil.example/",
            "evil",
            "/\\evil.example",
        ] {
            assert_eq!(local_path(Some(elsewhere)), "/", "{elsewhere}");
        }
        assert_eq!(local_path(None), "/");
    }
}
