//! `spin:sqlite@3.1.0`, sync and async: a new SQLite connection per `open`, statements run on
//! it with bound parameters.

use std::sync::{Arc, Mutex};

use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

use super::bindings::spin::sqlite::sqlite;
use super::{Grants, SpinHost, SpinView, SqliteConnection, shared};
use crate::stores::{INJECTED_FAULT, SharedConnection, SqlValue, Stores, lock};

fn sqlite_io(e: impl std::fmt::Display) -> sqlite::Error {
    sqlite::Error::Io(e.to_string())
}

/// Opens a new connection for `grants`' component, like Spin's file-backed default.
fn open_connection(
    grants: &Grants,
    stores: &Stores,
    database: &str,
) -> Result<SqliteConnection, sqlite::Error> {
    if stores.sqlite_open_call() {
        return Err(sqlite_io(INJECTED_FAULT));
    }
    if !grants.sqlite_databases.contains(database) {
        return Err(sqlite::Error::AccessDenied);
    }
    if !stores.has_sqlite_label(database) {
        return Err(sqlite::Error::NoSuchDatabase);
    }
    let conn = stores.sqlite_open(database).map_err(sqlite_io)?;
    Ok(SqliteConnection {
        conn: Arc::new(Mutex::new(conn)),
    })
}

fn to_sql_values(parameters: Vec<sqlite::Value>) -> Vec<SqlValue> {
    parameters
        .into_iter()
        .map(|p| match p {
            sqlite::Value::Integer(i) => SqlValue::Integer(i),
            sqlite::Value::Real(f) => SqlValue::Real(f),
            sqlite::Value::Text(t) => SqlValue::Text(t),
            sqlite::Value::Blob(b) => SqlValue::Blob(b),
            sqlite::Value::Null => SqlValue::Null,
        })
        .collect()
}

fn to_rows(rows: Vec<Vec<SqlValue>>) -> Vec<sqlite::RowResult> {
    rows.into_iter()
        .map(|row| sqlite::RowResult {
            values: row
                .into_iter()
                .map(|v| match v {
                    SqlValue::Integer(i) => sqlite::Value::Integer(i),
                    SqlValue::Real(f) => sqlite::Value::Real(f),
                    SqlValue::Text(t) => sqlite::Value::Text(t),
                    SqlValue::Blob(b) => sqlite::Value::Blob(b),
                    SqlValue::Null => sqlite::Value::Null,
                })
                .collect(),
        })
        .collect()
}

fn connection<T>(
    accessor: &Accessor<T, SpinHost>,
    conn: &Resource<SqliteConnection>,
) -> wasmtime::Result<SharedConnection> {
    accessor.with(|mut access| Ok(access.get().table.get(conn)?.conn.clone()))
}

/// The async triple of `execute-async`: column names, a stream of rows, a completion future.
type AsyncQueryResult = (
    Vec<String>,
    StreamReader<sqlite::RowResult>,
    FutureReader<Result<(), sqlite::Error>>,
);

impl<T> sqlite::HostConnectionWithStore<T> for SpinHost {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqliteConnection>, sqlite::Error>> {
        let (grants, stores) = shared(accessor);
        match open_connection(&grants, &stores, &database) {
            Ok(conn) => Ok(Ok(
                accessor.with(|mut access| access.get().table.push(conn))?
            )),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn execute_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<sqlite::Value>,
    ) -> wasmtime::Result<Result<AsyncQueryResult, sqlite::Error>> {
        let conn = connection(accessor, &conn)?;
        let (_, stores) = shared(accessor);
        let parameters = to_sql_values(parameters);
        // SQLite may wait up to the busy timeout for another connection's lock: keep that
        // wait off the async executor so the lock holder can go on and commit.
        let result = tokio::task::spawn_blocking(move || {
            let conn = lock(&conn);
            stores.sqlite_execute(&conn, &statement, &parameters)
        })
        .await?;
        let (columns, rows) = match result {
            Ok(result) => result,
            Err(message) => return Ok(Err(sqlite::Error::Io(message))),
        };
        accessor.with(|mut access| {
            let rows = StreamReader::new(&mut access, to_rows(rows))?;
            let done = FutureReader::new(
                &mut access,
                std::future::ready(Ok::<_, wasmtime::Error>(Ok(()))),
            )?;
            Ok(Ok((columns, rows, done)))
        })
    }

    async fn last_insert_rowid_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<SqliteConnection>,
    ) -> wasmtime::Result<i64> {
        let conn = connection(accessor, &conn)?;
        shared(accessor).1.sqlite_infallible_call();
        Ok(lock(&conn).last_insert_rowid())
    }

    async fn changes_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<SqliteConnection>,
    ) -> wasmtime::Result<u64> {
        let conn = connection(accessor, &conn)?;
        shared(accessor).1.sqlite_infallible_call();
        Ok(lock(&conn).changes())
    }
}

impl sqlite::HostConnection for SpinView<'_> {
    fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqliteConnection>, sqlite::Error>> {
        match open_connection(&self.state.grants, &self.state.stores, &database) {
            Ok(conn) => Ok(Ok(self.table.push(conn)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    fn execute(
        &mut self,
        conn: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<sqlite::Value>,
    ) -> wasmtime::Result<Result<sqlite::QueryResult, sqlite::Error>> {
        // The synchronous form blocks the calling thread (spin-sdk 7 only uses the async one).
        let conn = self.table.get(&conn)?.conn.clone();
        let result =
            self.state
                .stores
                .sqlite_execute(&lock(&conn), &statement, &to_sql_values(parameters));
        Ok(result
            .map(|(columns, rows)| sqlite::QueryResult {
                columns,
                rows: to_rows(rows),
            })
            .map_err(sqlite::Error::Io))
    }

    fn last_insert_rowid(&mut self, conn: Resource<SqliteConnection>) -> wasmtime::Result<i64> {
        self.state.stores.sqlite_infallible_call();
        Ok(lock(&self.table.get(&conn)?.conn).last_insert_rowid())
    }

    fn changes(&mut self, conn: Resource<SqliteConnection>) -> wasmtime::Result<u64> {
        self.state.stores.sqlite_infallible_call();
        Ok(lock(&self.table.get(&conn)?.conn).changes())
    }

    fn drop(&mut self, conn: Resource<SqliteConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

impl sqlite::Host for SpinView<'_> {}
