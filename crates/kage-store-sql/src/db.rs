//! [`Db`]: what the statements shared by both backends (`common.rs`) need
//! of a sqlx database, stated once.
//!
//! sqlx's own traits are generic over every type that can be bound or read,
//! and a generic function must repeat those bounds. Here they are written
//! once, on the blanket implementation below, for the three column types the
//! schema uses (integers, reals, text); the shared code asks only `DB: Db`.
//! Rows are read by column name.

use std::future::Future;
use std::pin::Pin;

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, FromRow, IntoArguments, Row, Type};

use crate::codec::{
    EventRow, LeaseRow, LeaseWithSubscriptionRow, QuotaAlertRow, ReadOffsetRow, SnapshotRow,
    SubscriptionRow, WaiterRow,
};

/// A statement with its bind values.
pub(crate) type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>;

/// A statement running on a connection.
pub(crate) type Running<'c, T> = Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'c>>;

/// How many rows a statement changed (sqlx has no shared trait for it).
pub(crate) trait RowsAffected: Database {
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

impl RowsAffected for sqlx::Sqlite {
    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
}

impl RowsAffected for sqlx::Postgres {
    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
}

/// Reading a row into `T`, a `sqlx::FromRow` struct (by column name).
pub(crate) trait Reads<T>: Database {
    fn read(row: &Self::Row) -> Result<T, sqlx::Error>;
}

impl<DB: Database, T> Reads<T> for DB
where
    T: for<'r> FromRow<'r, DB::Row>,
{
    fn read(row: &DB::Row) -> Result<T, sqlx::Error> {
        T::from_row(row)
    }
}

/// Read `row` into `T` (see [`Reads`]).
pub(crate) fn read_row<T, DB: Reads<T>>(row: &DB::Row) -> Result<T, sqlx::Error> {
    DB::read(row)
}

/// A sqlx database the shared statements run on: SQLite or PostgreSQL.
pub(crate) trait Db:
    RowsAffected
    + Reads<SubscriptionRow>
    + Reads<SnapshotRow>
    + Reads<LeaseRow>
    + Reads<LeaseWithSubscriptionRow>
    + Reads<EventRow>
    + Reads<QuotaAlertRow>
    + Reads<WaiterRow>
    + Reads<ReadOffsetRow>
{
    fn bind_int<'q>(query: Query<'q, Self>, value: Option<i64>) -> Query<'q, Self>;
    fn bind_real<'q>(query: Query<'q, Self>, value: Option<f64>) -> Query<'q, Self>;
    fn bind_text<'q>(query: Query<'q, Self>, value: Option<String>) -> Query<'q, Self>;
    fn bind_bytes<'q>(query: Query<'q, Self>, value: Vec<u8>) -> Query<'q, Self>;
    /// Run SQL text that may hold several statements and no parameters.
    fn execute_script<'c>(sql: &'c str, connection: &'c mut Self::Connection) -> Running<'c, ()>;
    /// Run a statement; how many rows it changed.
    fn execute<'c, 'q: 'c>(
        query: Query<'q, Self>,
        connection: &'c mut Self::Connection,
    ) -> Running<'c, u64>;
    fn fetch_all<'c, 'q: 'c>(
        query: Query<'q, Self>,
        connection: &'c mut Self::Connection,
    ) -> Running<'c, Vec<Self::Row>>;
    fn fetch_optional<'c, 'q: 'c>(
        query: Query<'q, Self>,
        connection: &'c mut Self::Connection,
    ) -> Running<'c, Option<Self::Row>>;
    /// A column by name; `None` for NULL.
    fn int(row: &Self::Row, column: &str) -> Result<Option<i64>, sqlx::Error>;
    fn text(row: &Self::Row, column: &str) -> Result<Option<String>, sqlx::Error>;
    fn bytes(row: &Self::Row, column: &str) -> Result<Vec<u8>, sqlx::Error>;
    fn boolean(row: &Self::Row, column: &str) -> Result<bool, sqlx::Error>;
}

impl<DB> Db for DB
where
    DB: RowsAffected
        + Reads<SubscriptionRow>
        + Reads<SnapshotRow>
        + Reads<LeaseRow>
        + Reads<LeaseWithSubscriptionRow>
        + Reads<EventRow>
        + Reads<QuotaAlertRow>
        + Reads<WaiterRow>
        + Reads<ReadOffsetRow>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<f64>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Decode<'q, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    fn bind_int<'q>(query: Query<'q, Self>, value: Option<i64>) -> Query<'q, Self> {
        query.bind(value)
    }

    fn bind_real<'q>(query: Query<'q, Self>, value: Option<f64>) -> Query<'q, Self> {
        query.bind(value)
    }

    fn bind_text<'q>(query: Query<'q, Self>, value: Option<String>) -> Query<'q, Self> {
        query.bind(value)
    }

    fn bind_bytes<'q>(query: Query<'q, Self>, value: Vec<u8>) -> Query<'q, Self> {
        query.bind(value)
    }

    fn execute_script<'c>(sql: &'c str, connection: &'c mut Self::Connection) -> Running<'c, ()> {
        Box::pin(async move {
            connection.execute(sql).await?;
            Ok(())
        })
    }

    fn execute<'c, 'q: 'c>(
        query: Query<'q, Self>,
        connection: &'c mut Self::Connection,
    ) -> Running<'c, u64> {
        Box::pin(async move {
            let result = query.execute(connection).await?;
            Ok(DB::rows_affected(&result))
        })
    }

    fn fetch_all<'c, 'q: 'c>(
        query: Query<'q, Self>,
        connection: &'c mut Self::Connection,
    ) -> Running<'c, Vec<Self::Row>> {
        Box::pin(query.fetch_all(connection))
    }

    fn fetch_optional<'c, 'q: 'c>(
        query: Query<'q, Self>,
        connection: &'c mut Self::Connection,
    ) -> Running<'c, Option<Self::Row>> {
        Box::pin(query.fetch_optional(connection))
    }

    fn int(row: &Self::Row, column: &str) -> Result<Option<i64>, sqlx::Error> {
        row.try_get(column)
    }

    fn text(row: &Self::Row, column: &str) -> Result<Option<String>, sqlx::Error> {
        row.try_get(column)
    }

    fn bytes(row: &Self::Row, column: &str) -> Result<Vec<u8>, sqlx::Error> {
        row.try_get(column)
    }

    fn boolean(row: &Self::Row, column: &str) -> Result<bool, sqlx::Error> {
        row.try_get(column)
    }
}
