//! Portable column types and what each engine calls them.
//!
//! One table per engine, both ways: [`Type::native`] writes a portable type
//! in an engine's DDL, [`Type::from_native`] reads an engine's reported
//! type back. The README's "Portable types" table is this file in prose.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::backend::Dialect;

/// A column type that means the same on every engine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Type {
    /// 16-bit integer.
    SmallInt,
    /// 32-bit integer.
    Integer,
    /// 64-bit integer.
    BigInt,
    /// 32-bit float.
    Float,
    /// 64-bit float.
    Double,
    /// Exact decimal with `precision` digits, `scale` of them after the point.
    Decimal {
        /// Digits in all.
        precision: u32,
        /// Digits after the point.
        scale: u32,
    },
    /// Text of at most `length` characters.
    String {
        /// The maximum length.
        length: u32,
    },
    /// Text of any length.
    Text,
    /// True or false.
    Boolean,
    /// A calendar date.
    Date,
    /// A time of day.
    Time,
    /// A date and time without a zone.
    DateTime,
    /// An instant (a date and time with a zone, stored as UTC).
    Timestamp,
    /// A JSON document.
    Json,
    /// A UUID.
    Uuid,
    /// One of a fixed list of labels.
    Enum {
        /// The labels, in order.
        values: Vec<String>,
    },
    /// Bytes of any length.
    Binary,
}

/// A type the portable set does not name, or a malformed one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown type `{0}`: portable types are smallint, integer, bigint, float, double, \
     decimal(p,s), string(n), text, boolean, date, time, datetime, timestamp, json, uuid, \
     enum('a','b') and binary (give `native` for an engine's own type)"
)]
pub struct UnknownType(pub String);

impl Type {
    /// How `dialect` spells this type in DDL. On PostgreSQL an enum is a
    /// type of its own, so it is spelled by `enum_name`.
    pub fn native(&self, dialect: Dialect, enum_name: &str) -> String {
        match dialect {
            Dialect::Sqlite => self.sqlite(),
            Dialect::Postgres => self.postgres(enum_name),
            Dialect::Mysql => self.mysql(),
        }
    }

    fn sqlite(&self) -> String {
        match self {
            Type::SmallInt => "SMALLINT".into(),
            Type::Integer => "INTEGER".into(),
            Type::BigInt => "BIGINT".into(),
            Type::Float => "FLOAT".into(),
            Type::Double => "DOUBLE".into(),
            // TEXT affinity ("TEXT" in the name) keeps `12.50` exact; NUMERIC
            // affinity would store it as the REAL 12.5.
            Type::Decimal { precision, scale } => format!("DECIMAL_TEXT({precision},{scale})"),
            Type::String { length } => format!("VARCHAR({length})"),
            Type::Text | Type::Enum { .. } => "TEXT".into(),
            Type::Boolean => "BOOLEAN".into(),
            Type::Date => "DATE".into(),
            Type::Time => "TIME".into(),
            Type::DateTime => "DATETIME".into(),
            Type::Timestamp => "TIMESTAMP".into(),
            Type::Json => "JSON".into(),
            Type::Uuid => "UUID".into(),
            Type::Binary => "BLOB".into(),
        }
    }

    fn postgres(&self, enum_name: &str) -> String {
        match self {
            Type::SmallInt => "smallint".into(),
            Type::Integer => "integer".into(),
            Type::BigInt => "bigint".into(),
            Type::Float => "real".into(),
            Type::Double => "double precision".into(),
            Type::Decimal { precision, scale } => format!("numeric({precision},{scale})"),
            Type::String { length } => format!("character varying({length})"),
            Type::Text => "text".into(),
            Type::Boolean => "boolean".into(),
            Type::Date => "date".into(),
            Type::Time => "time without time zone".into(),
            Type::DateTime => "timestamp without time zone".into(),
            Type::Timestamp => "timestamp with time zone".into(),
            Type::Json => "jsonb".into(),
            Type::Uuid => "uuid".into(),
            Type::Enum { .. } => enum_name.to_owned(),
            Type::Binary => "bytea".into(),
        }
    }

    fn mysql(&self) -> String {
        match self {
            Type::SmallInt => "smallint".into(),
            Type::Integer => "int".into(),
            Type::BigInt => "bigint".into(),
            Type::Float => "float".into(),
            Type::Double => "double".into(),
            Type::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            Type::String { length } => format!("varchar({length})"),
            Type::Text => "longtext".into(),
            Type::Boolean => "tinyint(1)".into(),
            Type::Date => "date".into(),
            Type::Time => "time".into(),
            Type::DateTime => "datetime(6)".into(),
            Type::Timestamp => "timestamp(6)".into(),
            Type::Json => "json".into(),
            Type::Uuid => "char(36)".into(),
            Type::Enum { values } => format!("enum({})", quoted_list(values)),
            Type::Binary => "longblob".into(),
        }
    }

    /// The portable type of a type `dialect` reported, if it has one. On
    /// PostgreSQL, enum types are resolved by the introspection (it knows
    /// their labels).
    pub fn from_native(dialect: Dialect, native: &str) -> Option<Type> {
        let lower = native.trim().to_ascii_lowercase();
        let (name, args) = split_args(&lower);
        let name = name.trim();
        let portable = match dialect {
            Dialect::Sqlite => sqlite_type(name, &args),
            Dialect::Postgres => postgres_type(name, &args),
            Dialect::Mysql => mysql_type(name, &args, native),
        };
        portable.or_else(|| decimal(name, &args))
    }
}

/// `name(1,2)` → (`name`, ["1", "2"]); `name` → (`name`, []).
fn split_args(text: &str) -> (&str, Vec<&str>) {
    match (text.find('('), text.rfind(')')) {
        (Some(open), Some(close)) if close > open => {
            let args = text[open + 1..close].split(',').map(str::trim).collect();
            let rest = text[close + 1..].trim();
            // `int(10) unsigned` has no portable form.
            if rest.is_empty() {
                (&text[..open], args)
            } else {
                (text, Vec::new())
            }
        }
        _ => (text, Vec::new()),
    }
}

fn decimal(name: &str, args: &[&str]) -> Option<Type> {
    if !matches!(name, "decimal" | "numeric" | "decimal_text") {
        return None;
    }
    let precision = args.first()?.parse().ok()?;
    let scale = args.get(1).map_or(Some(0), |s| s.parse().ok())?;
    Some(Type::Decimal { precision, scale })
}

fn length(args: &[&str]) -> Option<Type> {
    Some(Type::String {
        length: args.first()?.parse().ok()?,
    })
}

fn sqlite_type(name: &str, args: &[&str]) -> Option<Type> {
    Some(match name {
        "smallint" => Type::SmallInt,
        "integer" | "int" => Type::Integer,
        "bigint" => Type::BigInt,
        "float" | "real" => Type::Float,
        "double" | "double precision" => Type::Double,
        "varchar" | "character varying" => return length(args),
        "text" => Type::Text,
        "boolean" | "bool" => Type::Boolean,
        "date" => Type::Date,
        "time" => Type::Time,
        "datetime" => Type::DateTime,
        "timestamp" => Type::Timestamp,
        "json" => Type::Json,
        "uuid" => Type::Uuid,
        "blob" => Type::Binary,
        _ => return None,
    })
}

fn postgres_type(name: &str, args: &[&str]) -> Option<Type> {
    Some(match name {
        "smallint" => Type::SmallInt,
        "integer" => Type::Integer,
        "bigint" => Type::BigInt,
        "real" => Type::Float,
        "double precision" => Type::Double,
        "character varying" => return length(args),
        "text" => Type::Text,
        "boolean" => Type::Boolean,
        "date" => Type::Date,
        "time without time zone" => Type::Time,
        "timestamp without time zone" => Type::DateTime,
        "timestamp with time zone" => Type::Timestamp,
        "json" | "jsonb" => Type::Json,
        "uuid" => Type::Uuid,
        "bytea" => Type::Binary,
        _ => return None,
    })
}

fn mysql_type(name: &str, args: &[&str], native: &str) -> Option<Type> {
    Some(match (name, args) {
        ("tinyint", ["1"]) => Type::Boolean,
        ("smallint", _) => Type::SmallInt,
        ("int" | "integer", _) => Type::Integer,
        ("bigint", _) => Type::BigInt,
        ("float", []) => Type::Float,
        ("double", []) => Type::Double,
        ("varchar", _) => return length(args),
        ("text" | "mediumtext" | "longtext", []) => Type::Text,
        ("date", []) => Type::Date,
        ("time", _) => Type::Time,
        ("datetime", _) => Type::DateTime,
        ("timestamp", _) => Type::Timestamp,
        ("json", []) => Type::Json,
        ("char", ["36"]) => Type::Uuid,
        ("blob" | "mediumblob" | "longblob", []) => Type::Binary,
        ("enum", _) => Type::Enum {
            values: enum_labels(native)?,
        },
        _ => return None,
    })
}

/// The labels of `enum('a','b')` (MySQL doubles a quote inside a label).
fn enum_labels(native: &str) -> Option<Vec<String>> {
    let open = native.find('(')?;
    let close = native.rfind(')')?;
    parse_quoted_list(&native[open + 1..close])
}

/// Reads `'a','b'` (a quote inside a label doubled) into its labels.
pub(crate) fn parse_quoted_list(text: &str) -> Option<Vec<String>> {
    let mut labels = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next()? != '\'' {
            return None;
        }
        let mut label = String::new();
        loop {
            match chars.next()? {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    label.push('\'');
                }
                '\'' => break,
                c => label.push(c),
            }
        }
        labels.push(label);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => return Some(labels),
            Some(',') => {}
            Some(_) => return None,
        }
    }
}

/// `'a','b'`, each label quoted for SQL.
pub(crate) fn quoted_list(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("'{}'", v.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(",")
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::SmallInt => f.write_str("smallint"),
            Type::Integer => f.write_str("integer"),
            Type::BigInt => f.write_str("bigint"),
            Type::Float => f.write_str("float"),
            Type::Double => f.write_str("double"),
            Type::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            Type::String { length } => write!(f, "string({length})"),
            Type::Text => f.write_str("text"),
            Type::Boolean => f.write_str("boolean"),
            Type::Date => f.write_str("date"),
            Type::Time => f.write_str("time"),
            Type::DateTime => f.write_str("datetime"),
            Type::Timestamp => f.write_str("timestamp"),
            Type::Json => f.write_str("json"),
            Type::Uuid => f.write_str("uuid"),
            Type::Enum { values } => write!(f, "enum({})", quoted_list(values)),
            Type::Binary => f.write_str("binary"),
        }
    }
}

impl FromStr for Type {
    type Err = UnknownType;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownType(text.to_owned());
        let trimmed = text.trim();
        let lower = trimmed.to_ascii_lowercase();
        let (name, args) = split_args(&lower);
        let number = |i: usize| -> Result<u32, UnknownType> {
            args.get(i).and_then(|a| a.parse().ok()).ok_or_else(unknown)
        };
        let plain = |t: Type| {
            if args.is_empty() {
                Ok(t)
            } else {
                Err(unknown())
            }
        };
        match name.trim() {
            "smallint" => plain(Type::SmallInt),
            "integer" | "int" => plain(Type::Integer),
            "bigint" => plain(Type::BigInt),
            "float" => plain(Type::Float),
            "double" => plain(Type::Double),
            "decimal" if args.len() == 2 => Ok(Type::Decimal {
                precision: number(0)?,
                scale: number(1)?,
            }),
            "string" if args.len() == 1 => Ok(Type::String { length: number(0)? }),
            "text" => plain(Type::Text),
            "boolean" | "bool" => plain(Type::Boolean),
            "date" => plain(Type::Date),
            "time" => plain(Type::Time),
            "datetime" => plain(Type::DateTime),
            "timestamp" => plain(Type::Timestamp),
            "json" => plain(Type::Json),
            "uuid" => plain(Type::Uuid),
            "binary" => plain(Type::Binary),
            // Labels keep their case: read them from the original text.
            "enum" => enum_labels(trimmed)
                .filter(|v| !v.is_empty())
                .map(|values| Type::Enum { values })
                .ok_or_else(unknown),
            _ => Err(unknown()),
        }
    }
}

impl TryFrom<String> for Type {
    type Error = UnknownType;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Type> for String {
    fn from(t: Type) -> Self {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_portable_type_reads_back_from_each_engines_spelling() {
        let all = [
            "smallint",
            "integer",
            "bigint",
            "float",
            "double",
            "decimal(10,2)",
            "string(255)",
            "text",
            "boolean",
            "date",
            "time",
            "datetime",
            "timestamp",
            "json",
            "uuid",
            "binary",
        ];
        for text in all {
            let t: Type = text.parse().unwrap();
            assert_eq!(t.to_string(), text);
            for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
                let native = t.native(dialect, "e");
                assert_eq!(
                    Type::from_native(dialect, &native),
                    Some(t.clone()),
                    "{text} on {dialect} is {native}"
                );
            }
        }
    }

    #[test]
    fn enum_labels_keep_case_and_quotes() {
        let t: Type = "enum('Active','it''s')".parse().unwrap();
        assert_eq!(
            t,
            Type::Enum {
                values: vec!["Active".into(), "it's".into()]
            }
        );
        assert_eq!(t.to_string(), "enum('Active','it''s')");
        assert_eq!(
            Type::from_native(Dialect::Mysql, &t.native(Dialect::Mysql, "")),
            Some(t)
        );
    }

    #[test]
    fn unknown_and_malformed_types_are_refused() {
        for text in [
            "money",
            "decimal(10)",
            "string",
            "enum()",
            "integer(4)",
            "varchar(9)",
        ] {
            assert!(text.parse::<Type>().is_err(), "{text}");
        }
        assert_eq!(Type::from_native(Dialect::Mysql, "int(10) unsigned"), None);
        assert_eq!(Type::from_native(Dialect::Postgres, "inet"), None);
    }
}
