//! One database per test, cloned from a template that is migrated and seeded once per version
//! of the migrations and seed (test processes run in parallel; an advisory lock lets one of
//! them build it while the others wait). Each clone is dropped when the test ends.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use gallery_proxy::config::DatabaseSettings;
use gallery_proxy::seed::{self, Distribution, SeedOptions};
use gallery_proxy::store::postgres;

/// Items in the template: small enough to clone in a blink, big enough for every tag to be
/// on several regular and auto items.
pub const TEMPLATE_ITEMS: u64 = 3_000;

fn server_url() -> String {
    std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn template_name() -> String {
    // Any change to a migration or to the seed makes a new template.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(root.join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.push(root.join("src/seed.rs"));
    let mut fingerprint: u64 = 0xcbf29ce484222325;
    for file in files {
        for byte in std::fs::read(&file).unwrap() {
            fingerprint = (fingerprint ^ u64::from(byte)).wrapping_mul(0x100000001b3);
        }
    }
    format!("gp_template_{:012x}", fingerprint & 0xffff_ffff_ffff)
}

async fn admin_connection() -> PgConnection {
    let options = PgConnectOptions::from_str(&format!("{}/postgres", server_url()))
        .unwrap()
        .disable_statement_logging();
    PgConnection::connect_with(&options)
        .await
        .expect("PostgreSQL is running on 127.0.0.1:5432")
}

async fn ensure_template(admin: &mut PgConnection) -> String {
    let name = template_name();
    sqlx::query("SELECT pg_advisory_lock(20261203)")
        .execute(&mut *admin)
        .await
        .unwrap();
    let ready: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)",
    )
    .bind(&name)
    .fetch_one(&mut *admin)
    .await
    .unwrap();
    if !ready {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name}"
        )))
        .execute(&mut *admin)
        .await
        .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut *admin)
            .await
            .unwrap();
        let url = format!("{}/{name}", server_url());
        let settings = DatabaseSettings {
            url: url.clone(),
            ..DatabaseSettings::default()
        };
        postgres::migrate(&settings)
            .await
            .expect("migrations apply");
        let options = SeedOptions {
            items: TEMPLATE_ITEMS,
            distribution: Distribution::Zipf,
            seed: 7,
            users: 20,
            replace: false,
        };
        seed::seed(&url, &options).await.expect("seed runs");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {name} WITH is_template = true"
        )))
        .execute(&mut *admin)
        .await
        .unwrap();
    }
    sqlx::query("SELECT pg_advisory_unlock(20261203)")
        .execute(&mut *admin)
        .await
        .unwrap();
    name
}

/// A database name no other test process uses at the same time.
fn unique_name() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("gp_test_{}_{n}_{nanos}", std::process::id())
}

pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// A fresh copy of the seeded template.
    pub async fn seeded() -> TestDb {
        let mut admin = admin_connection().await;
        let template = ensure_template(&mut admin).await;
        let name = unique_name();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {name} TEMPLATE {template}"
        )))
        .execute(&mut admin)
        .await
        .expect("clone the template");
        let url = format!("{}/{name}", server_url());
        TestDb { name, url }
    }

    pub async fn connect(&self) -> PgConnection {
        let options = PgConnectOptions::from_str(&self.url)
            .unwrap()
            .disable_statement_logging();
        PgConnection::connect_with(&options).await.unwrap()
    }

    pub async fn execute(&self, sql: &str) {
        let mut conn = self.connect().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        super::run_detached(move || async move {
            let mut admin = admin_connection().await;
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await;
        });
    }
}
