//! Property tests (issue 13): the matrix and scenario parsers and the run.json reader
//! never panic on any input, and every error they give names a line (a matrix or
//! scenario diagnostic its line; a run record `line N` or `:N:`). Inputs are built from
//! fragments of real files mixed with noise, so that most cases get past the lexer and
//! reach validation. Case counts are bounded (256 each) to keep CI fast.

use std::path::Path;

use dockmatrix::matrix::Matrix;
use dockmatrix::results::RunRecord;
use dockmatrix::scenario::Scenario;
use proptest::prelude::*;

fn matrix_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("name = \"p\"".to_string()),
        Just("[axes]".to_string()),
        Just("redis = [\"7.0\", \"8.0\"]".to_string()),
        Just("redis = [\"7.0\", \"7.0\"]".to_string()),
        Just("engine = [\"28.5.2\"]".to_string()),
        Just("storage-driver = [\"vfs\", 7.0]".to_string()),
        Just("x = [1, 2]".to_string()),
        Just("[[include]]".to_string()),
        Just("[[exclude]]".to_string()),
        Just("redis = \"9.9\"".to_string()),
        Just("[services.redis]".to_string()),
        Just("kind = \"redis\"".to_string()),
        Just("image = \"dockmatrix/redis:{version}\"".to_string()),
        Just("env = { REDIS_PASSWORD = \"s3cret-pw\", URL = \"redis://:pw/x@h\" }".to_string()),
        Just("ports = [6379, 70000]".to_string()),
        Just("[engines.\"28.5.2\"]".to_string()),
        Just("kind = \"dind\"".to_string()),
        Just("[run]".to_string()),
        Just("cell-timeout = \"10x\"".to_string()),
        Just("[[known]]".to_string()),
        Just("filter = \"redis<<7\"".to_string()),
        Just("scenarios = [\"missing.toml\"]".to_string()),
        Just("a.b.c = 1".to_string()),
        Just("[axes]\nq = []".to_string()),
        "[\\[\\]{}=\",a-z0-9 .'#\\n-]{0,30}",
        "\\PC{0,12}",
    ]
}

fn scenario_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("kind = \"regression\"".to_string()),
        Just("kind = \"perf\"".to_string()),
        Just("[defaults]".to_string()),
        Just("timeout = \"1s\"".to_string()),
        Just("[[check]]".to_string()),
        Just("name = \"c\"".to_string()),
        Just("service = \"redis\"".to_string()),
        Just("redis = [\"PING\"]".to_string()),
        Just("sql = \"SELECT 1\"".to_string()),
        Just("expect = { reply = \"PONG\" }".to_string()),
        Just("expect = { rows = [[\"1\"]], status = 200 }".to_string()),
        Just("when = { redis = \">=7,<<8\" }".to_string()),
        Just("http = { method = \"GET\", path = \"/\" }".to_string()),
        Just("exec = []".to_string()),
        Just("phase = \"later\"".to_string()),
        "[\\[\\]{}=\",a-z0-9 .'#\\n-]{0,30}",
        "\\PC{0,12}",
    ]
}

fn document(fragment: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop::collection::vec(fragment, 0..14).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn matrix_errors_always_name_a_line(source in document(matrix_fragment())) {
        if let Err(d) = Matrix::from_source(Path::new("p.toml"), source.clone()) {
            for one in &d.0 {
                prop_assert!(one.line >= 1, "no line in {one} for {source:?}");
                prop_assert!(!one.to_string().contains("s3cret-pw"), "{one}");
            }
        }
    }

    #[test]
    fn scenario_errors_always_name_a_line(source in document(scenario_fragment())) {
        if let Err(d) = Scenario::from_source(Path::new("s.toml"), source.clone()) {
            for one in &d.0 {
                prop_assert!(one.line >= 1, "no line in {one} for {source:?}");
            }
        }
    }

    /// A valid record cut, spliced and sprinkled with noise: read or refused naming a
    /// line, never a panic.
    #[test]
    fn run_records_are_read_or_refused_with_a_line(
        cut in 0usize..4000,
        noise in "[\\[\\]{}:,\"a-z0-9 \\n-]{0,8}",
        at in 0usize..4000,
    ) {
        let good = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/run-mixed/run.json"),
        )
        .expect("read");
        let mut text: String = good.chars().take(at.min(good.len())).collect();
        text.push_str(&noise);
        text.extend(good.chars().skip(cut.min(good.len())));
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("run.json"), &text).expect("written");
        if let Err(e) = RunRecord::load(dir.path()) {
            let mut shown = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                shown.push_str(&format!(": {s}"));
                src = s.source();
            }
            let has_line = shown.contains("line ")
                || shown.split(':').any(|p| p.trim().parse::<usize>().is_ok_and(|n| n > 0));
            prop_assert!(has_line, "no line in {shown}");
        }
    }
}
