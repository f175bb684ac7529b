//! Artifacts stream through the gateway and the registry: moving a file much larger than
//! any buffer leaves the process's peak memory nearly where it was. (A 5 GB upload is the
//! same code path; this test keeps CI fast with 384 MiB.)

use futures::StreamExt;
use lathe_tests::TestPlatform;
use serde_json::json;

const TOTAL: usize = 384 * 1024 * 1024;
const CHUNK: usize = 256 * 1024;

/// Peak resident memory of this process so far, in bytes (Linux `VmHWM`).
fn peak_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("linux /proc");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM line");
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmHWM value");
    kib * 1024
}

fn pattern(index: usize) -> bytes::Bytes {
    bytes::Bytes::from(vec![(index % 251) as u8; CHUNK])
}

#[tokio::test]
async fn large_artifacts_stream_with_flat_memory() {
    let t = TestPlatform::embedded().await;
    t.create_project("churn").await;
    let admin = t.admin();
    let experiment: serde_json::Value = t
        .post(
            "/api/v1/projects/churn/experiments",
            &admin,
            &json!({"name": "big"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run: serde_json::Value = t
        .post(
            "/api/v1/projects/churn/runs",
            &admin,
            &json!({"experiment_id": experiment["experiment_id"]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run_id = run["run_id"].as_str().unwrap();
    let url = format!(
        "{}/api/v1/projects/churn/runs/{run_id}/artifacts/model/huge.bin",
        t.url
    );

    let before = peak_rss();
    let body = futures::stream::iter((0..TOTAL / CHUNK).map(|i| Ok::<_, std::io::Error>(pattern(i))));
    let response = t
        .http
        .put(&url)
        .bearer_auth(&admin)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        201,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let stored: serde_json::Value = response.json().await.unwrap();
    assert_eq!(stored["size"], TOTAL);

    let response = t.http.get(&url).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut received = 0usize;
    while let Some(piece) = stream.next().await {
        let piece = piece.unwrap();
        // Each byte belongs to chunk `offset / CHUNK` of the pattern; check runs per chunk.
        let mut offset = 0;
        while offset < piece.len() {
            let position = received + offset;
            let run = (CHUNK - position % CHUNK).min(piece.len() - offset);
            let want = ((position / CHUNK) % 251) as u8;
            assert!(
                piece[offset..offset + run].iter().all(|b| *b == want),
                "content differs near byte {position}"
            );
            offset += run;
        }
        received += piece.len();
    }
    assert_eq!(received, TOTAL);
    let grown = peak_rss().saturating_sub(before);
    eprintln!("peak memory grew by {} KiB", grown >> 10);
    // Multipart parts (8 MiB, two in flight), channel buffers and allocator slack: far below the file.
    assert!(
        grown < 96 * 1024 * 1024,
        "peak memory grew by {} MiB moving a {} MiB artifact",
        grown >> 20,
        TOTAL >> 20
    );
    t.shutdown().await;
}
