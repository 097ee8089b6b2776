//! SQL checks against `postgres` (tokio-postgres) and `mysql` (mysql_async) services:
//! statements run in order on one connection, in the text protocol, so every value is
//! compared in the text form the server sends.

use std::net::SocketAddr;
use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::Outcome;
use super::conn::{self, Credentials};
use super::{Target, show};
use crate::matrix::{Matrix, ServiceKind};
use crate::scenario::{SqlAction, SqlExpect};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open connection to either server.
pub(crate) enum SqlConn {
    Pg(tokio_postgres::Client),
    My(mysql_async::Conn),
}

/// What a statement returned: rows (values as text, `None` for NULL), or how many rows
/// it affected.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Answer {
    pub rows: Option<Vec<Vec<Option<String>>>>,
    pub affected: u64,
}

impl Answer {
    pub fn row_count(&self) -> u64 {
        self.rows.as_ref().map_or(self.affected, |r| r.len() as u64)
    }
}

/// A statement's failure: the SQLSTATE when the server sent one.
#[derive(Debug)]
pub(crate) struct SqlError {
    pub sqlstate: Option<String>,
    pub message: String,
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sqlstate {
            Some(s) => write!(f, "SQLSTATE {s}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn pg_error(e: &tokio_postgres::Error) -> SqlError {
    match e.as_db_error() {
        Some(db) => SqlError {
            sqlstate: Some(db.code().code().to_string()),
            message: db.message().to_string(),
        },
        None => SqlError {
            sqlstate: e.code().map(|c| c.code().to_string()),
            message: error_chain(e),
        },
    }
}

fn my_error(e: &mysql_async::Error) -> SqlError {
    match e {
        mysql_async::Error::Server(s) => SqlError {
            sqlstate: Some(s.state.clone()),
            message: format!("{} (error {})", s.message, s.code),
        },
        other => SqlError {
            sqlstate: None,
            message: error_chain(other),
        },
    }
}

pub(crate) use crate::diagnostic::error_chain;

impl SqlConn {
    pub async fn connect(
        kind: ServiceKind,
        addr: SocketAddr,
        creds: &Credentials,
    ) -> Result<SqlConn, SqlError> {
        match kind {
            ServiceKind::Postgres => {
                let mut cfg = tokio_postgres::Config::new();
                cfg.host(addr.ip().to_string())
                    .port(addr.port())
                    .user(&creds.user)
                    .connect_timeout(CONNECT_TIMEOUT)
                    .application_name("dockmatrix");
                if let Some(p) = &creds.password {
                    cfg.password(p);
                }
                if let Some(d) = &creds.database {
                    cfg.dbname(d);
                }
                let (client, connection) = cfg
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| pg_error(&e))?;
                // Ends by itself when the client is dropped.
                tokio::spawn(connection);
                Ok(SqlConn::Pg(client))
            }
            ServiceKind::Mysql => {
                let opts = mysql_async::OptsBuilder::default()
                    .ip_or_hostname(addr.ip().to_string())
                    .tcp_port(addr.port())
                    .user(Some(creds.user.clone()))
                    .pass(creds.password.clone())
                    .db_name(creds.database.clone())
                    // 127.0.0.1 would otherwise make it switch to a unix socket on *this*
                    // machine when the server's socket path exists here.
                    .prefer_socket(false)
                    .stmt_cache_size(0);
                let conn = tokio::time::timeout(CONNECT_TIMEOUT, mysql_async::Conn::new(opts))
                    .await
                    .map_err(|_| SqlError {
                        sqlstate: None,
                        message: format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
                    })?
                    .map_err(|e| my_error(&e))?;
                Ok(SqlConn::My(conn))
            }
            other => Err(SqlError {
                sqlstate: None,
                message: format!("a {other:?} service does not speak SQL"),
            }),
        }
    }

    /// Runs one statement in the text (simple query) protocol.
    pub async fn query(&mut self, sql: &str) -> Result<Answer, SqlError> {
        match self {
            SqlConn::Pg(client) => {
                let messages = client.simple_query(sql).await.map_err(|e| pg_error(&e))?;
                let mut answer = Answer::default();
                for m in messages {
                    match m {
                        tokio_postgres::SimpleQueryMessage::Row(row) => {
                            let values = (0..row.len())
                                .map(|i| row.get(i).map(str::to_string))
                                .collect();
                            answer.rows.get_or_insert_with(Vec::new).push(values);
                        }
                        tokio_postgres::SimpleQueryMessage::RowDescription(_) => {
                            answer.rows.get_or_insert_with(Vec::new);
                        }
                        tokio_postgres::SimpleQueryMessage::CommandComplete(n) => {
                            answer.affected = n;
                        }
                        _ => {}
                    }
                }
                Ok(answer)
            }
            SqlConn::My(conn) => {
                let mut result = conn.query_iter(sql).await.map_err(|e| my_error(&e))?;
                let has_columns = !result.columns_ref().is_empty();
                let rows: Vec<mysql_async::Row> =
                    result.collect().await.map_err(|e| my_error(&e))?;
                let affected = result.affected_rows();
                result.drop_result().await.map_err(|e| my_error(&e))?;
                let rows = has_columns.then(|| {
                    rows.into_iter()
                        .map(|r| r.unwrap().into_iter().map(my_text).collect())
                        .collect()
                });
                Ok(Answer { rows, affected })
            }
        }
    }

    pub async fn close(self) {
        match self {
            SqlConn::Pg(client) => drop(client),
            SqlConn::My(conn) => {
                let _ = conn.disconnect().await;
            }
        }
    }
}

/// A value of MySQL's text protocol in its text form.
fn my_text(v: mysql_async::Value) -> Option<String> {
    use mysql_async::Value;
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(false).trim_matches('\'').to_string()),
    }
}

/// Shows rows as `[["1", "a"], ["2", NULL]]`.
pub(crate) fn show_rows(rows: &[Vec<Option<String>>]) -> String {
    let shown: Vec<String> = rows
        .iter()
        .take(10)
        .map(|r| {
            let vals: Vec<String> = r
                .iter()
                .map(|v| {
                    v.as_deref()
                        .map_or("NULL".into(), |s| format!("{:?}", show(s, 80)))
                })
                .collect();
            format!("[{}]", vals.join(", "))
        })
        .collect();
    let more = if rows.len() > 10 {
        format!(", … {} more", rows.len() - 10)
    } else {
        String::new()
    };
    format!("[{}{more}]", shown.join(", "))
}

fn expected_rows(rows: &[Vec<String>]) -> String {
    let shown: Vec<String> = rows
        .iter()
        .map(|r| {
            let vals: Vec<String> = r
                .iter()
                .map(|v| {
                    if v == "NULL" {
                        v.clone()
                    } else {
                        format!("{v:?}")
                    }
                })
                .collect();
            format!("[{}]", vals.join(", "))
        })
        .collect();
    format!("[{}]", shown.join(", "))
}

/// Connects as the check says (directly or via a container) with the service's
/// credentials.
pub(crate) async fn connect_for(
    target: &Target,
    matrix: &Matrix,
    service: &str,
    via: Option<&str>,
    user: Option<&str>,
    password: Option<&str>,
    database: Option<&str>,
) -> Result<(SqlConn, conn::Endpoint), String> {
    let svc = conn::service(target, service)?;
    let endpoint = conn::endpoint(target, matrix, service, None, via).await?;
    let creds = conn::credentials(svc.kind, &svc.env, user, password, database);
    let route = match via {
        Some(v) => format!("{} via `{v}`", endpoint.authority),
        None => format!("{} at {}", endpoint.authority, endpoint.addr),
    };
    match SqlConn::connect(svc.kind, endpoint.addr, &creds).await {
        Ok(c) => Ok((c, endpoint)),
        Err(e) => Err(format!(
            "cannot log in to {route} as `{}`: {e}{}",
            creds.user,
            endpoint.tunnel_note()
        )),
    }
}

pub(crate) async fn run(a: &SqlAction, target: &Target, matrix: &Matrix) -> Outcome {
    let (mut c, _endpoint) = match connect_for(
        target,
        matrix,
        &a.service,
        a.via.as_deref(),
        a.user.as_deref(),
        a.password.as_deref(),
        a.database.as_deref(),
    )
    .await
    {
        Ok(x) => x,
        Err(e) => return Outcome::Error(e),
    };
    let outcome = run_statements(&mut c, a).await;
    c.close().await;
    outcome
}

async fn run_statements(c: &mut SqlConn, a: &SqlAction) -> Outcome {
    let n = a.statements.len();
    for (i, stmt) in a.statements.iter().enumerate() {
        let last = i + 1 == n;
        let result = c.query(stmt).await;
        let which = if n > 1 {
            format!("statement {} of {n} ({})", i + 1, show(stmt, 60))
        } else {
            format!("`{}`", show(stmt, 60))
        };
        match (result, last) {
            (Err(e), false) => {
                return Outcome::Fail(format!("{which} failed: {e}"));
            }
            (Ok(_), false) => {}
            (result, true) => return judge(&a.expect, result, &which),
        }
    }
    Outcome::Pass(String::new())
}

/// Compares the last statement's result with the expectation.
fn judge(expect: &SqlExpect, result: Result<Answer, SqlError>, which: &str) -> Outcome {
    match (expect, result) {
        (SqlExpect::Error(want), Err(e)) => match &e.sqlstate {
            Some(code) if code.starts_with(want.as_str()) => {
                Outcome::Pass(format!("failed as expected: {e}"))
            }
            _ => Outcome::Fail(format!("expected SQLSTATE {want}, got {e}")),
        },
        (SqlExpect::Error(want), Ok(answer)) => Outcome::Fail(format!(
            "expected SQLSTATE {want}, but {which} succeeded ({})",
            summary(&answer)
        )),
        (_, Err(e)) => Outcome::Fail(format!("{which} failed: {e}")),
        (SqlExpect::Success, Ok(answer)) => Outcome::Pass(summary(&answer)),
        (SqlExpect::RowCount(want), Ok(answer)) => {
            let got = answer.row_count();
            if got == *want {
                Outcome::Pass(format!("{got} rows"))
            } else {
                Outcome::Fail(format!(
                    "expected {want} rows, got {got} ({})",
                    summary(&answer)
                ))
            }
        }
        (SqlExpect::Rows(want), Ok(answer)) => {
            let Some(rows) = &answer.rows else {
                return Outcome::Fail(format!(
                    "expected rows {}, got no result set ({} rows affected)",
                    expected_rows(want),
                    answer.affected
                ));
            };
            let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "NULL".into());
            let same = rows.len() == want.len()
                && rows
                    .iter()
                    .zip(want)
                    .all(|(r, w)| r.len() == w.len() && r.iter().map(text).eq(w.iter().cloned()));
            if same {
                Outcome::Pass(format!("rows {}", show_rows(rows)))
            } else {
                Outcome::Fail(format!(
                    "expected rows {}, got {}",
                    expected_rows(want),
                    show_rows(rows)
                ))
            }
        }
    }
}

fn summary(a: &Answer) -> String {
    match &a.rows {
        Some(rows) => format!("rows {}", show_rows(rows)),
        None => format!("{} rows affected", a.affected),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[&[Option<&str>]]) -> Answer {
        Answer {
            rows: Some(
                r.iter()
                    .map(|row| row.iter().map(|v| v.map(str::to_string)).collect())
                    .collect(),
            ),
            affected: r.len() as u64,
        }
    }

    #[test]
    fn rows_compare_as_text_with_null() {
        let want = SqlExpect::Rows(vec![vec!["1".into(), "NULL".into()]]);
        assert!(matches!(
            judge(&want, Ok(rows(&[&[Some("1"), None]])), "s"),
            Outcome::Pass(_)
        ));
        let Outcome::Fail(m) = judge(&want, Ok(rows(&[&[Some("2"), None]])), "s") else {
            panic!("fails")
        };
        assert_eq!(m, r#"expected rows [["1", NULL]], got [["2", NULL]]"#);
    }

    #[test]
    fn sqlstate_classes_match_by_prefix() {
        let err = || {
            Err(SqlError {
                sqlstate: Some("23505".into()),
                message: "duplicate key".into(),
            })
        };
        assert!(matches!(
            judge(&SqlExpect::Error("23".into()), err(), "s"),
            Outcome::Pass(_)
        ));
        assert!(matches!(
            judge(&SqlExpect::Error("23505".into()), err(), "s"),
            Outcome::Pass(_)
        ));
        let Outcome::Fail(m) = judge(&SqlExpect::Error("42".into()), err(), "s") else {
            panic!("fails")
        };
        assert_eq!(m, "expected SQLSTATE 42, got SQLSTATE 23505: duplicate key");
        let Outcome::Fail(m) = judge(
            &SqlExpect::Error("42".into()),
            Ok(rows(&[&[Some("1")]])),
            "`SELECT 1`",
        ) else {
            panic!("fails")
        };
        assert_eq!(
            m,
            r#"expected SQLSTATE 42, but `SELECT 1` succeeded (rows [["1"]])"#
        );
    }

    #[test]
    fn row_counts_count_rows_or_affected() {
        assert!(matches!(
            judge(&SqlExpect::RowCount(2), Ok(rows(&[&[None], &[None]])), "s"),
            Outcome::Pass(_)
        ));
        let dml = Answer {
            rows: None,
            affected: 3,
        };
        assert!(matches!(
            judge(&SqlExpect::RowCount(3), Ok(dml), "s"),
            Outcome::Pass(_)
        ));
    }
}
