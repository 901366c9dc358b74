//! Round-trips every value type through the database and reads it back with
//! typed getters, by batch, query and cursor. Fails with a message on the
//! first mismatch, so the host test only needs it to succeed.

use wasmig_guest::{Db, Dialect, Env, Migration, Result, Value, export_migration, params};

struct TypedValues;

fn check<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}").into())
    }
}

impl Migration for TypedValues {
    fn up(db: &Db, env: &Env) -> Result<()> {
        db.execute_script(match db.dialect() {
            Dialect::Sqlite => {
                "CREATE TABLE typed (id INTEGER PRIMARY KEY, flag BOOLEAN, ratio REAL, \
                 label TEXT, raw BLOB, doc JSON, ident UUID, at TIMESTAMP, day DATE, \
                 amount DECIMAL(10,2), missing TEXT)"
            }
            Dialect::Postgres => {
                "CREATE TABLE typed (id BIGINT PRIMARY KEY, flag BOOLEAN, \
                 ratio DOUBLE PRECISION, label TEXT, raw BYTEA, doc JSONB, ident UUID, \
                 at TIMESTAMPTZ, day DATE, amount NUMERIC(10,2), missing TEXT)"
            }
            Dialect::Mysql => {
                "CREATE TABLE typed (id BIGINT PRIMARY KEY, flag BOOLEAN, ratio DOUBLE, \
                 label TEXT, raw BLOB, doc JSON, ident CHAR(36), at DATETIME(6), day DATE, \
                 amount DECIMAL(10,2), missing TEXT)"
            }
        })?;
        let sets: Vec<Vec<Value>> = (1..=2500i64)
            .map(|i| {
                params![
                    i,
                    i % 2 == 0,
                    i as f64 / 4.0,
                    format!("row {i}"),
                    vec![1u8, 2, 3],
                    Value::Json(format!("{{\"n\":{i}}}")),
                    Value::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".into()),
                    Value::Timestamp("2024-05-01T12:30:00Z".into()),
                    Value::Date("2024-05-01".into()),
                    Value::Decimal("12.50".into()),
                    None::<String>
                ]
            })
            .collect();
        let placeholders: Vec<String> = (1..=11).map(|n| db.placeholder(n)).collect();
        let inserted = db.execute_batch(
            &format!("INSERT INTO typed VALUES ({})", placeholders.join(", ")),
            &sets,
        )?;
        check("inserted", inserted, 2500)?;

        let p1 = db.placeholder(1);
        let rows = db.query(&format!("SELECT * FROM typed WHERE id = {p1}"), &params![2])?;
        let row = rows.row(0);
        check("id", row.get::<i64>("id")?, 2)?;
        check("flag", row.get::<bool>("flag")?, true)?;
        check("ratio", row.get::<f64>("ratio")?, 0.5)?;
        check("label", row.get::<String>("label")?, "row 2".into())?;
        check("raw", row.get::<Vec<u8>>("raw")?, vec![1, 2, 3])?;
        check("doc", row.get::<String>("doc")?, "{\"n\":2}".into())?;
        check(
            "ident",
            row.get::<String>("ident")?,
            "67e55044-10b1-426f-9247-bb680e5fe0c8".into(),
        )?;
        let at: String = row.get("at")?;
        if !at.starts_with("2024-05-01T12:30:00") {
            return Err(format!("at: got {at}").into());
        }
        check("day", row.get::<String>("day")?, "2024-05-01".into())?;
        // SQLite gives DECIMAL columns NUMERIC affinity: 12.50 comes back as 12.5.
        check("amount", row.get::<f64>("amount")?, 12.5)?;
        if db.dialect() != Dialect::Sqlite {
            check("exact amount", row.get::<String>("amount")?, "12.50".into())?;
        }
        check("missing", row.get::<Option<String>>("missing")?, None)?;
        if row.get::<i64>("label").is_ok() {
            return Err("reading text as an integer must fail".into());
        }

        // A value that does not fit is an error the migration sees, naming
        // the parameter.
        let misfit = match db.dialect() {
            Dialect::Postgres => Some((
                "INSERT INTO typed (id, ident) VALUES ($1, $2)",
                params![9999, Value::Uuid("not-a-uuid".into())],
                "$2",
            )),
            Dialect::Mysql => Some((
                "INSERT INTO typed (id, label) VALUES (?, ?)",
                params![Value::Text("not a number".into()), "x"],
                "id",
            )),
            Dialect::Sqlite => None,
        };
        if let Some((sql, params, names)) = misfit {
            match db.execute(sql, &params) {
                Err(e) if e.to_string().contains(names) => {
                    env.info(&format!("misfit refused: {e}"));
                }
                other => return Err(format!("a misfit value was not refused: {other:?}").into()),
            }
        }

        let mut seen = 0i64;
        let mut batches = 0;
        for batch in db.cursor("SELECT id FROM typed ORDER BY id", &[], 1000)? {
            let batch = batch?;
            batches += 1;
            for row in batch.iter() {
                seen += 1;
                check("cursor order", row.get::<i64>(0)?, seen)?;
            }
            // Changing the table while reading must not disturb the cursor.
            db.execute(
                &format!("DELETE FROM typed WHERE id > {p1}"),
                &params![seen + 1],
            )?;
        }
        check("cursor rows", seen, 2500)?;
        check("cursor batches", batches, 3)?;
        env.info(&format!(
            "typed values ok: {seen} rows in {batches} batches"
        ));
        Ok(())
    }

    fn down(db: &Db, _env: &Env) -> Result<()> {
        db.execute("DROP TABLE typed", &[])?;
        Ok(())
    }
}

export_migration!(TypedValues);
