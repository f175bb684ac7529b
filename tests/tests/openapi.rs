//! The OpenAPI document parses as OpenAPI 3.1, every `$ref` resolves, every API route is in
//! it, every error reason is listed, and the browsable page needs no internet.

use lathe_tests::TestPlatform;
use serde_json::Value;

#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "serde_json::Value is foreign: only objects and arrays hold references"
)]
fn collect_refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("$ref", Value::String(target)) => out.push(target),
                    _ => collect_refs(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, out)),
        _ => {}
    }
}

/// Resolves a local JSON pointer reference such as `#/components/schemas/Project`.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

#[tokio::test]
async fn openapi_document_is_complete_and_every_ref_resolves() {
    let t = TestPlatform::embedded().await;
    let doc = t.openapi_document().await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "Lathe API");

    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(
        refs.len() > 10,
        "expected schemas to be referenced, found {refs:?}"
    );
    for reference in &refs {
        assert!(resolve(&doc, reference).is_some(), "unresolved $ref {reference}");
    }

    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/whoami",
        "/api/v1/projects",
        "/api/v1/projects/{name}",
        "/api/v1/projects/{project}/entities",
        "/api/v1/projects/{project}/entities/{name}",
    ] {
        assert!(paths.contains_key(path), "{path} missing from the OpenAPI paths");
    }
    // Every /api/ operation declares the bearer requirement, but signing a browser in and out
    // (`/api/v1/session`: the token comes in the body, or nothing is needed).
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["scheme"], "bearer");
    assert!(paths.contains_key("/api/v1/session"));
    for (path, item) in paths
        .iter()
        .filter(|(p, _)| p.starts_with("/api/") && *p != "/api/v1/session")
    {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["security"].to_string().contains("bearer"),
                "{method} {path} lacks bearer security"
            );
        }
    }
    // Every documented operation is routed: the gateway's routes sit in scopes with relative
    // paths while each `#[utoipa::path]` spells out the full one, so the two could drift.
    let admin = t.admin();
    for (path, item) in paths.iter().filter(|(p, _)| p.starts_with("/api/")) {
        let concrete: String = path
            .split('/')
            .map(|segment| if segment.starts_with('{') { "x" } else { segment })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = t
                .http
                .request(method.clone(), format!("{}{concrete}", t.url))
                .bearer_auth(&admin)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            assert!(
                !body.contains("route_not_found"),
                "{method} {path} is documented but not routed ({status}: {body})"
            );
        }
    }
    t.shutdown().await;
}

/// The error body's `code` lists every reason a client can meet, with its HTTP status.
#[tokio::test]
async fn openapi_document_lists_every_error_reason() {
    let t = TestPlatform::embedded().await;
    let doc = t.openapi_document().await;
    let listed = doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]["description"]
        .as_str()
        .unwrap();
    for reason in lathe_common::reasons::ALL {
        let entry = format!(
            "- `{}` ({}): {}",
            reason.name,
            reason.code.http_status(),
            reason.meaning
        );
        assert!(listed.contains(&entry), "{} is not listed: {listed}", reason.name);
    }
    for code in lathe_common::ErrorCode::ALL {
        let entry = format!("`{}` ({})", code.as_str(), code.http_status());
        assert!(
            listed.contains(&entry),
            "{} is not listed: {listed}",
            code.as_str()
        );
    }
    assert!(listed.contains("`uri_too_long` (414)"), "{listed}");
    t.shutdown().await;
}

#[tokio::test]
async fn api_browser_is_served_without_external_resources() {
    let t = TestPlatform::embedded().await;
    let page = t.http.get(format!("{}/api-docs/", t.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "not the API browser: {html}");
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-initializer.js"] {
        assert!(html.contains(asset), "{asset} not referenced");
        let response = t
            .http
            .get(format!("{}/api-docs/{asset}", t.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset} is not served locally");
    }
    // Every script and stylesheet is relative: nothing loads from a CDN.
    for attr in ["src=\"http", "href=\"http", "src='http", "href='http"] {
        assert!(
            !html.contains(attr),
            "external resource in the API browser: {attr}"
        );
    }
    let init = t
        .http
        .get(format!("{}/api-docs/swagger-initializer.js", t.url))
        .send()
        .await
        .unwrap();
    assert!(init.text().await.unwrap().contains("/api-docs/openapi.json"));
    t.shutdown().await;
}

/// Generated clients (the web UI's among them) name a function per operation: two routes with
/// one `operationId` would be merged into one wrong type.
#[tokio::test]
async fn operation_ids_are_unique() {
    let t = TestPlatform::embedded().await;
    let doc = t.openapi_document().await;
    let mut seen = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if let Some(id) = operation.get("operationId").and_then(Value::as_str)
                && let Some(other) = seen.insert(id.to_owned(), format!("{method} {path}"))
            {
                panic!("operationId {id} names both {other} and {method} {path}");
            }
        }
    }
    assert!(seen.len() > 50, "only {} operations", seen.len());
}
