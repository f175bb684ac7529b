//! Browser sessions through the gateway: a token or a one-time link becomes an HttpOnly,
//! SameSite=Strict cookie; the cookie authenticates reads, and writes only with the CSRF
//! header; signing out clears it.

use lathe_common::auth::Role;
use lathe_tests::TestPlatform;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

/// The `name=value` pairs a response sets, and the whole `Set-Cookie` lines.
fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn value_of(cookies: &[String], name: &str) -> String {
    cookies
        .iter()
        .find_map(|c| {
            c.split(';')
                .next()?
                .strip_prefix(&format!("{name}="))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no cookie {name} in {cookies:?}"))
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_token_becomes_a_cookie_that_reads_and_writes_only_with_csrf() {
    let t = TestPlatform::embedded().await;
    let http = reqwest::Client::new();
    let token = t.token(Role::Admin, &["*"]);

    let refused = http
        .post(format!("{}/api/v1/session", t.url))
        .json(&json!({"token": "not-a-jwt"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(set_cookies(&refused).is_empty(), "a bad token sets no cookie");

    let signed_in = http
        .post(format!("{}/api/v1/session", t.url))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let cookies = set_cookies(&signed_in);
    let session = cookies.iter().find(|c| c.starts_with("lathe_session=")).unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(session.contains(attribute), "{session} lacks {attribute}");
    }
    let csrf_line = cookies.iter().find(|c| c.starts_with("lathe_csrf=")).unwrap();
    assert!(
        !csrf_line.contains("HttpOnly"),
        "page scripts must read the CSRF cookie"
    );
    let me = json_of(signed_in).await;
    assert_eq!(me["role"], "admin");
    let (jwt, csrf) = (
        value_of(&cookies, "lathe_session"),
        value_of(&cookies, "lathe_csrf"),
    );
    assert_eq!(jwt, token);
    let jar = format!("lathe_session={jwt}; lathe_csrf={csrf}");

    let whoami = http
        .get(format!("{}/api/v1/whoami", t.url))
        .header(COOKIE, &jar)
        .send()
        .await
        .unwrap();
    assert_eq!(whoami.status(), 200);
    assert_eq!(json_of(whoami).await["role"], "admin");

    let project = json!({"name": "ui", "description": "from a browser"});
    for header in [None, Some("wrong")] {
        let mut request = http
            .post(format!("{}/api/v1/projects", t.url))
            .header(COOKIE, &jar)
            .json(&project);
        if let Some(value) = header {
            request = request.header("x-csrf-token", value);
        }
        let forged = request.send().await.unwrap();
        assert_eq!(forged.status(), 403);
        assert_eq!(json_of(forged).await["code"], "csrf_token_mismatch");
    }
    let listed = json_of(t.get("/api/v1/projects", &t.admin()).send().await.unwrap()).await;
    assert!(
        !listed.to_string().contains("\"ui\""),
        "a refused write wrote nothing: {listed}"
    );
    let created = http
        .post(format!("{}/api/v1/projects", t.url))
        .header(COOKIE, &jar)
        .header("x-csrf-token", &csrf)
        .json(&project)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // A bearer header still works without any CSRF header (API clients keep working).
    let bearer = t
        .post(
            "/api/v1/projects",
            &token,
            &json!({"name": "api", "description": ""}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 201);

    let signed_out = http
        .delete(format!("{}/api/v1/session", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 204);
    let cleared = set_cookies(&signed_out);
    assert_eq!(cleared.len(), 2);
    assert!(cleared.iter().all(|c| c.contains("Max-Age=0")), "{cleared:?}");
}

#[tokio::test]
async fn a_sign_in_link_works_once_and_stays_on_this_server() {
    let t = TestPlatform::embedded().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let link = t
        .platform
        .sign_in_link(t.token(Role::Viewer, &["*"]), "/api/v1/whoami");
    let first = http.get(&link).send().await.unwrap();
    assert_eq!(first.status(), 303);
    assert_eq!(first.headers()[LOCATION], "/api/v1/whoami");
    let cookies = set_cookies(&first);
    let jar = format!("lathe_session={}", value_of(&cookies, "lathe_session"));
    let whoami = http
        .get(format!("{}/api/v1/whoami", t.url))
        .header(COOKIE, jar)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(whoami).await["role"], "viewer");

    let again = http.get(&link).send().await.unwrap();
    assert_eq!(again.status(), 401);
    assert!(set_cookies(&again).is_empty());
    assert_eq!(json_of(again).await["code"], "sign_in_link_invalid");

    // A browser (it accepts HTML) is sent to the UI's sign-in page, which says why.
    let browser = http
        .get(&link)
        .header(reqwest::header::ACCEPT, "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 303);
    assert_eq!(browser.headers()[LOCATION], "/ui/projects?sign_in=link_invalid");
    assert!(set_cookies(&browser).is_empty());

    let away = t
        .platform
        .sign_in_link(t.token(Role::Viewer, &["*"]), "//evil.example/");
    let redirected = http.get(&away).send().await.unwrap();
    assert_eq!(redirected.headers()[LOCATION], "/");
}
