//! The `gallery-proxy` command: serve | migrate | seed | demo | recount.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sqlx::Connection;

use gallery_proxy::app::{shutdown_signal, App};
use gallery_proxy::config::Settings;
use gallery_proxy::seed::{self, Distribution, SeedOptions};
use gallery_proxy::store::postgres;
use gallery_proxy::telemetry;

#[derive(Parser)]
#[command(
    version,
    about = "A tag-aware caching proxy for Genonaut's gallery route"
)]
struct Cli {
    /// Settings file (default: config/default.toml when it exists).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gallery API and the admin listener until SIGINT/SIGTERM.
    Serve,
    /// Apply migrations/ to DATABASE_URL.
    Migrate,
    /// Fill DATABASE_URL with synthetic gallery data.
    Seed {
        #[arg(long)]
        items: u64,
        #[arg(long, value_enum, default_value = "zipf")]
        dist: Distribution,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 500)]
        users: u32,
        /// Delete the existing gallery rows first.
        #[arg(long)]
        replace: bool,
    },
    /// Create the database if missing, migrate, seed a small set if empty, and serve.
    Demo {
        #[arg(long, default_value_t = 20_000)]
        items: u64,
        #[arg(long, value_enum, default_value = "dense")]
        dist: Distribution,
    },
    /// Rebuild the proxy's item counters from the tables.
    Recount,
}

#[tokio::main]
async fn main() {
    telemetry::init_logging();
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref(), |key| std::env::var(key).ok()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(cli.command, settings).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    let db = &settings.database;
    match command {
        Command::Serve => serve(&settings).await,
        Command::Migrate => postgres::migrate(db).await,
        Command::Seed {
            items,
            dist,
            seed,
            users,
            replace,
        } => {
            seed::seed(
                &db.url,
                &SeedOptions {
                    items,
                    distribution: dist,
                    seed,
                    users,
                    replace,
                },
            )
            .await
        }
        Command::Recount => {
            // A full rebuild takes about a minute on 1.2M items: no statement timeout here.
            let mut conn =
                sqlx::PgConnection::connect_with(&postgres::bulk_options(&db.url)?).await?;
            sqlx::query("SELECT gallery_proxy.rebuild_item_counts()")
                .execute(&mut conn)
                .await?;
            Ok(())
        }
        Command::Demo { items, dist } => {
            if postgres::create_database_if_missing(&db.url)
                .await
                .context("creating the demo database")?
            {
                tracing::info!(url = %db.url, "created the demo database");
            }
            postgres::migrate(db).await.context("migrating")?;
            let pool = postgres::pool(db)?;
            let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM content_items_all")
                .fetch_one(&pool)
                .await?;
            pool.close().await;
            if existing == 0 {
                tracing::info!(items, "seeding the demo database");
                seed::seed(
                    &db.url,
                    &SeedOptions {
                        items,
                        distribution: dist,
                        seed: 1,
                        users: 500,
                        replace: false,
                    },
                )
                .await?;
            }
            serve(&settings).await
        }
    }
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let app = App::build(settings).await?;
    let (api, admin) = (app.api_addr(), app.admin_addr());
    tracing::info!(%api, %admin, "gallery-proxy listening");
    eprintln!(
        "\nTry:\n  curl -s 'http://{api}/api/v1/content/unified?page_size=2' | head -c 600; echo\n  \
         curl -s 'http://{api}/api/v1/content/unified?content_source_types=user-regular&content_source_types=community-auto&user_id={user}&page_size=1&include_stats=true'; echo\n  \
         curl -s 'http://{api}/api/v1/content/unified?page=0'; echo\n  \
         curl -s http://{admin}/metrics | grep gallery_proxy_http\n",
        user = seed::ADMIN_USER
    );
    app.run(shutdown_signal()).await;
    Ok(())
}
