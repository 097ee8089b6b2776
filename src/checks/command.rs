//! `command` checks: the team's own test suite, run on this machine against the cell. The
//! program gets the cell in its environment (`DOCKER_HOST` → the cell's engine, TLS
//! variables for a TLS endpoint, `DOCKMATRIX_RUN`, `DOCKMATRIX_CELL`,
//! `DOCKMATRIX_AXIS_<NAME>`, `DOCKMATRIX_<SERVICE>_HOST/_PORT/_URL`), runs in its own
//! process group (a timeout kills the whole group, test runners' children too), and its
//! output is kept masked and capped. A JUnit file it writes becomes checks of the cell.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use super::{Outcome, Target};
use crate::engine::EngineAddress;
use crate::matrix::ServiceKind;
use crate::results::CheckStatus;
use crate::scenario::CommandAction;

/// Output kept per command: its tail (test runners can be chatty).
const OUTPUT_CAP: usize = 256 << 10;
/// Lines of output quoted in a failure message.
const TAIL_LINES: usize = 20;

/// One JUnit test case, as a check of the cell.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Case {
    pub name: String,
    pub status: CheckStatus,
    pub message: String,
    pub duration_ms: u64,
}

/// What a command check found: its verdict, its JUnit cases, and its (masked) output.
#[derive(Debug)]
pub(crate) struct Ran {
    pub outcome: Outcome,
    pub cases: Vec<Case>,
}

/// `NAME` upper-cased, every character but letters and digits as `_`.
pub(crate) fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The cell in a program's environment.
pub(crate) fn cell_env(target: &Target) -> Vec<(String, String)> {
    let mut env = vec![
        ("DOCKER_HOST".to_string(), target.engine.docker_host()),
        ("DOCKMATRIX_RUN".to_string(), target.run_id.clone()),
        ("DOCKMATRIX_CELL".to_string(), target.cell.id.clone()),
    ];
    for (axis, value) in &target.cell.values {
        env.push((format!("DOCKMATRIX_AXIS_{}", env_name(axis)), value.clone()));
    }
    for (name, s) in &target.services {
        let Some(addr) = s.addr(None).or_else(|| s.ports.values().next().copied()) else {
            continue;
        };
        let prefix = format!("DOCKMATRIX_{}", env_name(name));
        let (host, port) = (addr.ip().to_string(), addr.port().to_string());
        let get = |k: &str| s.env.get(k).cloned();
        let url = match s.kind {
            ServiceKind::Postgres => {
                let user = get("POSTGRES_USER").unwrap_or_else(|| "postgres".into());
                let password = get("POSTGRES_PASSWORD").unwrap_or_default();
                let db = get("POSTGRES_DB").unwrap_or_else(|| user.clone());
                Some(format!("postgres://{user}:{password}@{addr}/{db}"))
            }
            ServiceKind::Mysql => {
                let password = get("MYSQL_ROOT_PASSWORD")
                    .or_else(|| get("MARIADB_ROOT_PASSWORD"))
                    .unwrap_or_default();
                let db = get("MYSQL_DATABASE")
                    .or_else(|| get("MARIADB_DATABASE"))
                    .unwrap_or_default();
                Some(format!("mysql://root:{password}@{addr}/{db}"))
            }
            ServiceKind::Redis => Some(match get("REDIS_PASSWORD") {
                Some(p) => format!("redis://:{p}@{addr}"),
                None => format!("redis://{addr}"),
            }),
            ServiceKind::Http => Some(format!("http://{addr}")),
            ServiceKind::Generic => None,
        };
        env.push((format!("{prefix}_HOST"), host));
        env.push((format!("{prefix}_PORT"), port));
        if let Some(url) = url {
            env.push((format!("{prefix}_URL"), url));
        }
    }
    env
}

/// Kills the process group when dropped: a cancelled cell or an outer timeout never
/// leaves the team's tests running.
struct GroupGuard(Option<i32>);

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // kill(1) with a negative pid signals the whole group we created (the crate
            // forbids unsafe code, so no libc::kill).
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) async fn run(a: &CommandAction, target: &Target, timeout: Duration) -> Ran {
    let error = |m: String| Ran {
        outcome: Outcome::Error(m),
        cases: Vec::new(),
    };
    if !a.images.is_empty()
        && let Err(e) = load_images(target, &a.images).await
    {
        return error(e);
    }
    let program = a.argv.first().cloned().unwrap_or_default();
    let mut env = cell_env(target);
    let certs = match &target.engine {
        EngineAddress::Tcp {
            tls: Some(files), ..
        } => match CertDir::new(files) {
            Ok(d) => {
                env.push(("DOCKER_TLS_VERIFY".into(), "1".into()));
                env.push(("DOCKER_CERT_PATH".into(), d.0.display().to_string()));
                Some(d)
            }
            Err(e) => return error(format!("cannot prepare DOCKER_CERT_PATH: {e}")),
        },
        _ => None,
    };
    env.extend(a.env.iter().cloned());

    let started = Instant::now();
    // `{cell}` in arguments and the junit path: cells run at once, each its own report.
    let cell = |s: &str| s.replace("{cell}", &target.cell.id);
    // A relative path to a program is the scenario's (relative to `dir`), as written.
    let exe = if program.contains('/') && Path::new(&program).is_relative() {
        // Absolute: a relative program path would be resolved against the new cwd.
        std::path::absolute(a.dir.join(&program)).unwrap_or_else(|_| a.dir.join(&program))
    } else {
        PathBuf::from(&program)
    };
    let mut cmd = tokio::process::Command::new(&exe);
    cmd.args(a.argv[1..].iter().map(|x| cell(x)))
        .current_dir(&a.dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // The report is the command's output: one left by an earlier run must not pass for
    // this run's (file timestamps are too coarse to tell them apart).
    let junit = a
        .junit
        .as_ref()
        .map(|j| a.dir.join(cell(&j.to_string_lossy())));
    if let Some(j) = junit.as_ref().filter(|j| j.is_file()) {
        let _ = std::fs::remove_file(j);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !a.dir.is_dir() => {
            return error(format!(
                "cannot run `{program}`: its folder {} does not exist",
                a.dir.display()
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return error(format!(
                "cannot run `{program}`: no such program (not on PATH, nor in {})",
                a.dir.display()
            ));
        }
        Err(e) => return error(format!("cannot run `{program}`: {e}")),
    };
    let mut guard = GroupGuard(child.id().and_then(|id| i32::try_from(id).ok()));
    let output = Arc::new(Mutex::new(Vec::<u8>::new()));
    let readers = [
        child
            .stdout
            .take()
            .map(|s| tokio::spawn(collect(s, output.clone()))),
        child
            .stderr
            .take()
            .map(|s| tokio::spawn(collect(s, output.clone()))),
    ];
    let waited = tokio::time::timeout(timeout, child.wait()).await;
    if waited.is_err() {
        guard.kill();
        let _ = child.wait().await;
    }
    for r in readers.into_iter().flatten() {
        // A grandchild that escaped the group may hold the pipes: do not wait forever.
        let _ = tokio::time::timeout(Duration::from_secs(2), r).await;
    }
    drop(certs);
    let text = output
        .lock()
        .map(|o| String::from_utf8_lossy(&o).into_owned())
        .unwrap_or_default();
    let text = mask(target, a, &text);
    let shown = crate::checks::show_argv(&a.argv, 120);
    let tail = tail(&text);
    let outcome = match waited {
        Err(_) => Outcome::Fail(format!(
            "`{shown}` did not finish within {}s: its process group was killed; output ends:\n{tail}",
            timeout.as_secs()
        )),
        Ok(Err(e)) => Outcome::Error(format!("`{shown}`: waiting for it failed: {e}")),
        Ok(Ok(status)) => {
            let code = status.code().map_or(-1, i64::from);
            if code != a.expect.exit_code {
                Outcome::Fail(format!(
                    "`{shown}` exited with {}, expected {}; output ends:\n{tail}",
                    status
                        .code()
                        .map_or_else(|| status.to_string(), |c| c.to_string()),
                    a.expect.exit_code
                ))
            } else if let Some(re) = a.expect.output.as_ref().filter(|re| !re.is_match(&text)) {
                Outcome::Fail(format!(
                    "`{shown}` exited with {code}, but its output does not match /{re}/; output ends:\n{tail}"
                ))
            } else {
                Outcome::Pass(format!(
                    "`{shown}` exited with {code} in {:.1}s",
                    started.elapsed().as_secs_f64()
                ))
            }
        }
    };
    let (outcome, cases) = match &junit {
        None => (outcome, Vec::new()),
        Some(j) => match junit_cases(j) {
            Ok(cases) => (outcome, cases),
            // The suite's own verdict is kept in the message; the check cannot be judged.
            Err(e) => (
                Outcome::Error(format!("{e} ({})", outcome_text(&outcome))),
                Vec::new(),
            ),
        },
    };
    Ran { outcome, cases }
}

fn outcome_text(o: &Outcome) -> String {
    let m = match o {
        Outcome::Pass(m) | Outcome::Fail(m) | Outcome::Error(m) => m,
    };
    m.lines().next().unwrap_or_default().to_string()
}

async fn collect<R: tokio::io::AsyncRead + Unpin>(mut r: R, out: Arc<Mutex<Vec<u8>>>) {
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Ok(mut o) = out.lock() {
                    o.extend_from_slice(&buf[..n]);
                    if o.len() > OUTPUT_CAP {
                        let cut = o.len() - OUTPUT_CAP;
                        o.drain(..cut);
                    }
                }
            }
        }
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(TAIL_LINES);
    lines[from..].join("\n")
}

/// Secrets of the stack, of the check's own env and of the services' URLs.
fn mask(target: &Target, a: &CommandAction, text: &str) -> String {
    let secrets: Vec<&str> = target
        .services
        .values()
        .flat_map(|s| s.env.iter())
        .chain(a.env.iter().map(|(k, v)| (k, v)))
        .filter(|(k, _)| crate::secrets::is_secret_key(k))
        .map(|(_, v)| v.as_str())
        .collect();
    crate::secrets::mask_text(&crate::secrets::redact_values(text, secrets)).into_owned()
}

/// Copies of an endpoint's TLS files under the names the docker CLI and the SDKs look
/// for in DOCKER_CERT_PATH; removed when dropped.
struct CertDir(PathBuf);

impl CertDir {
    fn new(files: &crate::matrix::TlsFiles) -> std::io::Result<CertDir> {
        let dir = std::env::temp_dir().join(format!(
            "dockmatrix-certs-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir(&dir)?;
        let d = CertDir(dir);
        for (from, to) in [
            (&files.ca, "ca.pem"),
            (&files.cert, "cert.pem"),
            (&files.key, "key.pem"),
        ] {
            std::fs::copy(from, d.0.join(to))?;
        }
        Ok(d)
    }
}

impl Drop for CertDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Loads `images` from the host engine into the cell's engine (nothing to do when it is
/// the host engine: they are there).
async fn load_images(target: &Target, images: &[String]) -> Result<(), String> {
    let host = crate::engine::connect_host()
        .await
        .map_err(|e| format!("cannot reach the host engine to load images: {e}"))?;
    let loaded = crate::engine::images::preload(
        &host,
        &target.docker,
        false,
        images,
        crate::matrix::PullPolicy::Never,
        None,
        None, // a check's step holds the gate's read side
    )
    .await;
    let missing: Vec<String> = loaded.into_values().filter_map(|r| r.err()).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "images for the command could not be loaded: {}",
            missing.join("; ")
        ))
    }
}

/// The test cases of the JUnit XML file the command wrote.
fn junit_cases(path: &Path) -> Result<Vec<Case>, String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("junit file {} was not written: {e}", path.display()))?;
    if !meta.is_file() || meta.len() > 64 << 20 {
        return Err(format!(
            "junit file {} is not a regular file of at most 64 MiB",
            path.display()
        ));
    }
    let text = crate::safe_io::read_user_text(path, 64 << 20)
        .map_err(|e| format!("cannot read junit file {}: {}", path.display(), e.reason()))?;
    parse_junit(&text).map_err(|e| format!("junit file {} is not JUnit XML: {e}", path.display()))
}

pub(crate) fn parse_junit(text: &str) -> Result<Vec<Case>, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| e.to_string())?;
    let root = doc.root_element();
    if !matches!(root.tag_name().name(), "testsuites" | "testsuite") {
        return Err(format!(
            "its root element is <{}>, not <testsuites> or <testsuite>",
            root.tag_name().name()
        ));
    }
    let mut cases = Vec::new();
    for tc in root.descendants().filter(|n| n.has_tag_name("testcase")) {
        let name = tc.attribute("name").unwrap_or("(unnamed)");
        let name = match tc.attribute("classname").filter(|c| !c.is_empty()) {
            Some(class) => format!("{class}.{name}"),
            None => name.to_string(),
        };
        let duration_ms = tc
            .attribute("time")
            .and_then(|t| t.parse::<f64>().ok())
            .map_or(0, |s| (s * 1000.0).round() as u64);
        let child = |tag: &str| tc.children().find(|n| n.has_tag_name(tag));
        let text_of = |n: roxmltree::Node<'_, '_>| {
            let msg = n
                .attribute("message")
                .unwrap_or_default()
                .trim()
                .to_string();
            let body = n.text().unwrap_or_default().trim();
            let first = body.lines().next().unwrap_or_default();
            match (msg.is_empty(), first.is_empty()) {
                (false, _) => msg,
                (true, false) => first.to_string(),
                (true, true) => String::new(),
            }
        };
        let (status, message) = if let Some(f) = child("failure") {
            (CheckStatus::Fail, text_of(f))
        } else if let Some(e) = child("error") {
            (CheckStatus::Error, text_of(e))
        } else if let Some(s) = child("skipped") {
            (CheckStatus::Skipped, text_of(s))
        } else {
            (CheckStatus::Pass, String::new())
        };
        cases.push(Case {
            name,
            status,
            message,
            duration_ms,
        });
    }
    if cases.is_empty() {
        return Err("it holds no <testcase>".into());
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_cases_become_checks_and_garbage_is_refused() {
        let xml = r#"<?xml version="1.0"?>
<testsuites><testsuite name="t" tests="3">
  <testcase classname="test_stack" name="test_redis" time="0.25"/>
  <testcase classname="test_stack" name="test_pg" time="1"><failure message="assert 1 == 2">trace</failure></testcase>
  <testcase name="later"><skipped message="not today"/></testcase>
</testsuite></testsuites>"#;
        let cases = parse_junit(xml).expect("JUnit");
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[0].name, "test_stack.test_redis");
        assert_eq!(
            (cases[0].status, cases[0].duration_ms),
            (CheckStatus::Pass, 250)
        );
        assert_eq!(
            (cases[1].status, cases[1].message.as_str()),
            (CheckStatus::Fail, "assert 1 == 2")
        );
        assert_eq!(cases[2].status, CheckStatus::Skipped);
        assert!(parse_junit("not xml at all").is_err());
        let e = parse_junit("<html><body/></html>").expect_err("not JUnit");
        assert!(e.contains("<html>"), "{e}");
    }

    #[test]
    fn env_names_are_upper_cased_with_underscores() {
        assert_eq!(env_name("storage-driver"), "STORAGE_DRIVER");
        assert_eq!(env_name("my.app"), "MY_APP");
    }
}
