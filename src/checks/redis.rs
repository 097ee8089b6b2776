//! Redis checks: commands sent in order on one connection, the last reply compared with
//! the expected one (strings, integers, arrays, nil) or with an expected error.

use std::net::SocketAddr;
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncConnectionConfig, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};

use super::conn::{self, Credentials};
use super::{Outcome, Target, show};
use crate::matrix::Matrix;
use crate::scenario::{RedisAction, RedisExpect, Reply};

/// A reply as the check sees it: an error reply is a value, not a failure to talk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Got {
    Nil,
    Int(i64),
    Str(String),
    Array(Vec<Got>),
    Error(String),
    /// A RESP3 type the expectation syntax has no word for (double, boolean, …).
    Other(String),
}

impl std::fmt::Display for Got {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Got::Nil => f.write_str("(nil)"),
            Got::Int(i) => write!(f, "{i}"),
            Got::Str(s) => write!(f, "{:?}", show(s, 80)),
            Got::Array(items) => {
                f.write_str("[")?;
                for (i, g) in items.iter().take(20).enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{g}")?;
                }
                if items.len() > 20 {
                    write!(f, ", … {} more", items.len() - 20)?;
                }
                f.write_str("]")
            }
            Got::Error(e) => write!(f, "(error) {e}"),
            Got::Other(o) => f.write_str(o),
        }
    }
}

fn got(v: ::redis::Value) -> Got {
    use ::redis::Value;
    match v {
        Value::Nil => Got::Nil,
        Value::Int(i) => Got::Int(i),
        Value::BulkString(b) => Got::Str(String::from_utf8_lossy(&b).into_owned()),
        Value::SimpleString(s) => Got::Str(s),
        Value::Okay => Got::Str("OK".into()),
        Value::Array(items) | Value::Set(items) => Got::Array(items.into_iter().map(got).collect()),
        Value::Map(pairs) => Got::Array(
            pairs
                .into_iter()
                .flat_map(|(k, v)| [got(k), got(v)])
                .collect(),
        ),
        Value::VerbatimString { text, .. } => Got::Str(text),
        Value::ServerError(e) => Got::Error(match e.details() {
            Some(d) => format!("{} {d}", e.code()),
            None => e.code().to_string(),
        }),
        Value::Attribute { data, .. } => got(*data),
        other => Got::Other(format!("{other:?}")),
    }
}

fn matches(want: &Reply, got: &Got) -> bool {
    match (want, got) {
        (Reply::Nil, Got::Nil) => true,
        (Reply::Int(a), Got::Int(b)) => a == b,
        (Reply::Str(a), Got::Str(b)) => a == b,
        (Reply::Array(a), Got::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| matches(x, y))
        }
        _ => false,
    }
}

pub(crate) async fn connect(
    addr: SocketAddr,
    creds: &Credentials,
) -> Result<MultiplexedConnection, String> {
    let mut settings = RedisConnectionInfo::default().set_skip_set_lib_name();
    if let Some(p) = &creds.password {
        settings = settings.set_password(p);
        if creds.user != "default" {
            settings = settings.set_username(&creds.user);
        }
    }
    let info = ConnectionAddr::Tcp(addr.ip().to_string(), addr.port())
        .into_connection_info()
        .map_err(|e| e.to_string())?
        .set_redis_settings(settings);
    let client = ::redis::Client::open(info).map_err(|e| e.to_string())?;
    // The check's own timeout bounds every reply: a slowed server is measured, not cut.
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(10)))
        .set_response_timeout(None);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| super::sql::error_chain(&e))
}

/// Sends one command; an error reply comes back as [`Got::Error`], a broken connection
/// as `Err`.
pub(crate) async fn send(c: &mut MultiplexedConnection, args: &[String]) -> Result<Got, String> {
    let Some((name, rest)) = args.split_first() else {
        return Err("an empty command".into());
    };
    let mut cmd = ::redis::cmd(name);
    for a in rest {
        cmd.arg(a);
    }
    match cmd.query_async::<::redis::Value>(c).await {
        Ok(v) => Ok(got(v)),
        Err(e) => match (e.code(), e.detail()) {
            (Some(code), detail) => Ok(Got::Error(match detail {
                Some(d) => format!("{code} {d}"),
                None => code.to_string(),
            })),
            _ => Err(super::sql::error_chain(&e)),
        },
    }
}

pub(crate) fn show_command(args: &[String]) -> String {
    super::show_argv(args, 80)
}

pub(crate) async fn connect_for(
    target: &Target,
    matrix: &Matrix,
    service: &str,
    via: Option<&str>,
) -> Result<(MultiplexedConnection, conn::Endpoint), String> {
    let svc = conn::service(target, service)?;
    let endpoint = conn::endpoint(target, matrix, service, None, via).await?;
    let creds = conn::credentials(svc.kind, &svc.env, None, None, None);
    match connect(endpoint.addr, &creds).await {
        Ok(c) => Ok((c, endpoint)),
        Err(e) => Err(format!(
            "cannot connect to {}: {e}{}",
            endpoint.authority,
            endpoint.tunnel_note()
        )),
    }
}

pub(crate) async fn run(a: &RedisAction, target: &Target, matrix: &Matrix) -> Outcome {
    let (mut c, _endpoint) = match connect_for(target, matrix, &a.service, a.via.as_deref()).await {
        Ok(x) => x,
        Err(e) => return Outcome::Error(e),
    };
    let n = a.commands.len();
    for (i, args) in a.commands.iter().enumerate() {
        let reply = match send(&mut c, args).await {
            Ok(r) => r,
            Err(e) => return Outcome::Error(format!("`{}`: {e}", show_command(args))),
        };
        if i + 1 < n {
            if let Got::Error(e) = &reply {
                return Outcome::Fail(format!(
                    "command {} of {n} (`{}`) got an error: {e}",
                    i + 1,
                    show_command(args)
                ));
            }
            continue;
        }
        return judge(&a.expect, &reply, args);
    }
    Outcome::Pass(String::new())
}

fn judge(expect: &RedisExpect, reply: &Got, args: &[String]) -> Outcome {
    let cmd = show_command(args);
    match (expect, reply) {
        (RedisExpect::Error(want), Got::Error(e)) if e.starts_with(want.as_str()) => {
            Outcome::Pass(format!("`{cmd}` failed as expected: {e}"))
        }
        (RedisExpect::Error(want), other) => Outcome::Fail(format!(
            "`{cmd}`: expected an error starting {want:?}, got {other}"
        )),
        (_, Got::Error(e)) => Outcome::Fail(format!("`{cmd}` got an error: {e}")),
        (RedisExpect::Success, r) => Outcome::Pass(format!("`{cmd}` → {r}")),
        (RedisExpect::Reply(want), r) if matches(want, r) => {
            Outcome::Pass(format!("`{cmd}` → {r}"))
        }
        (RedisExpect::Reply(want), r) => {
            Outcome::Fail(format!("`{cmd}`: expected {want}, got {r}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn replies_match_structurally() {
        let want = Reply::Array(vec![
            Reply::Str("l".into()),
            Reply::Array(vec![Reply::Str("a".into())]),
        ]);
        let got = Got::Array(vec![
            Got::Str("l".into()),
            Got::Array(vec![Got::Str("a".into())]),
        ]);
        assert!(matches!(
            judge(
                &RedisExpect::Reply(want.clone()),
                &got,
                &args("LMPOP 1 l LEFT")
            ),
            Outcome::Pass(_)
        ));
        let Outcome::Fail(m) = judge(
            &RedisExpect::Reply(want),
            &Got::Nil,
            &args("LMPOP 1 l LEFT"),
        ) else {
            panic!("fails")
        };
        assert_eq!(m, r#"`LMPOP 1 l LEFT`: expected ["l", ["a"]], got (nil)"#);
        assert!(matches!(
            judge(
                &RedisExpect::Reply(Reply::Int(2)),
                &Got::Str("2".into()),
                &args("X")
            ),
            Outcome::Fail(_)
        ));
    }

    #[test]
    fn error_replies_match_by_prefix() {
        let e = Got::Error("ERR unknown command 'HGETEX'".into());
        assert!(matches!(
            judge(
                &RedisExpect::Error("ERR unknown command".into()),
                &e,
                &args("HGETEX")
            ),
            Outcome::Pass(_)
        ));
        assert!(matches!(
            judge(&RedisExpect::Success, &e, &args("HGETEX")),
            Outcome::Fail(_)
        ));
    }
}
