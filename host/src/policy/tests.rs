use std::path::Path;

use serde::Deserialize;

use super::*;
use crate::backend::Dialect;
use crate::limits::Limits;

fn policies(toml_text: &str) -> Policies {
    #[derive(Deserialize)]
    struct File {
        policy: Vec<PolicyConfig>,
    }
    let file: File = toml::from_str(toml_text).unwrap();
    Policies::new(Limits::default(), &file.policy, "/project").unwrap()
}

const ACME: &str = r#"
    [[policy]]
    name = "acme"
    paths = ["vendor/acme/**"]
    statements = ["select", "insert", "update"]
    tables = ["acme_*"]
    env_vars = ["region"]
    limits = { fuel = 1000, timeout = "2m" }

    [[policy]]
    name = "late"
    versions = ["9000.."]
    limits = { fuel = 500 }
"#;

#[test]
fn policies_attach_by_path_and_version_and_narrow_each_other() {
    let p = policies(ACME);
    let plain = p
        .sandbox(1, Path::new("/project/migrations/1_a.sql"))
        .unwrap();
    assert!(plain.policies.is_empty());
    assert!(!plain.restricts_sql());
    assert_eq!(plain.limits, Limits::default());

    let acme = p
        .sandbox(5, Path::new("/project/vendor/acme/5_items.wasm"))
        .unwrap();
    assert_eq!(acme.policies, vec!["acme"]);
    assert_eq!(acme.limits.fuel, 1000);
    assert_eq!(acme.limits.timeout.as_secs(), 120);

    let both = p
        .sandbox(9001, Path::new("/project/vendor/acme/9001_x.wasm"))
        .unwrap();
    assert_eq!(both.policies, vec!["acme", "late"]);
    assert_eq!(both.limits.fuel, 500);
    assert_eq!(both.limits.timeout.as_secs(), 120);
}

#[test]
fn a_narrow_policy_refuses_what_it_does_not_list() {
    let p = policies(ACME);
    let s = p
        .sandbox(5, Path::new("/project/vendor/acme/5_items.wasm"))
        .unwrap();
    let pg = Dialect::Postgres;
    assert!(
        s.check_sql(pg, "public", "UPDATE acme_items SET n = n + 1")
            .is_ok()
    );
    assert!(
        s.check_sql(pg, "public", "SELECT * FROM public.acme_items")
            .is_ok()
    );
    for (sql, rule) in [
        ("DROP TABLE acme_items", "statements"),
        ("DELETE FROM acme_items", "statements"),
        ("UPDATE users SET admin = true", "tables"),
        ("UPDATE \"Users\" SET admin = true", "tables"),
        ("UPDATE public.users SET admin = true", "tables"),
        ("UPDATE other.acme_items SET n = 1", "tables"),
        ("INSERT INTO acme_items SELECT * FROM users", "tables"),
        (
            "WITH x AS (UPDATE users SET admin = true RETURNING 1) SELECT * FROM x",
            "tables",
        ),
        ("SELECT 1; UPDATE users SET admin = true", "tables"),
        ("COMMIT", "transactions"),
        ("SET ROLE postgres", "policy"),
        ("this is not sql", "policy"),
    ] {
        let err = s.check_sql(pg, "public", sql).unwrap_err();
        assert!(err.rule.starts_with(rule), "{sql}: {err}");
    }
    assert!(s.check_var("region").is_ok());
    let err = s.check_var("api_key").unwrap_err();
    assert!(err.to_string().contains("api_key"), "{err}");
}

#[test]
fn without_a_policy_only_transaction_control_is_refused() {
    let s = Sandbox::default();
    assert!(
        s.check_sql(Dialect::Sqlite, "main", "DROP TABLE users")
            .is_ok()
    );
    assert!(
        s.check_sql(Dialect::Sqlite, "main", "not sql at all")
            .is_ok()
    );
    assert!(
        s.check_sql(Dialect::Sqlite, "main", "SELECT 1; COMMIT")
            .is_err()
    );
}
