//! A migration written to misbehave. It first writes a row it is allowed to
//! write (into `acme_items`), then attacks in the way the config value
//! `attack` names, so every test can check that the write was rolled back
//! with everything else.

use wasmig_guest::{Db, Dialect, Env, Error, Level, Migration, Result, export_migration};

struct Adversary;

impl Migration for Adversary {
    fn up(db: &Db, env: &Env) -> Result<()> {
        let attack = env.var("attack").unwrap_or_default();
        db.execute(
            "INSERT INTO acme_items (id, label) VALUES (100, 'written before the attack')",
            &[],
        )?;
        let default_schema: String = match db.dialect() {
            Dialect::Postgres => "public".into(),
            Dialect::Sqlite => "main".into(),
            Dialect::Mysql => db.query_scalar("SELECT DATABASE()", &[])?,
        };
        match attack.as_str() {
            "loop" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "recursion" => {
                std::hint::black_box(recurse(std::hint::black_box(1)));
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![7u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "read_passwd" => {
                let text = std::fs::read_to_string("/etc/passwd").map_err(Error::msg)?;
                let insert = format!(
                    "INSERT INTO acme_items (id, label) VALUES (101, {})",
                    db.placeholder(1)
                );
                db.execute(&insert, &wasmig_guest::params![text])?;
            }
            "list_root" => {
                let entries = std::fs::read_dir("/").map_err(Error::msg)?.count();
                std::hint::black_box(entries);
            }
            "tcp" => {
                let stream = std::net::TcpStream::connect("127.0.0.1:5432").map_err(Error::msg)?;
                std::hint::black_box(stream);
            }
            "udp" => {
                let socket = std::net::UdpSocket::bind("0.0.0.0:0").map_err(Error::msg)?;
                std::hint::black_box(socket);
            }
            "lookup" => {
                use std::net::ToSocketAddrs;
                let found = ("db.example.com", 5432)
                    .to_socket_addrs()
                    .map_err(Error::msg)?
                    .count();
                std::hint::black_box(found);
            }
            "env_vars" => {
                let url = std::env::var("DATABASE_URL")
                    .map_err(|e| Error::msg(format!("DATABASE_URL: {e}")))?;
                std::hint::black_box(url);
            }
            "config_key" => {
                std::hint::black_box(env.var("secret_token"));
            }
            "drop" => {
                db.execute("DROP TABLE notes", &[])?;
            }
            "delete_via_cte" => {
                // A CTE named like the table, to pass the DELETE off as
                // touching only the CTE.
                db.execute(
                    "WITH notes AS (SELECT 1 AS id) DELETE FROM notes WHERE id IN (SELECT id FROM notes)",
                    &[],
                )?;
            }
            "update_in_cte" => {
                db.query(
                    "WITH changed AS (UPDATE notes SET body = 'pwned' RETURNING id) \
                     SELECT count(*) FROM changed",
                    &[],
                )?;
            }
            "multi_statement" => {
                db.execute_script(
                    "INSERT INTO acme_items (id, label) VALUES (102, 'cover'); DELETE FROM notes",
                )?;
            }
            "quoted_name" => {
                let q = if db.dialect() == Dialect::Mysql {
                    '`'
                } else {
                    '"'
                };
                db.execute(&format!("UPDATE {q}notes{q} SET body = 'pwned'"), &[])?;
            }
            "qualified_name" => {
                db.execute(
                    &format!("UPDATE {default_schema}.notes SET body = 'pwned'"),
                    &[],
                )?;
            }
            "commit" => {
                db.execute("COMMIT", &[])?;
            }
            "huge_result" => {
                let rows = db.query(
                    // A million rows (MariaDB caps recursion at 1000 steps).
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) \
                     SELECT a.i, b.i FROM n a, n b",
                    &[],
                )?;
                std::hint::black_box(rows.len());
            }
            "log_flood" => {
                let line = "x".repeat(64 << 10);
                loop {
                    env.log(Level::Info, &line);
                }
            }
            "stdout_flood" => {
                let line = "y".repeat(64 << 10);
                loop {
                    println!("{line}");
                }
            }
            "trap_after_write" => {
                db.execute(
                    "UPDATE acme_items SET label = 'changed before the trap' WHERE id = 100",
                    &[],
                )?;
                std::process::abort();
            }
            "slow_query" => {
                let sql = match db.dialect() {
                    Dialect::Postgres => "SELECT pg_sleep(600)",
                    Dialect::Mysql => "SELECT SLEEP(600)",
                    Dialect::Sqlite => {
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
                         WHERE i < 100000000000) SELECT count(*) FROM n"
                    }
                };
                // Whatever the database says, go on waiting: only the host
                // can end this.
                let _ = db.query(sql, &[]);
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            other => return Err(Error::msg(format!("unknown attack `{other}`"))),
        }
        Ok(())
    }
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [depth; 64];
    std::hint::black_box(&mut frame);
    recurse(frame[7] + 1) + frame[3]
}

export_migration!(Adversary);
