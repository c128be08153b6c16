//! Throwaway databases.

use sqlx::Connection;

/// The PostgreSQL server tests use; `TOLLGATE_TEST_PG` overrides it.
pub fn admin_url() -> String {
    std::env::var("TOLLGATE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Whether PostgreSQL suites must run (CI sets `CI=true`): then a missing server is a failure.
pub fn postgres_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A database that exists for the life of this value.
pub enum TestDb {
    Sqlite { dir: tempfile::TempDir, url: String },
    Postgres { name: String, url: String },
}

impl TestDb {
    /// A fresh SQLite file in a temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let url = format!("sqlite://{}/tollgate.db", dir.path().display());
        TestDb::Sqlite { dir, url }
    }

    /// A fresh, uniquely named PostgreSQL database; `None` when no server answers and CI does
    /// not require one.
    pub async fn postgres() -> Option<Self> {
        let name = format!("tollgate_test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_url();
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) if !postgres_required() => {
                eprintln!("skipping: PostgreSQL not reachable at {admin}: {e}");
                return None;
            }
            Err(e) => panic!("PostgreSQL is required (CI=true) but not reachable at {admin}: {e}"),
        };
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        let url = database_url(&admin, &name);
        Some(TestDb::Postgres { name, url })
    }

    /// A URL for a PostgreSQL database that does not exist yet (for tests of creation on start);
    /// it is dropped with this value.
    pub async fn postgres_uncreated() -> Option<Self> {
        let name = format!("tollgate_test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_url();
        if let Err(e) = sqlx::PgConnection::connect(&admin).await {
            if postgres_required() {
                panic!("PostgreSQL is required (CI=true) but not reachable at {admin}: {e}");
            }
            return None;
        }
        let url = database_url(&admin, &name);
        Some(TestDb::Postgres { name, url })
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDb::Postgres { .. })
    }

    /// The directory of a SQLite database.
    pub fn dir(&self) -> Option<&std::path::Path> {
        match self {
            TestDb::Sqlite { dir, .. } => Some(dir.path()),
            TestDb::Postgres { .. } => None,
        }
    }
}

fn database_url(admin: &str, name: &str) -> String {
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    format!("{base}/{name}")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { name, .. } = self {
            let name = name.clone();
            // Drop on a thread of its own: this may run inside a runtime that is shutting down.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await {
                            let _ = sqlx::query(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .execute(&mut conn)
                            .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}
