//! HTTP behaviour: upstream's header order and CORS, the admin listener, statement timeouts,
//! and graceful shutdown.

mod common;

use std::time::Duration;

use common::{get, request, TestDb, TestServer};

const Q: &str = "/api/v1/content/unified?page_size=2";

#[tokio::test]
async fn headers_follow_upstream_order_and_cors() {
    let db = TestDb::seeded().await;
    let server = TestServer::start(&db).await;

    let plain = get(server.api, Q).await;
    assert_eq!(plain.status, 200);
    assert_eq!(
        plain.header_names(),
        [
            "date",
            "server",
            "content-length",
            "content-type",
            "etag",
            "cache-control",
            "age",
            "cache-status"
        ]
    );
    assert_eq!(plain.header("content-type"), Some("application/json"));
    assert_eq!(
        plain.header("content-length").unwrap(),
        plain.body.len().to_string()
    );

    let allowed = request(
        server.api,
        "GET",
        Q,
        &[
            ("origin", "http://localhost:5173"),
            ("content-type", "application/json"),
        ],
    )
    .await;
    assert_eq!(
        allowed.header_names(),
        [
            "date",
            "server",
            "content-length",
            "content-type",
            "etag",
            "cache-control",
            "age",
            "cache-status",
            "access-control-allow-credentials",
            "access-control-allow-origin",
            "vary"
        ]
    );
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert_eq!(allowed.body, plain.body);

    let other = request(server.api, "GET", Q, &[("origin", "http://evil.example")]).await;
    assert_eq!(
        other.header_names(),
        [
            "date",
            "server",
            "content-length",
            "content-type",
            "etag",
            "cache-control",
            "age",
            "cache-status",
            "access-control-allow-credentials"
        ]
    );

    let preflight = request(
        server.api,
        "OPTIONS",
        "/api/v1/content/unified?page=0",
        &[
            ("origin", "http://127.0.0.1:5173"),
            ("access-control-request-method", "GET"),
            (
                "access-control-request-headers",
                "content-type,authorization",
            ),
        ],
    )
    .await;
    assert_eq!((preflight.status, preflight.text().as_str()), (200, "OK"));
    assert_eq!(
        preflight.header_names(),
        [
            "date",
            "server",
            "vary",
            "access-control-allow-methods",
            "access-control-max-age",
            "access-control-allow-credentials",
            "access-control-allow-origin",
            "access-control-allow-headers",
            "content-length",
            "content-type"
        ]
    );
    assert_eq!(
        preflight.header("access-control-allow-headers"),
        Some("content-type,authorization")
    );
    assert_eq!(
        preflight.header("content-type"),
        Some("text/plain; charset=utf-8")
    );

    let refused = request(
        server.api,
        "OPTIONS",
        Q,
        &[
            ("origin", "http://evil.example"),
            ("access-control-request-method", "GET"),
        ],
    )
    .await;
    assert_eq!(
        (refused.status, refused.text().as_str()),
        (400, "Disallowed CORS origin")
    );
    assert!(refused.header("access-control-allow-origin").is_none());

    let post = request(server.api, "POST", Q, &[]).await;
    assert_eq!(
        (post.status, post.text().as_str()),
        (405, r#"{"detail":"Method Not Allowed"}"#)
    );
}

#[tokio::test]
async fn admin_listener_reports_health_readiness_and_metrics() {
    let db = TestDb::seeded().await;
    let server = TestServer::start(&db).await;
    assert_eq!(get(server.admin, "/healthz").await.status, 200);
    assert_eq!(get(server.admin, "/readyz").await.status, 200);
    assert_eq!(get(server.api, Q).await.status, 200);
    assert_eq!(
        get(server.api, "/api/v1/content/unified?page=0")
            .await
            .status,
        422
    );
    let metrics = get(server.admin, "/metrics").await.text();
    for needle in [
        r#"gallery_proxy_http_requests_total{route="gallery",status="200"}"#,
        r#"gallery_proxy_http_requests_total{route="gallery",status="422"}"#,
        "gallery_proxy_http_request_duration_seconds_bucket",
        r#"gallery_proxy_db_query_seconds_bucket{query="page""#,
        r#"gallery_proxy_db_pool_connections{state="idle"}"#,
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
}

#[tokio::test]
async fn readiness_follows_postgres() {
    let db = TestDb::seeded().await;
    let server = TestServer::start_with(&db, |s| {
        s.database.url = "postgres://postgres@127.0.0.1:1/nowhere".into()
    })
    .await;
    assert_eq!(get(server.admin, "/healthz").await.status, 200);
    assert_eq!(get(server.admin, "/readyz").await.status, 503);
    let reply = get(server.api, Q).await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(reply.json()["detail"].is_string());
}

/// A query that outlives statement_timeout is upstream's 504 body.
#[tokio::test]
async fn statement_timeout_is_a_504() {
    let db = TestDb::seeded().await;
    let server = TestServer::start_with(&db, |s| s.database.statement_timeout_ms = 300).await;
    let mut locker = db.connect().await;
    sqlx::raw_sql("BEGIN; LOCK TABLE content_items_auto IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    let reply = get(server.api, "/api/v1/content/unified?page_size=1&tag=x").await;
    assert_eq!(reply.status, 504, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["error_type"], "statement_timeout");
    assert_eq!(body["timeout_duration"], "300ms");
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut locker)
        .await
        .unwrap();
}

/// SIGTERM's path: stop accepting, finish the request in flight, then return.
#[tokio::test]
async fn shutdown_drains_in_flight_requests() {
    let db = TestDb::seeded().await;
    let mut server = TestServer::start(&db).await;
    let mut locker = db.connect().await;
    sqlx::raw_sql("BEGIN; LOCK TABLE content_items_auto IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    let api = server.api;
    let in_flight = tokio::spawn(async move { get(api, Q).await });
    // Wait until the request is blocked on the lock, seen from PostgreSQL itself.
    let mut probe = db.connect().await;
    for _ in 0..200 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut probe)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.shutdown();
    // New connections are refused once the listener is closed.
    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(api).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "listener still accepting after shutdown");
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut locker)
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.status, 200, "the in-flight request completed");
    let task = server.task.take().unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("run() returns after draining")
        .unwrap();
}
