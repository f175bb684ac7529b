//! The web UI as the gateway serves it from the binary: every page URL answers the UI's page
//! under a Content-Security-Policy that allows this server only, its hashed assets are cached
//! for good, nothing it needs comes from elsewhere, and the sign-in link is not swallowed by
//! the UI's catch-all. Its API client is generated from the OpenAPI document: the committed
//! copy must be the current one.

use lathe_tests::TestPlatform;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};

#[tokio::test]
async fn every_page_url_answers_the_ui_from_this_server_only() {
    let t = TestPlatform::embedded().await;
    let http = reqwest::Client::new();
    let home = http.get(format!("{}/", t.url)).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let policy = home.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy} lacks {directive}");
    }
    assert_eq!(home.headers()[CACHE_CONTROL], "no-cache");
    let page = home.text().await.unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the page loads something from elsewhere:\n{page}"
    );

    for url in [
        "/ui/projects",
        "/ui/projects/churn/models/churn",
        "/ui/projects/p/runs/abc?x=1",
    ] {
        let answer = http.get(format!("{}{url}", t.url)).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{url}");
        assert!(
            answer.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(answer.text().await.unwrap(), page, "{url} is not the UI's page");
    }

    // Every asset the page names is served here, cached by its content hash.
    let named: Vec<&str> = page
        .split(['"', '\''])
        .filter(|part| part.starts_with("/assets/"))
        .collect();
    for asset in &named {
        let answer = http.get(format!("{}{asset}", t.url)).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{asset}");
        assert_eq!(
            answer.headers()[CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
    }
    let missing = http
        .get(format!("{}/assets/nope.js", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // The sign-in link keeps its own route: a bad code is refused, not answered with the page.
    let sign_in = http
        .get(format!("{}/ui/sign-in?code=bad", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in.status(), 401);
}

#[tokio::test]
async fn the_ui_client_is_generated_from_the_current_api() {
    let t = TestPlatform::embedded().await;
    let served = t.openapi_document().await;
    let built = serde_json::to_value(lathe_gateway::openapi_document()).unwrap();
    assert_eq!(
        served, built,
        "`lathe openapi` must print what the gateway serves"
    );
    let committed =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../services/gateway/ui/openapi.json");
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&committed).unwrap_or_else(|e| panic!("{}: {e}", committed.display())),
    )
    .unwrap();
    assert_eq!(
        committed, served,
        "services/gateway/ui/openapi.json is not the current API: run scripts/ui.sh build and commit"
    );
}
