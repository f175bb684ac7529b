//! Client commands beside a local standalone need no token: `lathe standalone` leaves its URL
//! in its data directory ([`Marker`]), and a client command given no token that calls that URL
//! on this machine signs itself a short-lived admin token with the data directory's key, as
//! `lathe token create` would, saying so once on stderr. Against any other URL a token stays
//! required: whoever can read the data directory's key can sign tokens anyway, nobody else can.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lathe_common::auth::{ALL_PROJECTS, Role, Signer};
use lathe_common::config::AuthSettings;

use super::{BoxError, Connection};

/// The file in a data directory that names the URL of the standalone running on it.
pub const MARKER_FILE: &str = "standalone.url";
/// How long a self-signed token lives: one command's worth.
const TOKEN_TTL: Duration = Duration::from_secs(300);
/// The subject such tokens carry, in audit logs.
pub const SUBJECT: &str = "local-cli";

/// The standalone's URL in its data directory while it runs; removed when dropped.
pub struct Marker {
    path: PathBuf,
}

impl Marker {
    /// Writes the marker; a failure is reported on stderr and costs only the convenience.
    pub fn write(data_dir: &Path, url: &str) -> Option<Marker> {
        let path = data_dir.join(MARKER_FILE);
        match std::fs::write(&path, format!("{url}\n")) {
            Ok(()) => Some(Marker { path }),
            Err(err) => {
                eprintln!("lathe: could not write {}: {err}", path.display());
                None
            }
        }
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `url` is on this machine (a loopback address or `localhost`).
fn is_loopback(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    match parsed.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Fills in a token for a client command given none, when it calls the standalone running on
/// `data_dir`; leaves the connection alone otherwise (the command then asks for a token).
pub fn sign_when_beside_standalone(
    connection: &mut Connection,
    data_dir: &Path,
    auth: &AuthSettings,
) -> Result<(), BoxError> {
    if connection.token.is_some() || !is_loopback(&connection.url) {
        return Ok(());
    }
    let Ok(marker) = std::fs::read_to_string(data_dir.join(MARKER_FILE)) else {
        return Ok(());
    };
    if marker.trim().trim_end_matches('/') != connection.url.trim_end_matches('/') {
        return Ok(());
    }
    let signer = Signer::from_settings(auth, data_dir)?;
    let token = signer.sign(SUBJECT, &[Role::Admin], &[ALL_PROJECTS.to_owned()], TOKEN_TTL)?;
    eprintln!(
        "lathe: no token given; signed a 5-minute admin token ({SUBJECT}) with the key of the standalone's data directory {}",
        data_dir.display()
    );
    connection.token = Some(token);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_counts_as_local() {
        for url in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:8080/",
            "http://LOCALHOST",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "http://10.0.0.1:8080",
            "https://lathe.example.com",
            "not a url",
            "http://127.0.0.1.example.com",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }
}
