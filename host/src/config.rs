//! `wasmig.toml`: project settings and per-environment settings.
//!
//! ```toml
//! migrations = "migrations"          # the migrations directory (or a list of them)
//! database_url = "sqlite:app.db"     # used when no flag or DATABASE_URL says otherwise
//! cache_dir = ".wasmig-cache"        # compiled components (default: the user's cache directory)
//! schema = "schema"                  # the desired schema: .sql files, or a state file (default: schema/)
//! dev_url = "postgres://localhost/dev"  # an empty database for replays (default: a scratch one)
//!
//! [limits]                           # for every component migration
//! fuel = 20_000_000_000
//! memory_mb = 512
//!
//! [env.dev]
//! database_url = "sqlite:dev.db"
//! vars = { demo_users = "25" }       # values guests may read with env.var
//!
//! [env.prod]
//! database_url = "${PROD_DATABASE_URL}"   # ${VAR} reads the environment, then .env
//! protected = true                   # `reset`, `database drop`, `schema sync`, `schema drop` are refused here
//! limits = { timeout = "2h" }        # over [limits], for this environment only
//! ```
//!
//! A `.env` file beside `wasmig.toml` (`KEY=value` lines) supplies variables
//! the process environment does not set: `DATABASE_URL` and the `${VAR}`s
//! above.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;
use crate::policy::PolicyConfig;
use crate::runtime::Limits;

/// The file name wasmig looks for in the current directory.
pub const FILE_NAME: &str = "wasmig.toml";

/// The contents of `wasmig.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    /// The migrations directory, or several (`["migrations", "vendor/acme"]`)
    /// read as one sequence; relative to the file.
    pub migrations: Option<Directories>,
    /// The database URL for every environment without its own.
    pub database_url: Option<String>,
    /// Where compiled components are cached between runs; relative to the
    /// file.
    pub cache_dir: Option<PathBuf>,
    /// The schema the project means to have: a directory of `.sql` files or
    /// a state file (`schema dump --format toml`); relative to the file.
    pub schema: Option<PathBuf>,
    /// An empty database wasmig may replay migrations into (`--dev-url`),
    /// instead of creating a scratch database; `${VAR}`s are read.
    pub dev_url: Option<String>,
    /// Limits for component migrations.
    #[serde(default)]
    pub limits: Limits,
    /// Per-environment settings.
    #[serde(default)]
    pub env: BTreeMap<String, EnvConfig>,
    /// Sandbox policies, `[[policy]]` (see [`crate::policy`]).
    #[serde(default)]
    pub policy: Vec<PolicyConfig>,
    /// The tenants `wasmig fleet` runs against, `[fleet]`.
    #[serde(default)]
    pub fleet: FleetConfig,
}

/// `[fleet]`: the tenant databases of `wasmig fleet`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// Tenant URLs; `${VAR}`s are read.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Patterns of SQLite files, relative to the file (`tenants/*.db`).
    #[serde(default)]
    pub sqlite_glob: Vec<String>,
    /// How many tenants run at once (default: see `fleet::default_parallel`).
    pub parallel: Option<usize>,
    /// A query whose rows are tenants: URLs, or a column named `schema`
    /// of PostgreSQL schemas on the control database.
    pub targets_query: Option<String>,
    /// The database `targets_query` runs on (default: the project's
    /// database); `${VAR}`s are read.
    pub control_url: Option<String>,
}

/// One migrations directory or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Directories {
    /// `migrations = "migrations"`
    One(PathBuf),
    /// `migrations = ["migrations", "vendor/acme"]`
    Many(Vec<PathBuf>),
}

impl Directories {
    /// The directories, in order.
    pub fn list(&self) -> Vec<PathBuf> {
        match self {
            Self::One(dir) => vec![dir.clone()],
            Self::Many(dirs) => dirs.clone(),
        }
    }
}

/// Settings of one environment, `[env.<name>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    /// The environment's database URL.
    pub database_url: Option<String>,
    /// Config values guests may read with `env.var`.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Destructive commands (`reset`, `database drop`, `schema sync`,
    /// `schema drop`) are refused.
    #[serde(default)]
    pub protected: bool,
    /// Limits for this environment, over the project's `[limits]`.
    pub limits: Option<toml::Table>,
}

/// A loaded `wasmig.toml` and where it was found.
#[derive(Debug, Clone, Default)]
pub struct LoadedConfig {
    /// The directory relative paths are resolved against: the file's
    /// directory, or the current directory when there is no file.
    pub root: PathBuf,
    /// The file, if there is one.
    pub path: Option<PathBuf>,
    /// Its settings (defaults without a file).
    pub config: ProjectConfig,
    /// Variables from the `.env` file beside it, which the process
    /// environment overrides.
    pub dotenv: BTreeMap<String, String>,
}

impl LoadedConfig {
    /// Reads `path`, or `wasmig.toml` in `cwd` when `path` is `None` (a
    /// missing default file means defaults).
    ///
    /// # Errors
    /// Fails when an explicitly named file is missing, or a file is invalid.
    pub fn load(cwd: &Path, path: Option<&Path>) -> Result<Self, Error> {
        let (file, required) = match path {
            Some(p) => (cwd.join(p), true),
            None => (cwd.join(FILE_NAME), false),
        };
        if !file.exists() && !required {
            return Ok(Self {
                root: cwd.to_owned(),
                path: None,
                config: ProjectConfig::default(),
                dotenv: read_dotenv(&cwd.join(".env"))?,
            });
        }
        let text = fs::read_to_string(&file).map_err(Error::io(&file))?;
        let config: ProjectConfig =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", file.display())))?;
        let root = file.parent().unwrap_or(cwd).to_owned();
        Ok(Self {
            dotenv: read_dotenv(&root.join(".env"))?,
            root,
            path: Some(file),
            config,
        })
    }

    /// A variable from the process environment, else from `.env`.
    pub fn var(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| self.dotenv.get(name).cloned())
    }

    /// The limits of environment `name`: its `limits` over the project's.
    ///
    /// # Errors
    /// Fails when the merged limits are invalid.
    pub fn limits(&self, name: &str) -> Result<Limits, Error> {
        let Some(overrides) = self.config.env.get(name).and_then(|e| e.limits.as_ref()) else {
            return Ok(self.config.limits.clone());
        };
        let text = self
            .path
            .as_ref()
            .map(fs::read_to_string)
            .transpose()
            .map_err(|e| Error::Config(format!("{FILE_NAME}: {e}")))?
            .unwrap_or_default();
        let raw: toml::Table =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{FILE_NAME}: {e}")))?;
        let mut merged = match raw.get("limits") {
            Some(toml::Value::Table(t)) => t.clone(),
            _ => toml::Table::new(),
        };
        for (key, value) in overrides {
            merged.insert(key.clone(), value.clone());
        }
        toml::Value::Table(merged)
            .try_into::<Limits>()
            .map_err(|e| Error::Config(format!("{FILE_NAME}: [env.{name}] limits: {e}")))
    }

    /// The settings of environment `name` (empty when not configured).
    pub fn env(&self, name: &str) -> EnvConfig {
        self.config.env.get(name).cloned().unwrap_or_default()
    }

    /// The database URL from the file for environment `name`, with `${VAR}`
    /// references expanded.
    ///
    /// # Errors
    /// Fails when a referenced variable is not set.
    pub fn database_url(&self, env: &str) -> Result<Option<String>, Error> {
        let raw = self
            .config
            .env
            .get(env)
            .and_then(|e| e.database_url.clone())
            .or_else(|| self.config.database_url.clone());
        raw.map(|r| expand_vars(&r, |name| self.var(name)))
            .transpose()
    }

    /// The `[fleet]` targets of the file, their `${VAR}`s read.
    ///
    /// # Errors
    /// Fails when a `${VAR}` one names is not set.
    pub fn fleet_targets(&self) -> Result<Vec<String>, Error> {
        self.config
            .fleet
            .targets
            .iter()
            .map(|r| expand_vars(r, |name| self.var(name)))
            .collect()
    }

    /// The `[fleet]` control database's URL, its `${VAR}`s read.
    ///
    /// # Errors
    /// Fails when a `${VAR}` it names is not set.
    pub fn fleet_control_url(&self) -> Result<Option<String>, Error> {
        self.config
            .fleet
            .control_url
            .as_ref()
            .map(|r| expand_vars(r, |name| self.var(name)))
            .transpose()
    }

    /// The dev database's URL from the file, its `${VAR}`s read.
    ///
    /// # Errors
    /// Fails when a `${VAR}` it names is not set.
    pub fn dev_url(&self) -> Result<Option<String>, Error> {
        self.config
            .dev_url
            .as_ref()
            .map(|r| expand_vars(r, |name| self.var(name)))
            .transpose()
    }
}

/// Reads a dotenv file: `KEY=value` lines, `#` comments, optional `export`
/// and quotes, `$VAR` and `${VAR}` expanded in unquoted and double-quoted
/// values (single quotes keep a value as written). No file means no
/// variables. The process environment is only read, never written.
fn read_dotenv(path: &Path) -> Result<BTreeMap<String, String>, Error> {
    let lines = match dotenvy::from_path_iter(path) {
        Ok(lines) => lines,
        Err(e) if e.not_found() => return Ok(BTreeMap::new()),
        Err(dotenvy::Error::Io(e)) => return Err(Error::io(path)(e)),
        Err(e) => return Err(Error::Config(format!("{}: {e}", path.display()))),
    };
    lines
        .map(|line| line.map_err(|e| Error::Config(format!("{}: {e}", path.display()))))
        .collect()
}

/// Expands `${NAME}` with `lookup`.
fn expand_vars(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, Error> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(Error::Config(format!(
                "unterminated `${{` in `{text}` in {FILE_NAME}"
            )));
        };
        let name = &after[..end];
        let value = lookup(name).ok_or_else(|| {
            Error::Config(format!(
                "{FILE_NAME} refers to ${{{name}}}, which is set neither in the environment nor \
                 in .env"
            ))
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_settings_override_the_project_default() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(FILE_NAME),
            "database_url = \"sqlite:all.db\"\n[limits]\nfuel = 5\n\
             [env.prod]\ndatabase_url = \"sqlite:prod.db\"\nvars = { region = \"eu\" }\n",
        )
        .unwrap();
        let loaded = LoadedConfig::load(dir.path(), None).unwrap();
        assert_eq!(
            loaded.database_url("dev").unwrap().as_deref(),
            Some("sqlite:all.db")
        );
        assert_eq!(
            loaded.database_url("prod").unwrap().as_deref(),
            Some("sqlite:prod.db")
        );
        assert_eq!(loaded.env("prod").vars["region"], "eu");
        assert_eq!(loaded.config.limits.fuel, 5);
        assert_eq!(loaded.config.limits.memory_mb, Limits::default().memory_mb);
    }

    #[test]
    fn env_limits_override_project_limits_key_by_key_and_dotenv_fills_variables() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(FILE_NAME),
            "[limits]\nfuel = 5\nmemory_mb = 7\n\
             [env.prod]\nprotected = true\nlimits = { memory_mb = 9 }\n\
             database_url = \"postgres://${WASMIG_TEST_DOTENV_HOST}/db\"\n",
        )
        .unwrap();
        fs::write(
            dir.path().join(".env"),
            "# comment\nexport WASMIG_TEST_DOTENV_HOST=\"db.internal\"\n",
        )
        .unwrap();
        let loaded = LoadedConfig::load(dir.path(), None).unwrap();
        let prod = loaded.limits("prod").unwrap();
        assert_eq!((prod.fuel, prod.memory_mb), (5, 9));
        assert_eq!(loaded.limits("dev").unwrap().memory_mb, 7);
        assert!(loaded.env("prod").protected);
        assert_eq!(
            loaded.database_url("prod").unwrap().as_deref(),
            Some("postgres://db.internal/db")
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE_NAME), "databse_url = \"x\"\n").unwrap();
        let err = LoadedConfig::load(dir.path(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("databse_url"), "{err}");
    }

    #[test]
    fn dotenv_lines_take_comments_export_quotes_and_references() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        fs::write(
            &path,
            "# comment\n\nexport HOST=db.internal\nPORT=5432 # inline\n\
             URL=\"postgres://${HOST}:$PORT/app\"\nRAW='pa$$word'\n",
        )
        .unwrap();
        let vars = read_dotenv(&path).unwrap();
        assert_eq!(vars["HOST"], "db.internal");
        assert_eq!(vars["PORT"], "5432");
        assert_eq!(vars["URL"], "postgres://db.internal:5432/app");
        assert_eq!(vars["RAW"], "pa$$word");
        assert!(std::env::var_os("HOST").is_none_or(|v| v != "db.internal"));
        assert!(read_dotenv(&dir.path().join("absent")).unwrap().is_empty());
        fs::write(&path, "NOT A LINE\n").unwrap();
        let err = read_dotenv(&path).unwrap_err().to_string();
        assert!(err.contains(".env"), "{err}");
    }

    #[test]
    fn missing_variables_are_named() {
        let err = expand_vars("postgres://${WASMIG_TEST_SURELY_UNSET}/x", |_| None).unwrap_err();
        assert!(err.to_string().contains("WASMIG_TEST_SURELY_UNSET"));
    }
}
