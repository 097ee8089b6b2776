//! Fitting into CI: `--partition auto` for each CI system's variables selects exactly the
//! cells of the explicit partition; the fan-out examples of docs/reports.md parse as YAML
//! and carry the keys that make them work (a failing shard still uploads, shards do not
//! cancel each other, the merge runs anyway); `run` appends its summary to
//! `$GITHUB_STEP_SUMMARY`.

use serde_yaml_ng::Value;

use crate::common::*;

/// Cell ids of `plan --format json` with `partition` and the environment `env`.
fn planned(matrix: &str, partition: &str, env: &[(&str, &str)]) -> (Vec<String>, String) {
    let o = dockmatrix_env(
        &["plan", matrix, "--partition", partition, "--format", "json"],
        env,
    );
    assert_eq!(o.status.code(), Some(0), "{env:?}: {}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("plan JSON");
    let ids = json["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect();
    (ids, stderr(&o))
}

#[test]
fn partition_auto_equals_the_explicit_partition_for_each_ci_system() {
    let matrix = root().join("matrices/demo.toml");
    let matrix = matrix.to_str().expect("utf-8");
    let (all, _) = planned(matrix, "auto", &[]);
    assert!(all.len() > 3, "the demo matrix has cells: {all:?}");
    let n = 3u32;
    for m in 1..=n {
        let (explicit, _) = planned(matrix, &format!("hash:{m}/{n}"), &[]);
        let (i0, i1) = ((m - 1).to_string(), m.to_string());
        let total = n.to_string();
        let systems: [&[(&str, &str)]; 5] = [
            &[("CI_NODE_INDEX", &i1), ("CI_NODE_TOTAL", &total)],
            &[("CIRCLE_NODE_INDEX", &i0), ("CIRCLE_NODE_TOTAL", &total)],
            &[
                ("BUILDKITE_PARALLEL_JOB", &i0),
                ("BUILDKITE_PARALLEL_JOB_COUNT", &total),
            ],
            &[("JOB_COMPLETION_INDEX", &i0), ("DOCKMATRIX_SHARDS", &total)],
            &[("DOCKMATRIX_SHARD", &format!("{m}/{n}"))],
        ];
        for env in systems {
            let (auto, said) = planned(matrix, "auto", env);
            assert_eq!(auto, explicit, "{env:?}");
            assert!(
                said.contains(&format!("--partition auto: hash:{m}/{n}, from"))
                    && said.contains(env[0].0),
                "{env:?}: {said}"
            );
        }
    }
    // No variables: the whole matrix, saying so.
    let (whole, said) = planned(matrix, "auto", &[("CI_NODE_TOTAL", "1")]);
    assert_eq!(whole, all);
    assert!(said.contains("the whole matrix"), "{said}");

    // Out of range, or two systems disagreeing: exit 2 naming the variables.
    for (env, names) in [
        (
            vec![("CI_NODE_INDEX", "0"), ("CI_NODE_TOTAL", "3")],
            vec!["CI_NODE_INDEX=0", "CI_NODE_TOTAL=3"],
        ),
        (
            vec![("JOB_COMPLETION_INDEX", "3"), ("DOCKMATRIX_SHARDS", "3")],
            vec!["JOB_COMPLETION_INDEX=3", "DOCKMATRIX_SHARDS=3"],
        ),
        (
            vec![
                ("CI_NODE_INDEX", "1"),
                ("CI_NODE_TOTAL", "3"),
                ("DOCKMATRIX_SHARD", "2/3"),
            ],
            vec!["CI_NODE_INDEX=1", "DOCKMATRIX_SHARD=2/3"],
        ),
    ] {
        let o = dockmatrix_env(&["plan", matrix, "--partition", "auto"], &env);
        assert_eq!(o.status.code(), Some(2), "{env:?}: {}", stderr(&o));
        for name in names {
            assert!(stderr(&o).contains(name), "{env:?}: {}", stderr(&o));
        }
    }
}

/// The YAML block that follows `<!-- ci-example: NAME -->` in docs/reports.md.
fn example(name: &str) -> Value {
    let docs = std::fs::read_to_string(root().join("docs/reports.md")).expect("docs");
    let marker = format!("<!-- ci-example: {name} -->");
    let at = docs
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} in docs/reports.md"));
    let rest = &docs[at + marker.len()..];
    let start = rest.find("```yaml\n").expect("a yaml block follows") + "```yaml\n".len();
    let end = rest[start..].find("\n```").expect("the block ends") + start;
    serde_yaml_ng::from_str(&rest[start..end])
        .unwrap_or_else(|e| panic!("the {name} example is not YAML: {e}"))
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| &v[*k])
}

fn text(v: &Value) -> String {
    serde_yaml_ng::to_string(v).expect("yaml")
}

#[test]
fn fan_out_examples_in_the_docs_have_the_keys_that_matter() {
    // GitHub Actions: shards do not cancel each other, each installs the tool and builds
    // the images, a failing shard still uploads, the merge job runs anyway.
    let gh = example("github");
    let shard = s(&gh, &["jobs", "matrix"]);
    assert_eq!(s(shard, &["strategy", "fail-fast"]), &Value::Bool(false));
    let steps = shard["steps"].as_sequence().expect("steps");
    let runs: Vec<String> = steps
        .iter()
        .filter_map(|st| st["run"].as_str().map(str::to_string))
        .collect();
    assert!(runs.iter().any(|r| r.contains("cargo install")), "{runs:?}");
    assert!(
        runs.iter().any(|r| r.contains("scripts/setup.sh")),
        "{runs:?}"
    );
    assert!(
        runs.iter()
            .any(|r| r.contains("dockmatrix run") && r.contains("--partition")),
        "{runs:?}"
    );
    let uploads: Vec<&Value> = steps
        .iter()
        .filter(|st| {
            st["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact"))
        })
        .collect();
    assert!(!uploads.is_empty());
    for up in &uploads {
        assert_eq!(up["if"].as_str(), Some("always()"), "{}", text(up));
    }
    let report = s(&gh, &["jobs", "report"]);
    assert_eq!(report["needs"].as_str(), Some("matrix"));
    assert_eq!(report["if"].as_str(), Some("always()"));
    assert!(text(report).contains("dockmatrix merge"));

    // GitLab CI: parallel shards with --partition auto, artifacts kept on failure, the
    // merge job waits for them and runs anyway.
    let gl = example("gitlab");
    let job = &gl["matrix"];
    let parallel = job["parallel"].as_u64().expect("parallel: N");
    assert!(parallel > 1);
    assert!(text(&job["script"]).contains("--partition auto"));
    assert_eq!(s(job, &["artifacts", "when"]).as_str(), Some("always"));
    let merge = &gl["report"];
    assert_eq!(merge["when"].as_str(), Some("always"));
    assert_eq!(s(&merge["needs"][0], &["job"]).as_str(), Some("matrix"));
    assert!(text(&merge["script"]).contains("dockmatrix merge"));

    // A Kubernetes Indexed Job: DOCKMATRIX_SHARDS equals completions, --partition auto.
    let k8s = example("kubernetes");
    assert_eq!(k8s["kind"].as_str(), Some("Job"));
    let spec = &k8s["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let completions = spec["completions"].as_u64().expect("completions");
    let pod = s(spec, &["template", "spec"]);
    assert_eq!(pod["hostNetwork"].as_bool(), Some(true));
    let container = &pod["containers"][0];
    let shards = container["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .find(|e| e["name"].as_str() == Some("DOCKMATRIX_SHARDS"))
        .and_then(|e| e["value"].as_str())
        .expect("DOCKMATRIX_SHARDS");
    assert_eq!(shards, completions.to_string());
    assert!(text(&container["command"]).contains("--partition auto"));
    assert!(
        text(&pod["volumes"]).contains("/var/run/docker.sock"),
        "the node's engine socket is mounted"
    );
}

#[test]
fn run_appends_its_summary_to_github_step_summary() {
    const REDIS: &str = "dockmatrix/redis:7.0";
    if !docker_available("step_summary") || !images_available("step_summary", &[REDIS]) {
        return;
    }
    let (_d, matrix) = matrix_file(
        r#"
name = "step-summary"
[axes]
redis = ["7.0"]

[services.redis]
kind = "redis"
image = "dockmatrix/redis:{version}"
ports = [6379]
"#,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = dir.path().join("step_summary.md");
    std::fs::write(&summary, "## an earlier step\n").expect("write");
    let run_dir = dir.path().join("run");
    let home = dir.path().to_str().expect("utf-8");
    let o = dockmatrix_env(
        &[
            "run",
            matrix.to_str().expect("utf-8"),
            "--out",
            run_dir.to_str().expect("utf-8"),
        ],
        &[
            ("HOME", home),
            ("GITHUB_STEP_SUMMARY", summary.to_str().expect("utf-8")),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&summary).expect("summary");
    assert!(
        text.starts_with("## an earlier step\n"),
        "appended, not replaced"
    );
    assert!(text.contains("## dockmatrix: step-summary"), "{text}");
    let report = std::fs::read_to_string(run_dir.join("report.md")).expect("report.md");
    assert!(
        text.ends_with(&report),
        "the whole report, as report.md:\n{text}"
    );
    let run = run_json(&run_dir);
    assert!(labelled_objects(run["run_id"].as_str().expect("id")).is_empty());
}

#[test]
fn the_github_action_installs_runs_a_shard_and_uploads_always() {
    let source = std::fs::read_to_string(root().join("action.yml")).expect("action.yml");
    let action: Value = serde_yaml_ng::from_str(&source).expect("action.yml is YAML");
    assert_eq!(s(&action, &["runs", "using"]).as_str(), Some("composite"));
    assert!(s(&action, &["inputs", "matrix", "required"]).as_bool() == Some(true));
    let steps = s(&action, &["runs", "steps"]).as_sequence().expect("steps");
    let run_of = |needle: &str| {
        steps
            .iter()
            .find(|st| st["run"].as_str().is_some_and(|r| r.contains(needle)))
            .unwrap_or_else(|| panic!("no step running {needle}"))
    };
    run_of("cargo install --locked --path");
    run_of("scripts/setup.sh");
    let shard = run_of("dockmatrix run");
    assert!(text(shard).contains("--partition auto"));
    assert_eq!(
        s(shard, &["env", "DOCKMATRIX_SHARD"]).as_str(),
        Some("${{ inputs.shard }}")
    );
    let upload = steps
        .iter()
        .find(|st| {
            st["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact"))
        })
        .expect("an upload step");
    assert_eq!(upload["if"].as_str(), Some("always()"));
    // Every step a composite action runs with `run` needs its shell.
    for st in steps.iter().filter(|st| st["run"].is_string()) {
        assert_eq!(st["shell"].as_str(), Some("bash"), "{}", text(st));
    }
}
