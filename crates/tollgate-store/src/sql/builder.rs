//! A small SQL builder: text with `$n` placeholders and the values bound to them, in order.
//! Column and table names come only from `&'static str` in this crate's code; values are
//! always bound, never formatted into the text.
//!
//! Statements with thousands of values (long IN lists of the daily reader) are built with
//! [`Sql::for_backend`], whose placeholders are bare `?` on SQLite. SQLite looks a named
//! parameter (`$n`, and `?n` too) up by a linear scan, and sqlx asks for every parameter's name
//! when it binds, so a statement with N of them costs O(N²) (10,000 spend-log rows took 10 s
//! when the spend writer still went through sqlx on SQLite). Bare `?` are positional, which is
//! safe because the builder writes each placeholder once, in the order of its values.
//!
//! One exception to "never formatted": PostgreSQL's `COPY` takes no parameters, so the daily
//! reader's `COPY` has its values written in as literals by [`Sql::pg_inline`].

use sqlx::any::AnyArguments;
use sqlx::postgres::PgArguments;
use sqlx::{Any, Postgres};

use crate::table::{Filter, SqlValue};
use crate::Backend;

/// Statements with more bound values than this are not kept in the prepared-statement cache.
const MAX_CACHED_PARAMS: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub text: String,
    args: Vec<SqlValue>,
    /// Placeholders are positional `?` instead of `$n` (SQLite only).
    positional: bool,
}

impl Sql {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            args: Vec::new(),
            positional: false,
        }
    }

    /// A statement whose placeholders suit the backend: `$n` on PostgreSQL, `?` on SQLite.
    pub fn for_backend(text: impl Into<String>, backend: Backend) -> Self {
        Self {
            positional: backend == Backend::Sqlite,
            ..Self::new(text)
        }
    }

    /// The bound values, in placeholder order.
    pub fn args(&self) -> &[SqlValue] {
        &self.args
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<SqlValue>) -> &mut Self {
        self.args.push(value.into());
        if self.positional {
            self.text.push('?');
        } else {
            self.text.push('$');
            self.text.push_str(&self.args.len().to_string());
        }
        self
    }

    /// Appends `a, b, c` with each item bound.
    pub fn bind_list<I: IntoIterator<Item = SqlValue>>(&mut self, values: I) -> &mut Self {
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(v);
        }
        self
    }

    /// Appends `WHERE`/`AND` conditions for the filters, and an OR group for `any_of`.
    pub fn push_filters(&mut self, filters: &[Filter], any_of: &[Filter]) -> &mut Self {
        let mut first = true;
        for f in filters {
            self.push(if first { " WHERE " } else { " AND " });
            first = false;
            self.push_filter(f);
        }
        if !any_of.is_empty() {
            self.push(if first { " WHERE (" } else { " AND (" });
            for (i, f) in any_of.iter().enumerate() {
                if i > 0 {
                    self.push(" OR ");
                }
                self.push_filter(f);
            }
            self.push(")");
        }
        self
    }

    fn push_filter(&mut self, f: &Filter) {
        match f {
            Filter::Eq(col, v) if is_null(v) => {
                self.push(col).push(" IS NULL");
            }
            Filter::IsNull(col) => {
                self.push(col).push(" IS NULL");
            }
            Filter::Eq(col, v) => {
                self.push(col).push(" = ").bind_typed(v.clone());
            }
            Filter::In(_, values) if values.is_empty() => {
                self.push("1 = 0");
            }
            Filter::In(col, values) => {
                self.push(col).push(" IN (");
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        self.push(", ");
                    }
                    self.bind_typed(v.clone());
                }
                self.push(")");
            }
            Filter::Contains(col, needle) => {
                let pattern = format!("%{}%", escape_like(&needle.to_lowercase()));
                self.push("LOWER(")
                    .push(col)
                    .push(") LIKE ")
                    .bind(pattern)
                    .push(" ESCAPE '\\'");
            }
            Filter::Lt(col, v) => {
                self.push(col).push(" < ").bind_typed(v.clone());
            }
            Filter::Ge(col, v) => {
                self.push(col).push(" >= ").bind_typed(v.clone());
            }
        }
    }

    /// Appends a placeholder bound to `value`, cast to the value's type. Filter values are the
    /// caller's, and may differ in type from one call to the next for the same column (an
    /// integer bound on `spend`, then a real one). PostgreSQL prepares a statement once per
    /// text and per connection, with the parameter types of its first use; the cast puts the
    /// type in the text, so that a value of another type gets a statement of its own instead of
    /// being read as the first one's type.
    fn bind_typed(&mut self, value: SqlValue) -> &mut Self {
        let ty = match value {
            SqlValue::Text(_) => "TEXT",
            SqlValue::Int(_) => "BIGINT",
            SqlValue::Real(_) => "DOUBLE PRECISION",
            SqlValue::Bool(_) => "BOOLEAN",
        };
        self.push("CAST(")
            .bind(value)
            .push(" AS ")
            .push(ty)
            .push(")")
    }

    pub fn query(&self) -> sqlx::query::Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text).persistent(self.keep_prepared());
        for a in &self.args {
            q = match a {
                SqlValue::Text(v) => q.bind(v.clone()),
                SqlValue::Int(v) => q.bind(*v),
                SqlValue::Real(v) => q.bind(*v),
                SqlValue::Bool(v) => q.bind(*v),
            };
        }
        q
    }

    /// Whether the connection keeps the statement prepared. Bulk statements (multi-row
    /// inserts, long IN lists) differ in shape from one batch to the next, and a prepared batch
    /// insert is large: caching each shape per connection made the process grow with every
    /// distinct batch size. Only small statements are kept.
    fn keep_prepared(&self) -> bool {
        self.args.len() <= MAX_CACHED_PARAMS
    }

    /// The statement on sqlx's PostgreSQL driver (the spend recorder's own pool), texts
    /// borrowed.
    pub fn pg_query(&self) -> sqlx::query::Query<'_, Postgres, PgArguments> {
        let mut q = sqlx::query(&self.text).persistent(self.keep_prepared());
        for a in &self.args {
            q = match a {
                SqlValue::Text(v) => q.bind(v.as_deref()),
                SqlValue::Int(v) => q.bind(*v),
                SqlValue::Real(v) => q.bind(*v),
                SqlValue::Bool(v) => q.bind(*v),
            };
        }
        q
    }
}

impl Sql {
    /// The statement with its values written into the text as PostgreSQL literals, for `COPY`,
    /// which takes no parameters. A text is an escape string (`E'...'`) in which every quote
    /// and backslash is escaped, so that no value can end its literal; a text holding a NUL
    /// (which no PostgreSQL text can hold, and which would end the statement early on the
    /// wire) is refused.
    pub fn pg_inline(&self) -> crate::Result<String> {
        if self.positional {
            return Err(crate::StoreError::Database(
                "positional placeholders are not PostgreSQL's".into(),
            ));
        }
        let mut out = String::with_capacity(self.text.len() + 24 * self.args.len());
        let mut rest = self.text.as_str();
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            match after[..digits].parse::<usize>() {
                Ok(n) => {
                    let value =
                        n.checked_sub(1)
                            .and_then(|i| self.args.get(i))
                            .ok_or_else(|| {
                                crate::StoreError::Database(format!(
                                    "no value for placeholder ${n}"
                                ))
                            })?;
                    push_literal(&mut out, value)?;
                }
                Err(_) => out.push('$'),
            }
            rest = &after[digits..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Writes `value` as a PostgreSQL literal of its type.
fn push_literal(out: &mut String, value: &SqlValue) -> crate::Result<()> {
    match value {
        SqlValue::Text(None)
        | SqlValue::Int(None)
        | SqlValue::Real(None)
        | SqlValue::Bool(None) => {
            out.push_str("NULL");
        }
        SqlValue::Text(Some(s)) => {
            if s.contains('\0') {
                return Err(crate::StoreError::Database(
                    "a text value holds a NUL character".into(),
                ));
            }
            out.push_str("E'");
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\'' => out.push_str("''"),
                    c => out.push(c),
                }
            }
            out.push('\'');
        }
        SqlValue::Int(Some(i)) => out.push_str(&i.to_string()),
        SqlValue::Real(Some(x)) => {
            let text = match x {
                x if x.is_nan() => "NaN".to_owned(),
                x if x.is_infinite() && *x > 0.0 => "Infinity".to_owned(),
                x if x.is_infinite() => "-Infinity".to_owned(),
                x => format!("{x:?}"),
            };
            out.push_str(&format!("CAST('{text}' AS DOUBLE PRECISION)"));
        }
        SqlValue::Bool(Some(b)) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
    }
    Ok(())
}

fn is_null(v: &SqlValue) -> bool {
    matches!(
        v,
        SqlValue::Text(None) | SqlValue::Int(None) | SqlValue::Real(None) | SqlValue::Bool(None)
    )
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inlined_values_cannot_end_their_literals() {
        let mut sql = Sql::new("SELECT x FROM t WHERE a = ");
        sql.bind("it's \\' $1 --")
            .push(" AND b IN (")
            .bind_list((0..11).map(|i| SqlValue::from(i64::from(i))))
            .push(") AND c = ")
            .bind(SqlValue::Real(Some(1e-5)))
            .push(" AND d = ")
            .bind(SqlValue::Text(None))
            .push(" AND e = '$'");
        assert_eq!(
            sql.pg_inline().unwrap(),
            "SELECT x FROM t WHERE a = E'it''s \\\\'' $1 --' AND b IN (0, 1, 2, 3, 4, 5, 6, 7, \
             8, 9, 10) AND c = CAST('1e-5' AS DOUBLE PRECISION) AND d = NULL AND e = '$'"
        );
        let mut nul = Sql::new("SELECT 1 WHERE a = ");
        nul.bind("a\0b");
        assert!(nul.pg_inline().unwrap_err().to_string().contains("NUL"));
        let sqlite = Sql::for_backend("SELECT 1", Backend::Sqlite);
        assert!(sqlite.pg_inline().is_err());
    }

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut sql = Sql::new("SELECT * FROM t");
        sql.push_filters(
            &[
                Filter::Eq("a", "x".into()),
                Filter::In("b", vec![1.into(), 2.into()]),
            ],
            &[Filter::IsNull("c"), Filter::Contains("d", "50%_off".into())],
        );
        assert_eq!(
            sql.text,
            "SELECT * FROM t WHERE a = CAST($1 AS TEXT) AND b IN (CAST($2 AS BIGINT), \
             CAST($3 AS BIGINT)) AND (c IS NULL OR LOWER(d) LIKE $4 ESCAPE '\\')"
        );
        assert_eq!(sql.args[3], SqlValue::Text(Some("%50\\%\\_off%".into())));
    }

    #[test]
    fn sqlite_statements_may_use_positional_placeholders() {
        let mut sql = Sql::for_backend("VALUES ", Backend::Sqlite);
        sql.bind_list([1.into(), 2.into()]);
        assert_eq!(sql.text, "VALUES ?, ?");
        let mut sql = Sql::for_backend("VALUES ", Backend::Postgres);
        sql.bind_list([1.into(), 2.into()]);
        assert_eq!(sql.text, "VALUES $1, $2");
    }

    #[test]
    fn empty_in_list_matches_nothing() {
        let mut sql = Sql::new("SELECT 1");
        sql.push_filters(&[Filter::In("a", vec![])], &[]);
        assert_eq!(sql.text, "SELECT 1 WHERE 1 = 0");
    }
}
