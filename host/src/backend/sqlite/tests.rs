use super::*;

async fn people() -> SqliteBackend {
    let mut db = SqliteBackend::open(None).unwrap();
    db.execute_script(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, \
         active BOOLEAN, born DATE, meta JSON)",
    )
    .await
    .unwrap();
    db
}

#[tokio::test]
async fn batch_insert_and_typed_read_back() {
    let mut db = people().await;
    let sets: Vec<Vec<Value>> = (1..=3)
        .map(|i| {
            vec![
                Value::Int(i),
                Value::Text(format!("p{i}")),
                Value::Boolean(i % 2 == 1),
                Value::Date("2020-01-01".into()),
                Value::Json("{}".into()),
            ]
        })
        .collect();
    let n = db
        .execute_batch("INSERT INTO people VALUES (?1, ?2, ?3, ?4, ?5)", &sets)
        .await
        .unwrap();
    assert_eq!(n, 3);
    let rows = db
        .query("SELECT * FROM people WHERE id = ?1", &[Value::Int(1)])
        .await
        .unwrap();
    assert_eq!(
        rows.rows,
        vec![vec![
            Value::Int(1),
            Value::Text("p1".into()),
            Value::Boolean(true),
            Value::Date("2020-01-01".into()),
            Value::Json("{}".into()),
        ]]
    );
    assert_eq!(rows.columns[2].type_name, "BOOLEAN");
}

#[tokio::test]
async fn cursor_sees_rows_as_of_opening_while_the_table_changes() {
    let mut db = people().await;
    db.begin().await.unwrap();
    for i in 1..=5 {
        db.execute(
            "INSERT INTO people (id, name) VALUES (?1, ?2)",
            &[Value::Int(i), Value::Text(format!("p{i}"))],
        )
        .await
        .unwrap();
    }
    let cursor = db
        .open_cursor("SELECT id, name FROM people ORDER BY id;", &[])
        .await
        .unwrap();
    db.execute("DELETE FROM people", &[]).await.unwrap();
    let mut seen = Vec::new();
    while let Some(chunk) = db.cursor_next(cursor, 2).await.unwrap() {
        assert!(chunk.rows.len() <= 2);
        seen.extend(chunk.rows.into_iter().map(|r| r[0].clone()));
    }
    assert_eq!(seen, (1..=5).map(Value::Int).collect::<Vec<_>>());
    db.close_cursor(cursor).await.unwrap();
    db.rollback().await.unwrap();
}

#[tokio::test]
async fn constraint_violation_is_classified() {
    let mut db = people().await;
    let err = db
        .execute("INSERT INTO people (id) VALUES (1)", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind, DbErrorKind::Constraint, "{err}");
}

#[tokio::test]
async fn two_statements_in_execute_are_refused() {
    let mut db = people().await;
    let err = db
        .execute("DELETE FROM people; DROP TABLE people", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind, DbErrorKind::Syntax, "{err}");
    assert!(db.query("SELECT * FROM people", &[]).await.is_ok());
}

#[tokio::test]
async fn the_schema_hash_tables_are_uncapped() {
    // Built with .cargo/config.toml's LIBSQLITE3_FLAGS: without it, a
    // database of thousands of tables opens in quadratic time.
    let mut db = SqliteBackend::open(None).unwrap();
    let options = db.query("PRAGMA compile_options", &[]).await.unwrap();
    let has = options
        .rows
        .iter()
        .any(|r| matches!(r.first(), Some(Value::Text(t)) if t == "MALLOC_SOFT_LIMIT=0"));
    assert!(has, "{:?}", options.rows);
}

#[tokio::test]
async fn the_url_sets_how_often_commits_sync() {
    let dir = tempfile::tempdir().unwrap();
    let level = |url: String| async move {
        let url = super::super::DatabaseUrl::parse(&url).unwrap();
        let mut db = super::super::connect(&url).await.unwrap();
        let rows = db.query("PRAGMA synchronous", &[]).await.unwrap();
        rows.rows[0][0].clone()
    };
    let file = dir.path().join("a.db").display().to_string();
    // SQLite's default, FULL (2), unless the URL says otherwise.
    assert_eq!(level(format!("sqlite:{file}")).await, Value::Int(2));
    let normal = format!("sqlite:{file}?synchronous=normal");
    assert_eq!(level(normal).await, Value::Int(1));
}

/// Commits empty the rollback journal instead of deleting it; closing the
/// connection leaves no journal file, and a WAL database stays in WAL.
#[tokio::test]
async fn the_journal_is_truncated_while_open_and_gone_after() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.db");
    let journal = dir.path().join("a.db-journal");
    let mut db = SqliteBackend::open(Some(&file)).unwrap();
    let mode = db.query("PRAGMA journal_mode", &[]).await.unwrap();
    assert_eq!(mode.rows[0][0], Value::Text("truncate".into()));
    for sql in ["CREATE TABLE t (n INTEGER)", "INSERT INTO t VALUES (1)"] {
        db.begin().await.unwrap();
        db.execute(sql, &[]).await.unwrap();
        db.commit().await.unwrap();
        assert_eq!(std::fs::metadata(&journal).unwrap().len(), 0);
    }
    drop(db);
    assert!(!journal.exists(), "the journal file is removed on close");

    let wal = dir.path().join("w.db");
    rusqlite::Connection::open(&wal)
        .unwrap()
        .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .unwrap();
    let mut db = SqliteBackend::open(Some(&wal)).unwrap();
    let mode = db.query("PRAGMA journal_mode", &[]).await.unwrap();
    assert_eq!(mode.rows[0][0], Value::Text("wal".into()));

    // A migration that chooses WAL keeps it when the connection closes.
    let chosen = dir.path().join("c.db");
    let mut db = SqliteBackend::open(Some(&chosen)).unwrap();
    db.query("PRAGMA journal_mode = WAL", &[]).await.unwrap();
    drop(db);
    let mode: String = rusqlite::Connection::open(&chosen)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}
