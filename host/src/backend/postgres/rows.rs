//! Result rows, read into [`Value`]s: each cell by its column's type,
//! `numeric` exactly as PostgreSQL prints it.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use sqlx::postgres::{PgRow, PgTypeInfo, PgTypeKind};
use sqlx::{Column as _, Row, TypeInfo};

use crate::backend::{DbError, DbErrorKind, Value};

/// Reads every cell of `row`.
pub(super) fn read_row(row: &PgRow) -> Result<Vec<Value>, DbError> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        values.push(read_cell(row, i, column.type_info()).map_err(|why| {
            DbError::new(
                DbErrorKind::Other,
                format!(
                    "column `{}` ({}): {why}",
                    column.name(),
                    column.type_info().name()
                ),
            )
        })?);
    }
    Ok(values)
}

fn read_cell(row: &PgRow, i: usize, ty: &PgTypeInfo) -> Result<Value, String> {
    use sqlx::ValueRef as _;
    let raw = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let e = |e: sqlx::Error| e.to_string();
    Ok(match ty.name() {
        "BOOL" => Value::Boolean(row.try_get(i).map_err(e)?),
        "INT2" => Value::Int(i64::from(row.try_get::<i16, _>(i).map_err(e)?)),
        "INT4" => Value::Int(i64::from(row.try_get::<i32, _>(i).map_err(e)?)),
        "INT8" => Value::Int(row.try_get(i).map_err(e)?),
        "OID" => Value::Int(i64::from(
            row.try_get::<sqlx::postgres::types::Oid, _>(i)
                .map_err(e)?
                .0,
        )),
        "FLOAT4" => Value::Float(f64::from(row.try_get::<f32, _>(i).map_err(e)?)),
        "FLOAT8" => Value::Float(row.try_get(i).map_err(e)?),
        "NUMERIC" => Value::Decimal(numeric_text(raw.as_bytes().map_err(|e| e.to_string())?)?),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "CITEXT" => {
            Value::Text(row.try_get(i).map_err(e)?)
        }
        "BYTEA" => Value::Bytes(row.try_get(i).map_err(e)?),
        "JSON" | "JSONB" => Value::Json(
            row.try_get::<sqlx::types::Json<serde_json::Value>, _>(i)
                .map_err(e)?
                .0
                .to_string(),
        ),
        "UUID" => Value::Uuid(
            row.try_get::<sqlx::types::Uuid, _>(i)
                .map_err(e)?
                .to_string(),
        ),
        "TIMESTAMPTZ" => Value::Timestamp(
            row.try_get::<DateTime<Utc>, _>(i)
                .map_err(e)?
                .to_rfc3339_opts(SecondsFormat::AutoSi, true),
        ),
        "TIMESTAMP" => Value::Timestamp(
            row.try_get::<NaiveDateTime, _>(i)
                .map_err(e)?
                .format("%Y-%m-%dT%H:%M:%S%.f")
                .to_string(),
        ),
        "DATE" => Value::Date(row.try_get::<NaiveDate, _>(i).map_err(e)?.to_string()),
        "TIME" => Value::Text(row.try_get::<NaiveTime, _>(i).map_err(e)?.to_string()),
        "VOID" => Value::Null,
        _ if matches!(ty.kind(), PgTypeKind::Enum(_)) => {
            let bytes = raw.as_bytes().map_err(|e| e.to_string())?;
            Value::Text(String::from_utf8_lossy(bytes).into_owned())
        }
        other => {
            return Err(format!(
                "wasmig cannot read this type; cast it in the query, e.g. `{}::text`",
                other.to_ascii_lowercase()
            ));
        }
    })
}

/// Renders PostgreSQL's binary `numeric` exactly as PostgreSQL prints it,
/// keeping its display scale (`12.50` stays `12.50`).
fn numeric_text(bytes: &[u8]) -> Result<String, String> {
    let word = |i: usize| -> Result<i16, String> {
        bytes
            .get(i * 2..i * 2 + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated numeric".to_owned())
    };
    let ndigits = usize::try_from(word(0)?).map_err(|_| "invalid numeric")?;
    let weight = i64::from(word(1)?);
    let sign = word(2)? as u16;
    let dscale = usize::try_from(word(3)?).map_err(|_| "invalid numeric")?;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let mut digits = Vec::with_capacity(ndigits);
    for i in 0..ndigits {
        digits.push(i64::from(word(4 + i)?));
    }
    let group = |i: i64| -> i64 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                text.push_str(&group(i).to_string());
            } else {
                text.push_str(&format!("{:04}", group(i)));
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut i = weight + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", group(i)));
            i += 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::numeric_text;

    fn numeric(ndigits: i16, weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> Vec<u8> {
        let mut b = Vec::new();
        for w in [ndigits, weight, sign as i16, dscale]
            .into_iter()
            .chain(digits.iter().copied())
        {
            b.extend_from_slice(&w.to_be_bytes());
        }
        b
    }

    #[test]
    fn numeric_keeps_its_display_scale() {
        assert_eq!(
            numeric_text(&numeric(2, 0, 0, 2, &[12, 5000])).unwrap(),
            "12.50"
        );
        assert_eq!(
            numeric_text(&numeric(2, 1, 0x4000, 0, &[1, 2345])).unwrap(),
            "-12345"
        );
        assert_eq!(
            numeric_text(&numeric(1, -1, 0, 5, &[12])).unwrap(),
            "0.00120"
        );
        assert_eq!(numeric_text(&numeric(0, 0, 0, 2, &[])).unwrap(), "0.00");
        assert_eq!(
            numeric_text(&numeric(1, 2, 0, 0, &[7])).unwrap(),
            "700000000"
        );
    }
}
