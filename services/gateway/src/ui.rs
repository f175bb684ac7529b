//! The web UI, served from the binary: `/` and every `/ui/…` page answer the UI's
//! `index.html` (its router picks the page from the URL, so every page has a URL to share);
//! `/assets/…` are its scripts and styles, named by content hash and cached for a year. Nothing
//! is loaded from elsewhere: the Content-Security-Policy allows this server only.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS};
use actix_web::{HttpRequest, HttpResponse, get, web};

include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// Scripts, styles, images and API calls from this server only (images also from the `blob:`
/// URLs the page makes to preview image artifacts); no frames, no plugins.
const POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; \
                      connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
                      form-action 'self'";

fn asset(path: &str) -> Option<&'static [u8]> {
    ASSETS
        .iter()
        .find(|(url, _)| *url == path)
        .map(|(_, bytes)| *bytes)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn index() -> HttpResponse {
    match asset("/index.html") {
        Some(html) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((CACHE_CONTROL, "no-cache"))
            .insert_header((CONTENT_SECURITY_POLICY, POLICY))
            .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(html),
        None => HttpResponse::NotFound().body("the web UI is not built into this binary"),
    }
}

/// The UI's start page.
#[get("/")]
pub async fn home() -> HttpResponse {
    index()
}

/// Any page of the UI.
#[get("/ui/{page:.*}")]
pub async fn page() -> HttpResponse {
    index()
}

/// A built script, style or image.
#[get("/assets/{file:.*}")]
pub async fn assets(req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let path = format!("/assets/{file}");
    match asset(&path) {
        Some(bytes) => HttpResponse::Ok()
            .content_type(content_type(&path))
            .insert_header((CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(bytes),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body(format!("no UI asset at {}", req.path())),
    }
}
