//! Alert webhooks: a JSON body signed with HMAC-SHA256 (RFC 2104) under the monitor's
//! secret, in `X-Lathe-Signature: sha256=<hex>`, the way GitHub signs its webhooks. A
//! receiver recomputes the HMAC of the raw body and compares in constant time.

use std::time::Duration;

use sha2::{Digest, Sha256};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-lathe-signature";
/// The header naming the event (`drift_alert`).
pub const EVENT_HEADER: &str = "x-lathe-event";
/// The header carrying the alert id, the same on every retry of one alert.
pub const DELIVERY_HEADER: &str = "x-lathe-delivery";

const BLOCK: usize = 64;

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The value of [`SIGNATURE_HEADER`] for `body`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(secret.as_bytes(), body)))
}

/// When the `attempt`-th failed delivery (1-based) is tried again: `base` doubled per
/// attempt, at most ten minutes.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(20);
    base.saturating_mul(factor).min(Duration::from_secs(600))
}

/// Posts `body` to `url`; an error says why (status or transport).
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    delivery: &str,
    body: Vec<u8>,
) -> Result<(), String> {
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(EVENT_HEADER, "drift_alert")
        .header(DELIVERY_HEADER, delivery);
    if !secret.is_empty() {
        request = request.header(SIGNATURE_HEADER, signature(secret, &body));
    }
    match request.body(body).send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("the webhook answered {}", response.status())),
        Err(err) => Err(format!("the webhook cannot be reached: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn backoff_doubles_up_to_ten_minutes() {
        let base = Duration::from_secs(1);
        assert_eq!(backoff(base, 1), Duration::from_secs(1));
        assert_eq!(backoff(base, 4), Duration::from_secs(8));
        assert_eq!(backoff(base, 40), Duration::from_secs(600));
    }
}
