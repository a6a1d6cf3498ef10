//! Load harness: the cache tiers side by side in one run, on a seeded database.
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/gallery_full REDIS_URL=redis://127.0.0.1:6379 \
//!         cargo bench --bench load -- [--rounds 5] [--seconds 3] [--connections 16] [--svg docs/cache-latency.svg]
//!
//! Servers, all in this process on one runtime (`--server-threads`, default 1, so the client's
//! runtime, `--client-threads`, default 1, has the other core), answering the canonical one-tag page
//! (page_size 25, all four source types):
//! - bare: a plain hyper server returning the proxy's response for that page (its body and
//!   its headers, captured once), nothing else;
//! - L1: the proxy with its default tiers, the entry in memory;
//! - L2: the proxy with the memory tier off, so every answer comes from Redis;
//! - miss: the proxy with both tiers off, so every answer runs the SQL.
//!
//! Throughput: bare and L1 in alternating rounds of `--seconds` at `--connections` keep-alive
//! connections (the client is another runtime in this process); medians of the rounds.
//! Latency: one connection, requests one after another, L1 against L2, and the miss against the
//! same SQL called directly (`GalleryService::answer`, no HTTP, no cache). Prints Markdown and
//! draws the latency distributions as an SVG.

#[path = "support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gallery_proxy::app::App;
use gallery_proxy::config::Settings;
use gallery_proxy::gallery::params::{parse, Limits};
use gallery_proxy::service::GalleryService;
use gallery_proxy::store::postgres;
use http_body_util::{BodyExt, Empty, Full};
use hyper::server::conn::http1 as server_http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

use support::{connect, fetch, percentile};

const ADMIN: &str = "121e194b-4caa-4b81-ad4f-86ca3919d5b9";

struct Args {
    rounds: usize,
    seconds: f64,
    connections: usize,
    latency_requests: usize,
    /// Worker threads of the servers' runtime and of the client's.
    server_threads: usize,
    client_threads: usize,
    svg: Option<String>,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        argv.iter()
            .position(|a| a == name)
            .map(|i| argv[i + 1].clone())
    };
    Args {
        rounds: value("--rounds").map_or(5, |v| v.parse().unwrap()),
        seconds: value("--seconds").map_or(3.0, |v| v.parse().unwrap()),
        connections: value("--connections").map_or(16, |v| v.parse().unwrap()),
        latency_requests: value("--latency-requests").map_or(5000, |v| v.parse().unwrap()),
        server_threads: value("--server-threads").map_or(1, |v| v.parse().unwrap()),
        client_threads: value("--client-threads").map_or(1, |v| v.parse().unwrap()),
        svg: value("--svg"),
    }
}

fn runtime(name: &str, threads: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
        .unwrap()
}

/// A plain hyper server that answers every request with `body` and the fixed `headers`
/// (the proxy's own, captured once, so both send the same bytes).
async fn bare_server(body: Bytes, headers: http::HeaderMap) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            let (body, headers) = (body.clone(), headers.clone());
            tokio::spawn(async move {
                let service = service_fn(move |_request| {
                    let (body, headers) = (body.clone(), headers.clone());
                    async move {
                        let mut response = hyper::Response::new(Full::new(body));
                        *response.headers_mut() = headers;
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = server_http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn proxy(settings: Settings) -> SocketAddr {
    let app = App::build(&settings).await.unwrap();
    let addr = app.api_addr();
    tokio::spawn(app.run(std::future::pending()));
    addr
}

/// Requests per second over `seconds` at `connections` connections.
async fn throughput(addr: SocketAddr, target: &str, connections: usize, seconds: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let target = target.to_string();
        tasks.spawn(async move {
            let mut sender = connect(addr).await;
            let mut done = 0u64;
            while Instant::now() < deadline {
                let (status, _, _) = fetch(&mut sender, addr, &target).await;
                assert_eq!(status, 200);
                done += 1;
            }
            done
        });
    }
    let started = Instant::now();
    let mut total = 0;
    while let Some(done) = tasks.join_next().await {
        total += done.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// Latency of `n` sequential requests on one connection.
async fn latencies(addr: SocketAddr, target: &str, n: usize) -> Vec<Duration> {
    let mut sender = connect(addr).await;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let (status, _, _) = fetch(&mut sender, addr, target).await;
        assert_eq!(status, 200);
        samples.push(started.elapsed());
    }
    samples
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

fn main() {
    let args = args();
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/gallery_full".into());
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let servers = runtime("servers", args.server_threads);
    let client = runtime("client", args.client_threads);
    let prefix = format!("gp-load:{}:", std::process::id());

    let base = || {
        let mut s = Settings::default();
        s.server.listen = "127.0.0.1:0".into();
        s.server.admin_listen = "127.0.0.1:0".into();
        s.database.url = database_url.clone();
        s.redis.key_prefix = prefix.clone();
        s
    };
    let tag: String = servers.block_on(async {
        let pool = postgres::pool(&base().database).unwrap();
        sqlx::query_scalar(
            "SELECT tag_id::text FROM gallery_proxy.item_counts
              WHERE tag_id <> '00000000-0000-0000-0000-000000000000'
              GROUP BY tag_id ORDER BY sum(n) DESC LIMIT 1",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    });
    let query = format!(
        "page=1&page_size=25&content_source_types=user-regular&content_source_types=user-auto&content_source_types=community-regular&content_source_types=community-auto&user_id={ADMIN}&tag={tag}&sort_field=created_at&sort_order=desc"
    );
    let target = format!("/api/v1/content/unified?{query}");

    let (l1, l2, miss) = servers.block_on(async {
        let mut l1 = base();
        l1.redis.url = Some(redis_url.clone());
        let mut l2 = base();
        l2.redis.url = Some(redis_url.clone());
        l2.cache.memory_bytes = 0;
        let mut miss = base();
        miss.cache.memory_bytes = 0;
        (proxy(l1).await, proxy(l2).await, proxy(miss).await)
    });
    // Fill once (L1 and Redis), and take the body and headers the bare server will send.
    let (body, headers) = client.block_on(async {
        let mut sender = connect(l1).await;
        let request = hyper::Request::get(&target)
            .header("host", l1.to_string())
            .body(Empty::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        (
            response.into_body().collect().await.unwrap().to_bytes(),
            headers,
        )
    });
    let bare = servers.block_on(bare_server(body.clone(), headers));
    println!(
        "Canonical one-tag page: {} bytes; {} rounds of {} s at {} connections; {} server and {} client worker threads\n",
        body.len(),
        args.rounds,
        args.seconds,
        args.connections,
        args.server_threads,
        args.client_threads
    );

    // Throughput, alternating so both see the same machine conditions.
    let (mut bare_rps, mut l1_rps) = (Vec::new(), Vec::new());
    client.block_on(async {
        for _ in 0..2 {
            throughput(bare, &target, args.connections, 0.5).await;
            throughput(l1, &target, args.connections, 0.5).await;
        }
        for _ in 0..args.rounds {
            bare_rps.push(throughput(bare, &target, args.connections, args.seconds).await);
            l1_rps.push(throughput(l1, &target, args.connections, args.seconds).await);
        }
    });
    let ratios: Vec<f64> = l1_rps.iter().zip(&bare_rps).map(|(l, b)| l / b).collect();
    let (bare_median, l1_median) = (median(&mut bare_rps.clone()), median(&mut l1_rps.clone()));
    println!("| server | requests/s per round | median |");
    println!("|---|---|---:|");
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("| bare hyper | {} | {bare_median:.0} |", list(&bare_rps));
    println!("| L1 hit | {} | {l1_median:.0} |", list(&l1_rps));
    println!(
        "\nL1/bare: median of per-round ratios {:.3} (ratio of medians {:.3}; rounds {})\n",
        median(&mut ratios.clone()),
        l1_median / bare_median,
        ratios
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Latency, one connection, alternating blocks.
    let n = args.latency_requests;
    let mut series: Vec<(&str, Vec<Duration>)> = vec![
        ("bare hyper", Vec::new()),
        ("L1 hit (memory)", Vec::new()),
        ("L2 hit (redis)", Vec::new()),
    ];
    client.block_on(async {
        latencies(l2, &target, 100).await;
        for _ in 0..5 {
            series[0].1.extend(latencies(bare, &target, n / 5).await);
            series[1].1.extend(latencies(l1, &target, n / 5).await);
            series[2].1.extend(latencies(l2, &target, n / 5).await);
        }
    });
    let misses = (n / 20).max(50);
    let mut miss_samples = Vec::new();
    let mut sql_samples = Vec::new();
    let service = servers.block_on(async {
        GalleryService::new(
            postgres::pool(&base().database).unwrap(),
            base().statement_timeout(),
        )
    });
    let parsed = parse(&query, &Limits::default()).unwrap();
    for _ in 0..10 {
        miss_samples.extend(client.block_on(latencies(miss, &target, misses / 10)));
        sql_samples.extend(servers.block_on(async {
            let mut samples = Vec::new();
            for _ in 0..misses / 10 {
                let started = Instant::now();
                service.answer(&parsed).await.unwrap();
                samples.push(started.elapsed());
            }
            samples
        }));
    }
    series.push(("miss (proxy, SQL)", miss_samples));
    series.push(("SQL alone (no HTTP, no cache)", sql_samples));
    for (_, samples) in &mut series {
        samples.sort();
    }
    println!("| path | n | p50 ms | p90 ms | p99 ms | p99.9 ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, s) in &series {
        println!(
            "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
            s.len(),
            percentile(s, 0.5),
            percentile(s, 0.9),
            percentile(s, 0.99),
            percentile(s, 0.999)
        );
    }
    let p99 = |i: usize| percentile(&series[i].1, 0.99);
    let p50 = |i: usize| percentile(&series[i].1, 0.5);
    println!(
        "\nL2 over L1: p50 +{:.3} ms, p99 +{:.3} ms. Miss over SQL alone: p50 +{:.3} ms, p99 +{:.3} ms.",
        p50(2) - p50(1),
        p99(2) - p99(1),
        p50(3) - p50(4),
        p99(3) - p99(4)
    );

    if let Some(path) = &args.svg {
        std::fs::write(path, svg(&series)).unwrap();
        println!("\nLatency distributions drawn to {path}");
    }
    servers.block_on(async {
        let client = deadpool_redis::redis::Client::open(redis_url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: () = deadpool_redis::redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    });
}

/// Cumulative distributions on a logarithmic latency axis, one line per series.
fn svg(series: &[(&str, Vec<Duration>)]) -> String {
    let (width, height, left, right, top, bottom) = (960.0, 420.0, 70.0, 330.0, 30.0, 50.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let (lo, hi) = (0.01f64.log10(), 100f64.log10()); // 10 µs .. 100 ms
    let x = |ms: f64| left + (ms.max(0.01).log10() - lo) / (hi - lo) * plot_w;
    let y = |q: f64| top + (1.0 - q) * plot_h;
    let colors = ["#555555", "#1f77b4", "#2ca02c", "#d62728", "#ff7f0e"];
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{left}\" y=\"18\" font-size=\"14\">gallery-proxy: latency of the canonical one-tag page (cumulative share of requests)</text>"
    );
    for decade in [0.01, 0.1, 1.0, 10.0, 100.0] {
        let label = if decade < 1.0 {
            format!("{} µs", decade * 1000.0)
        } else {
            format!("{decade} ms")
        };
        let _ = write!(
            out,
            "<line x1=\"{0:.1}\" y1=\"{top}\" x2=\"{0:.1}\" y2=\"{1:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{0:.1}\" y=\"{2:.1}\" text-anchor=\"middle\">{label}</text>",
            x(decade),
            top + plot_h,
            top + plot_h + 18.0
        );
    }
    for q in [0.0, 0.5, 0.9, 0.99] {
        let _ = write!(
            out,
            "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#eee\"/>\
             <text x=\"{2:.1}\" y=\"{3:.1}\" text-anchor=\"end\">{q}</text>",
            y(q),
            left + plot_w,
            left - 6.0,
            y(q) + 4.0
        );
    }
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">latency (log scale)</text>",
        left + plot_w / 2.0,
        height - 8.0
    );
    for (i, (name, samples)) in series.iter().enumerate() {
        let color = colors[i % colors.len()];
        let mut points = String::new();
        let steps = 400;
        for step in 0..=steps {
            let q = step as f64 / steps as f64;
            let ms = percentile(samples, q.max(1.0 / samples.len() as f64));
            let _ = write!(points, "{:.1},{:.1} ", x(ms), y(q));
        }
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{points}\"/>\
             <line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{2:.1}\" y2=\"{1:.1}\" stroke=\"{color}\" stroke-width=\"3\"/>\
             <text x=\"{3:.1}\" y=\"{4:.1}\">{name} (p50 {5:.3} ms)</text>",
            left + plot_w + 12.0,
            top + 20.0 + i as f64 * 22.0,
            left + plot_w + 36.0,
            left + plot_w + 42.0,
            top + 24.0 + i as f64 * 22.0,
            percentile(samples, 0.5)
        );
    }
    out.push_str("</svg>\n");
    out
}
