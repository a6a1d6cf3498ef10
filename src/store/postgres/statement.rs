//! A SQL text assembled from fixed fragments, with every request value bound as a parameter.

use sqlx::postgres::PgArguments;
use sqlx::Arguments;

#[derive(Default)]
pub struct Statement {
    pub text: String,
    pub args: PgArguments,
    count: usize,
}

impl Statement {
    /// Binds `value` and returns its placeholder (`$n`).
    pub fn bind<'q, T>(&mut self, value: T) -> String
    where
        T: sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + 'q,
    {
        self.args
            .add(value)
            .expect("encoding a plain value cannot fail");
        self.count += 1;
        format!("${}", self.count)
    }

    pub fn push(&mut self, fragment: &str) -> &mut Self {
        self.text.push_str(fragment);
        self
    }

    /// The query, ready to run. The text holds only this crate's fragments and placeholders.
    pub fn into_query(self) -> sqlx::query::Query<'static, sqlx::Postgres, PgArguments> {
        sqlx::query_with(sqlx::AssertSqlSafe(self.text), self.args)
    }
}
