//! Scenario files (`scenarios/*.toml`): a suite of checks of one kind (connectivity,
//! regression, perf), parsed into raw structs ([`raw`]), validated into the checked
//! types of this module ([`validate`]), and cross-checked against a matrix
//! ([`load_all`]). Plain data and functions: no Docker, no tokio; `checks` runs them.

pub mod clients;
mod raw;
mod validate;
pub mod when;

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use when::{When, WhenTerm};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::matrix::{Matrix, ServiceKind};

/// A checked scenario file.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub path: PathBuf,
    pub source: String,
    /// The suite's name in reports (`name`, else the file's stem).
    pub name: String,
    pub kind: SuiteKind,
    pub description: Option<String>,
    /// In file order: the order they run in.
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuiteKind {
    Connectivity,
    Regression,
    Perf,
}

impl SuiteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SuiteKind::Connectivity => "connectivity",
            SuiteKind::Regression => "regression",
            SuiteKind::Perf => "perf",
        }
    }
}

/// When a check runs relative to an upgrade rehearsal. A run without an upgrade runs
/// the phases in the order seed, run, verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// Before the engine is upgraded: writes the data that `verify` checks survived.
    Seed,
    /// The ordinary checks.
    #[default]
    Run,
    /// After the upgrade: checks what `seed` wrote.
    Verify,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Seed => "seed",
            Phase::Run => "run",
            Phase::Verify => "verify",
        }
    }

    fn parse(s: &str) -> Option<Phase> {
        match s {
            "seed" => Some(Phase::Seed),
            "run" => Some(Phase::Run),
            "verify" => Some(Phase::Verify),
            _ => None,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One assertion against a stack.
#[derive(Debug, Clone)]
pub struct Check {
    /// Unique across a matrix's scenarios; `[[known]]` entries refer to it.
    pub name: String,
    pub description: Option<String>,
    pub when: When,
    pub phase: Phase,
    /// The whole check (a perf check: setup, warm-up and measuring) must end within this.
    pub timeout: Duration,
    pub action: Action,
    /// Set for the checks of a perf suite: the action is measured, not just run once.
    pub perf: Option<PerfSpec>,
    /// Where the check is written: for diagnostics found later (against a matrix).
    pub span: Range<usize>,
    pub name_span: Range<usize>,
    /// Key path of the check in its file (`check[3]`).
    pub key: String,
    /// Every service the check names, with the span of the name.
    pub services: Vec<ServiceRef>,
}

/// A service named by a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    pub name: String,
    /// The key that names it: `service`, `via`, `from` or `reach`.
    pub field: &'static str,
    pub role: ServiceRole,
    pub span: Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceRole {
    /// The service the check talks to (`service`, or `reach`'s target).
    Target,
    /// The container the client's connection is opened from (`via`, `from`).
    Source,
}

/// What a check does.
#[derive(Debug, Clone)]
pub enum Action {
    Sql(SqlAction),
    Redis(RedisAction),
    Http(HttpAction),
    Exec(ExecAction),
    Reach(ReachAction),
    DockerApi(DockerApiAction),
    Command(CommandAction),
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Sql(_) => "sql",
            Action::Redis(_) => "redis",
            Action::Http(_) => "http",
            Action::Exec(_) => "exec",
            Action::Reach(_) => "reach",
            Action::DockerApi(_) => "docker-api",
            Action::Command(_) => "command",
        }
    }

    /// The service the check talks to (empty for checks of the engine or the whole cell:
    /// `docker-api`, `command`).
    pub fn service(&self) -> &str {
        match self {
            Action::DockerApi(_) | Action::Command(_) => "",
            Action::Sql(a) => &a.service,
            Action::Redis(a) => &a.service,
            Action::Http(a) => &a.service,
            Action::Exec(a) => &a.service,
            Action::Reach(a) => &a.to,
        }
    }
}

/// Statements run in order on one connection: every one must succeed except that the
/// last one's outcome is what `expect` describes.
#[derive(Debug, Clone)]
pub struct SqlAction {
    pub service: String,
    pub via: Option<String>,
    pub database: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub statements: Vec<String>,
    /// Perf only: run once before measuring.
    pub setup: Vec<String>,
    pub expect: SqlExpect,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SqlExpect {
    /// Every statement succeeds.
    Success,
    /// The last statement returns exactly these rows (values in their text form, SQL
    /// NULL as `NULL`), in this order.
    Rows(Vec<Vec<String>>),
    /// The last statement returns (or affects) this many rows.
    RowCount(u64),
    /// The last statement fails with this SQLSTATE (5 characters) or class (2).
    Error(String),
}

/// Commands sent in order on one connection; `expect` is about the last reply.
#[derive(Debug, Clone)]
pub struct RedisAction {
    pub service: String,
    pub via: Option<String>,
    pub commands: Vec<Vec<String>>,
    pub setup: Vec<Vec<String>>,
    pub expect: RedisExpect,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RedisExpect {
    /// No command gets an error reply.
    Success,
    Reply(Reply),
    /// The last command gets an error reply that starts with this (`ERR unknown command`).
    Error(String),
}

/// An expected Redis reply, as written in TOML: strings match bulk and simple strings
/// (`"OK"` matches +OK), integers match integer replies, arrays match arrays, and the
/// string `"(nil)"` matches a nil reply (as redis-cli prints it).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Nil,
    Int(i64),
    Str(String),
    Array(Vec<Reply>),
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Nil => f.write_str("(nil)"),
            Reply::Int(i) => write!(f, "{i}"),
            Reply::Str(s) => write!(f, "{s:?}"),
            Reply::Array(items) => {
                f.write_str("[")?;
                for (i, r) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{r}")?;
                }
                f.write_str("]")
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpAction {
    pub service: String,
    pub via: Option<String>,
    /// The container port; default: the service's first port in the matrix.
    pub port: Option<u16>,
    pub request: HttpRequest,
    pub setup: Vec<HttpRequest>,
    pub expect: HttpExpect,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: String,
    /// Path and query, starting with `/`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpExpect {
    /// Default: any 2xx.
    pub status: Option<u16>,
    pub body_contains: Option<String>,
    /// JSON fields by dotted path (`stores.postgres.status`, `items.0`) or JSON pointer
    /// (`/stores/postgres/status`), with their expected values.
    pub json: Vec<(String, serde_json::Value)>,
}

#[derive(Debug, Clone)]
pub struct ExecAction {
    pub service: String,
    pub command: Vec<String>,
    pub user: Option<String>,
    pub expect: ExecExpect,
}

#[derive(Debug, Clone)]
pub struct ExecExpect {
    pub exit_code: i64,
    /// A regular expression searched in stdout and stderr together.
    pub output: Option<regex::Regex>,
}

/// A request to the cell's engine as a client pinned to `version` sends it:
/// `METHOD /vVERSION/PATH`.
#[derive(Debug, Clone)]
pub struct DockerApiAction {
    /// `N.M`.
    pub version: String,
    /// The request as written (its path without the version prefix).
    pub request: HttpRequest,
    pub expect: HttpExpect,
}

impl DockerApiAction {
    /// The request as sent: the path with the `/vN.M` prefix.
    pub fn versioned(&self) -> HttpRequest {
        HttpRequest {
            path: format!("/v{}{}", self.version, self.request.path),
            ..self.request.clone()
        }
    }
}

/// A program run on this machine against the cell: the team's own test suite.
#[derive(Debug, Clone)]
pub struct CommandAction {
    pub argv: Vec<String>,
    /// The working directory (the scenario file's folder by default).
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
    /// Loaded into the cell's engine before it runs.
    pub images: Vec<String>,
    /// A JUnit XML file (relative to `dir`) whose test cases become checks. `{cell}` in
    /// it and in the arguments is the cell's id (cells run at once).
    pub junit: Option<PathBuf>,
    pub expect: ExecExpect,
}

/// From a container (or, without `from`, from dockmatrix's process to the published
/// port): the name resolves, the port accepts TCP, the configured credentials log in.
#[derive(Debug, Clone)]
pub struct ReachAction {
    pub from: Option<String>,
    pub to: String,
    pub port: Option<u16>,
    /// Default: log in when the target's kind has a login (postgres, mysql, redis).
    pub login: Option<bool>,
}

/// How a perf check measures.
#[derive(Debug, Clone, PartialEq)]
pub struct PerfSpec {
    pub warmup: Duration,
    /// Measuring time (ignored when `iterations` is set).
    pub duration: Duration,
    /// Measure exactly this many operations instead of for `duration`.
    pub iterations: Option<u64>,
    pub concurrency: u32,
    /// Keep measuring past `duration` until there are this many samples.
    pub min_samples: u64,
    /// Nothing new starts in other cells while this measures.
    pub exclusive: bool,
    /// Allowed worsening against a baseline, in percent.
    pub tolerance_pct: f64,
    /// Sampling stops (after the warm-up and `min_samples`) once the half-width of the
    /// p95's 95 % confidence interval is within this, in percent of the p95; 0 = never
    /// early, always `duration`.
    pub precision_pct: f64,
}

impl Default for PerfSpec {
    fn default() -> Self {
        PerfSpec {
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
            iterations: None,
            concurrency: 4,
            min_samples: 1000,
            exclusive: true,
            tolerance_pct: 15.0,
            precision_pct: 2.0,
        }
    }
}

/// The timeout of a check that sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl Scenario {
    /// Reads, parses and validates a scenario file. Every problem is a diagnostic naming
    /// the file, line, column and key path.
    pub fn load(path: &Path) -> Result<Scenario, Diagnostics> {
        let source = crate::diagnostic::read_toml_source(path).map_err(|mut d| {
            for diag in &mut d.0 {
                if diag.message == "the file is empty" {
                    diag.help = Some("a scenario needs `kind` and at least one [[check]]".into());
                }
            }
            d
        })?;
        Scenario::from_source(path, source)
    }

    pub fn from_source(path: &Path, source: String) -> Result<Scenario, Diagnostics> {
        let raw: raw::RawScenario = crate::diagnostic::parse_toml(path, &source)?;
        validate::validate(path, source, raw)
    }

    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}

/// Loads the matrix's scenarios and checks them against it: check names unique across
/// the scenarios, services that exist and are of a kind the check can talk to, `when`
/// keys the matrix knows, and `[[known]]` entries that name an existing check.
pub fn load_all(matrix: &Matrix) -> Result<Vec<Scenario>, Diagnostics> {
    let mut problems = Vec::new();
    let mut scenarios = Vec::new();
    for path in &matrix.scenarios {
        match Scenario::load(path) {
            Ok(s) => scenarios.push(s),
            Err(d) => problems.extend(d.0),
        }
    }
    problems.extend(cross_check(matrix, &scenarios));
    if problems.is_empty() {
        Ok(scenarios)
    } else {
        Err(Diagnostics(problems))
    }
}

/// The problems between a matrix and its (individually valid) scenarios.
pub fn cross_check(matrix: &Matrix, scenarios: &[Scenario]) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let mut seen: HashMap<&str, (&Scenario, &Check)> = HashMap::new();
    let services: Vec<&str> = matrix.services.keys().map(String::as_str).collect();
    let keys = matrix.keys();
    for scenario in scenarios {
        let at = |span: Range<usize>, key: String, msg: String| {
            Diagnostic::at(&scenario.path, &scenario.source, span, key, msg)
        };
        for check in &scenario.checks {
            if let Some((first_s, first)) = seen.get(check.name.as_str()) {
                let line = line_of(&first_s.source, first.name_span.start);
                problems.push(
                    at(
                        check.name_span.clone(),
                        format!("{}.name", check.key),
                        format!("two checks are named `{}`", check.name),
                        )
                    .with_help(format!(
                        "check names are unique across a matrix's scenarios ([[known]] entries name them); the other is at {}:{line}",
                        first_s.path.display()
                    )),
                );
            } else {
                seen.insert(&check.name, (scenario, check));
            }
            for r in &check.services {
                let Some(spec) = matrix.services.get(&r.name) else {
                    problems.push(
                        at(
                            r.span.clone(),
                            format!("{}.{}", check.key, r.field),
                            format!(
                                "check `{}` names service `{}`, which matrix `{}` does not have",
                                check.name, r.name, matrix.name
                            ),
                        )
                        .with_help(format!("services of the matrix: {}", services.join(", "))),
                    );
                    continue;
                };
                if r.role == ServiceRole::Target
                    && let Some(msg) = kind_problem(&check.action, spec)
                {
                    problems.push(
                        at(r.span.clone(), format!("{}.{}", check.key, r.field), msg.0)
                            .with_help(msg.1),
                    );
                }
            }
            for term in &check.when.terms {
                let known = term.key == when::ENGINE_VERSION
                    || keys.contains(&term.key.as_str())
                    || matrix.services.contains_key(&term.key);
                if !known {
                    problems.push(
                        at(
                            term.span.clone(),
                            format!("{}.when.{}", check.key, term.key),
                            format!(
                                "`when` names `{}`, which is no axis, include key or service of matrix `{}`",
                                term.key, matrix.name
                            ),
                        )
                        .with_help(format!(
                            "name an axis ({}), a service with a version, or `engine-version`",
                            keys.join(", ")
                        )),
                    );
                }
            }
        }
    }
    for (i, known) in matrix.known.iter().enumerate() {
        if !seen.contains_key(known.check.as_str()) {
            let mut names: Vec<&str> = seen.keys().copied().collect();
            names.sort_unstable();
            let close = closest(&known.check, &names);
            let help = match close {
                Some(c) => format!("did you mean `{c}`?"),
                None => "name a check of the matrix's scenarios, exactly as its `name`".into(),
            };
            problems.push(
                Diagnostic::at(
                    &matrix.path,
                    &matrix.source,
                    known.check_span.clone(),
                    format!("known[{i}].check"),
                    format!(
                        "no scenario of the matrix has a check named `{}`",
                        known.check
                    ),
                )
                .with_help(help),
            );
        }
    }
    problems
}

/// Why `action` cannot talk to a service of this kind, with a help text.
fn kind_problem(action: &Action, spec: &crate::matrix::ServiceSpec) -> Option<(String, String)> {
    let kind = match spec.kind {
        ServiceKind::Postgres => "a postgres service",
        ServiceKind::Mysql => "a mysql service",
        ServiceKind::Redis => "a redis service",
        ServiceKind::Http => "an http service",
        ServiceKind::Generic => "a generic service",
    };
    let name = &spec.name;
    match action {
        Action::Sql(_) if !matches!(spec.kind, ServiceKind::Postgres | ServiceKind::Mysql) => {
            Some((
                format!("an sql check needs a postgres or mysql service; `{name}` is {kind}"),
                "point `service` at a postgres or mysql service".into(),
            ))
        }
        Action::Redis(_) if spec.kind != ServiceKind::Redis => Some((
            format!("a redis check needs a redis service; `{name}` is {kind}"),
            "point `service` at a redis service".into(),
        )),
        Action::Http(a) if a.port.is_none() && spec.ports.is_empty() => Some((
            format!("service `{name}` lists no port, so the http check does not know where to go"),
            "add `port = …` to the check, or `ports = […]` to the service".into(),
        )),
        Action::Reach(a)
            if a.port.is_none() && spec.kind.default_port().is_none() && spec.ports.is_empty() =>
        {
            Some((
                format!(
                    "service `{name}` lists no port, so the reach check does not know where to go"
                ),
                "add `port = …` to the check, or `ports = […]` to the service".into(),
            ))
        }
        Action::Reach(a)
            if a.login == Some(true)
                && !matches!(
                    spec.kind,
                    ServiceKind::Postgres | ServiceKind::Mysql | ServiceKind::Redis
                ) =>
        {
            Some((
                format!(
                    "`login = true`, but `{name}` is {kind}, which has no login dockmatrix knows"
                ),
                "logins are known for postgres, mysql and redis services; remove `login`".into(),
            ))
        }
        _ => None,
    }
}

fn line_of(source: &str, offset: usize) -> usize {
    source[..offset.min(source.len())].matches('\n').count() + 1
}

/// The name closest to `wanted` by edit distance, if it is close enough to be a typo.
fn closest<'a>(wanted: &str, names: &[&'a str]) -> Option<&'a str> {
    names
        .iter()
        .map(|n| (edit_distance(wanted, n), *n))
        .filter(|(d, n)| *d <= (n.chars().count() / 4).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_finds_typos() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            closest("redis: LMPOP pop", &["redis: LMPOP pops", "x"]),
            Some("redis: LMPOP pops")
        );
        assert_eq!(closest("zzz", &["redis: LMPOP pops"]), None);
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    const GOOD: &str = r#"
kind = "regression"
[defaults]
timeout = "10s"

[[check]]
name = "pg: MERGE"
service = "postgres"
when = { postgres = ">=15", engine-version = ">=20.10" }
sql = ["CREATE TEMP TABLE t (k int)", "SELECT 1, NULL"]
expect = { rows = [["1", "NULL"]] }

[[check]]
name = "redis: LMPOP"
service = "redis"
redis = [["DEL", "l"], ["RPUSH", "l", "a", 2], ["LMPOP", 1, "l", "LEFT"]]
expect = { reply = ["l", ["a"]] }

[[check]]
name = "app: health"
service = "app"
http = { path = "/health", headers = { accept = "application/json" } }
expect = { status = 200, json = { "stores.postgres.status" = "up" } }

[[check]]
name = "exec"
service = "postgres"
exec = ["psql", "--version"]
expect = { output = "PostgreSQL\\) 1[57]" }
phase = "verify"

[[check]]
name = "reach"
from = "app"
reach = "postgres"
timeout = "5s"
"#;

    #[test]
    fn a_good_file_parses_into_checks() {
        let s = Scenario::from_source(Path::new("scenarios/regression.toml"), GOOD.into())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.name, "regression");
        assert_eq!(s.kind, SuiteKind::Regression);
        assert_eq!(s.checks.len(), 5);
        let sql = &s.checks[0];
        assert_eq!(sql.timeout, Duration::from_secs(10));
        assert_eq!(sql.when.terms.len(), 2);
        let Action::Sql(a) = &sql.action else {
            panic!("sql")
        };
        assert_eq!(a.statements.len(), 2);
        assert_eq!(
            a.expect,
            SqlExpect::Rows(vec![vec!["1".into(), "NULL".into()]])
        );
        let Action::Redis(r) = &s.checks[1].action else {
            panic!("redis")
        };
        assert_eq!(r.commands[1], ["RPUSH", "l", "a", "2"]);
        assert_eq!(
            r.expect,
            RedisExpect::Reply(Reply::Array(vec![
                Reply::Str("l".into()),
                Reply::Array(vec![Reply::Str("a".into())])
            ]))
        );
        let Action::Http(h) = &s.checks[2].action else {
            panic!("http")
        };
        assert_eq!(h.request.method, "GET");
        assert_eq!(h.expect.status, Some(200));
        assert_eq!(s.checks[3].phase, Phase::Verify);
        let Action::Reach(r) = &s.checks[4].action else {
            panic!("reach")
        };
        assert_eq!(
            (r.from.as_deref(), r.to.as_str()),
            (Some("app"), "postgres")
        );
        assert_eq!(s.checks[4].timeout, Duration::from_secs(5));
        assert!(s.checks.iter().all(|c| c.perf.is_none()));
    }

    #[test]
    fn perf_defaults_follow_the_issue() {
        let src = r#"
kind = "perf"
[[check]]
name = "redis SET"
service = "redis"
redis = ["SET", "k:{i}", "v"]
[[check]]
name = "pg select"
service = "postgres"
sql = "SELECT 1"
concurrency = 8
tolerance = "20%"
exclusive = false
"#;
        let s = Scenario::from_source(Path::new("perf.toml"), src.into())
            .unwrap_or_else(|e| panic!("{e}"));
        let p = s.checks[0].perf.as_ref().expect("perf");
        assert_eq!(p, &PerfSpec::default());
        assert_eq!(p.warmup, Duration::from_secs(1));
        assert_eq!(p.duration, Duration::from_secs(5));
        assert_eq!((p.concurrency, p.min_samples, p.exclusive), (4, 1000, true));
        assert_eq!(s.checks[0].timeout, Duration::from_secs(66));
        let q = s.checks[1].perf.as_ref().expect("perf");
        assert_eq!(
            (q.concurrency, q.tolerance_pct, q.exclusive),
            (8, 20.0, false)
        );
        assert_eq!((p.precision_pct, q.precision_pct), (2.0, 2.0));
    }

    #[test]
    fn precision_from_defaults_and_checks() {
        let src = r#"
kind = "perf"
[defaults]
precision = "5%"
[[check]]
name = "a"
service = "redis"
redis = ["PING"]
[[check]]
name = "b"
service = "redis"
redis = ["PING"]
precision = 0.5
"#;
        let s = Scenario::from_source(Path::new("perf.toml"), src.into())
            .unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<f64> = s
            .checks
            .iter()
            .map(|c| c.perf.as_ref().expect("perf").precision_pct)
            .collect();
        assert_eq!(got, [5.0, 0.5]);
        let d = errors(&src.replace("precision = 0.5", "precision = \"150%\""));
        assert!(
            d.iter()
                .any(|d| d.key == "check[1].precision" && d.message.contains("between 0% and 100%")),
            "{d:?}"
        );
    }

    fn errors(src: &str) -> Vec<Diagnostic> {
        match Scenario::from_source(Path::new("s.toml"), src.into()) {
            Ok(_) => panic!("expected errors"),
            Err(d) => d.0,
        }
    }

    #[test]
    fn foreign_keys_and_double_actions_are_refused() {
        let d = errors(
            "kind = \"regression\"\n[[check]]\nname = \"x\"\nservice = \"r\"\nredis = [\"PING\"]\ndatabase = \"d\"\n",
        );
        assert_eq!((d[0].line, d[0].key.as_str()), (6, "check[0].database"));
        let d = errors(
            "kind = \"regression\"\n[[check]]\nname = \"x\"\nservice = \"r\"\nredis = [\"PING\"]\nsql = \"SELECT 1\"\n",
        );
        assert_eq!((d[0].line, d[0].key.as_str()), (6, "check[0].sql"));
        let d = errors(
            "kind = \"regression\"\n[[check]]\nname = \"x\"\nservice = \"r\"\nredis = [\"PING\"]\nexpect = { rows = [] }\n",
        );
        assert_eq!(d[0].key, "check[0].expect.rows");
        assert!(
            d[0].message
                .contains("not an expectation of a `redis` check"),
            "{}",
            d[0]
        );
    }
}
