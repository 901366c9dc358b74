//! Throwaway databases on the three engines, and engine-neutral ways to
//! look into them (through each engine's own command-line client, not
//! through wasmig).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The database engines the suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
    Mysql,
}

/// The server URL (without a database) for PostgreSQL tests.
pub fn postgres_server() -> String {
    std::env::var("WASMIG_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// The server URL (without a database) for MySQL/MariaDB tests.
pub fn mysql_server() -> String {
    std::env::var("WASMIG_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A fresh database, dropped when this value is.
pub struct Database {
    pub engine: Engine,
    name: String,
    sqlite_path: PathBuf,
}

impl Database {
    /// Creates a uniquely named empty database (for SQLite: a file path in
    /// `dir` that does not exist yet).
    pub fn create(engine: Engine, dir: &Path) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "wasmig_t{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let db = Self {
            engine,
            sqlite_path: dir.join("test.db"),
            name,
        };
        match engine {
            Engine::Sqlite => {}
            Engine::Postgres => {
                db.psql("postgres", &format!("CREATE DATABASE {}", db.name));
            }
            Engine::Mysql => {
                db.mariadb(None, &format!("CREATE DATABASE {}", db.name));
            }
        }
        db
    }

    /// The URL wasmig connects with.
    pub fn url(&self) -> String {
        match self.engine {
            Engine::Sqlite => format!("sqlite:{}", self.sqlite_path.display()),
            Engine::Postgres => format!("{}/{}", postgres_server(), self.name),
            Engine::Mysql => format!("{}/{}", mysql_server(), self.name),
        }
    }

    /// The whole database as text: schema and every row, from the engine's
    /// own dump tool (empty for a SQLite file that does not exist).
    pub fn dump(&self) -> String {
        match self.engine {
            Engine::Sqlite => super::sqlite_dump(&self.sqlite_path),
            Engine::Postgres => {
                let schema = run(Command::new("pg_dump")
                    .args(["--no-owner", "--no-privileges", "--schema-only"])
                    .arg(format!("{}/{}", postgres_server(), self.name)));
                // `\restrict` lines carry a key that differs on every run.
                let schema: Vec<&str> = schema
                    .lines()
                    .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
                    .collect();
                schema.join("\n") + &self.postgres_data()
            }
            Engine::Mysql => {
                let mut cmd = Command::new("mariadb-dump");
                cmd.args(["--skip-dump-date", "--skip-comments", "--order-by-primary"]);
                cmd.args(mysql_args());
                cmd.arg(&self.name);
                run(&mut cmd)
            }
        }
    }

    /// The schema (tables, indexes, routines, triggers) without wasmig's
    /// own tables, as the engine's own tools describe it.
    pub fn schema(&self) -> String {
        match self.engine {
            Engine::Sqlite => self
                .column(
                    "SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_schema \
                     WHERE tbl_name NOT LIKE 'wasmig_%' ORDER BY type, name",
                )
                .join("\n"),
            Engine::Postgres => {
                let dump = run(Command::new("pg_dump")
                    .args(["--no-owner", "--no-privileges", "--schema-only"])
                    .arg("--exclude-table=wasmig_*")
                    .arg(format!("{}/{}", postgres_server(), self.name)));
                dump.lines()
                    .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            Engine::Mysql => {
                let mut cmd = Command::new("mariadb-dump");
                cmd.args([
                    "--no-data",
                    "--skip-dump-date",
                    "--skip-comments",
                    "--skip-triggers",
                ]);
                cmd.args(mysql_args());
                for table in ["wasmig_migrations", "wasmig_payloads", "wasmig_history"] {
                    cmd.arg(format!("--ignore-table={}.{table}", self.name));
                }
                cmd.arg(&self.name);
                let tables = run(&mut cmd);
                let routines = self.column(
                    "SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME, ': ', ROUTINE_DEFINITION) \
                     FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() \
                     ORDER BY ROUTINE_NAME",
                );
                let triggers = self.column(
                    "SELECT CONCAT(TRIGGER_NAME, ' ', ACTION_TIMING, ' ', EVENT_MANIPULATION, \
                     ' ON ', EVENT_OBJECT_TABLE, ': ', ACTION_STATEMENT) \
                     FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() \
                     ORDER BY TRIGGER_NAME",
                );
                format!("{tables}\n{}\n{}", routines.join("\n"), triggers.join("\n"))
            }
        }
    }

    /// Runs a script the way the engine's own client does, outside wasmig:
    /// `sqlite3`, `psql -f`, and for MySQL the whole script as one
    /// multi-statement query (as golang-migrate sends it).
    pub fn apply_natively(&self, script: &str) {
        use std::io::Write;
        let mut cmd = match self.engine {
            Engine::Sqlite => {
                let mut c = Command::new("sqlite3");
                c.arg(&self.sqlite_path);
                c
            }
            Engine::Postgres => {
                let mut c = Command::new("psql");
                c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"])
                    .arg(format!("{}/{}", postgres_server(), self.name));
                c
            }
            Engine::Mysql => {
                let mut c = Command::new("mariadb");
                c.args(mysql_args())
                    .arg(&self.name)
                    .arg("--delimiter=@@wasmig-test@@")
                    .arg("-e")
                    .arg(script);
                c
            }
        };
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if self.engine != Engine::Mysql {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(script.as_bytes())
                .unwrap();
        } else {
            drop(child.stdin.take());
        }
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success() && output.stderr.is_empty(),
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Every row of every table, ordered, so a dump does not depend on where
    /// rows physically sit.
    fn postgres_data(&self) -> String {
        let tables = self.column(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
        );
        let mut out = String::new();
        for table in tables {
            out.push_str(&format!("-- {table}\n"));
            for row in self.column(&format!(
                "SELECT t::text FROM \"{table}\" t ORDER BY t::text"
            )) {
                out.push_str(&row);
                out.push('\n');
            }
        }
        out
    }

    /// Runs a query and returns the first column of every row as text
    /// (`NULL` for NULL).
    pub fn column(&self, sql: &str) -> Vec<String> {
        match self.engine {
            Engine::Sqlite => super::sqlite_column(&self.sqlite_path, sql),
            Engine::Postgres => lines(&self.psql(&self.name, sql)),
            Engine::Mysql => lines(&self.mariadb(Some(&self.name), sql)),
        }
    }

    /// Whether a table exists.
    pub fn has_table(&self, table: &str) -> bool {
        let sql = match self.engine {
            Engine::Sqlite => format!("SELECT count(*) FROM sqlite_schema WHERE name = '{table}'"),
            Engine::Postgres => format!(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = '{table}'"
            ),
            Engine::Mysql => format!(
                "SELECT count(*) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = '{table}'"
            ),
        };
        self.column(&sql) == ["1"]
    }

    /// The database's name (unique to this test).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `sql` on this PostgreSQL database with psql.
    pub fn psql_here(&self, sql: &str) -> String {
        self.psql(&self.name, sql)
    }

    fn psql(&self, database: &str, sql: &str) -> String {
        Self::psql_on(database, sql)
    }

    /// Runs `sql` with `psql` on the test server's database `database`.
    pub fn psql_on(database: &str, sql: &str) -> String {
        run(Command::new("psql")
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-P",
                "null=NULL",
            ])
            .arg(format!("{}/{database}", postgres_server()))
            .arg("-c")
            .arg(sql))
    }

    fn mariadb(&self, database: Option<&str>, sql: &str) -> String {
        let mut cmd = Command::new("mariadb");
        cmd.args(["-N", "-B"]).args(mysql_args());
        if let Some(db) = database {
            cmd.arg(db);
        }
        run(cmd.arg("-e").arg(sql))
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        match self.engine {
            Engine::Sqlite => {}
            Engine::Postgres => {
                let _ = Command::new("psql")
                    .args(["-X", "-q"])
                    .arg(format!("{}/postgres", postgres_server()))
                    .arg("-c")
                    .arg(format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        self.name
                    ))
                    .output();
            }
            Engine::Mysql => {
                let _ = Command::new("mariadb")
                    .args(mysql_args())
                    .arg("-e")
                    .arg(format!("DROP DATABASE IF EXISTS {}", self.name))
                    .output();
            }
        }
    }
}

/// `mysql://user:password@host:port` as command-line arguments.
/// The `mariadb` client's connection arguments for the test server.
pub fn mysql_args() -> Vec<String> {
    let url = mysql_server();
    let rest = url
        .split_once("://")
        .map_or(url.as_str(), |(_, r)| r)
        .trim_end_matches('/');
    let (auth, host) = rest.rsplit_once('@').unwrap_or(("root", rest));
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (host, port) = host.split_once(':').unwrap_or((host, "3306"));
    let mut args = vec![
        format!("--user={user}"),
        format!("--host={host}"),
        format!("--port={port}"),
        "--protocol=tcp".to_owned(),
    ];
    if !password.is_empty() {
        args.push(format!("--password={password}"));
    }
    args
}

fn run(cmd: &mut Command) -> String {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is the database client installed?)"));
    assert!(
        output.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}
