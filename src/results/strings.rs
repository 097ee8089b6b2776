//! Every string of a run record, listed in one place: what the reports clean before they
//! render and what run.json masks before it is written. A string field added to the model
//! must be added here; the test below fills every string of a fully populated record with
//! a secret and fails while one is left out.

use indexmap::IndexMap;

use super::{CellRecord, EngineFacts, RunRecord};

impl RunRecord {
    /// Whether `ok` holds for every string outside the cells (the cells are
    /// [`CellRecord::all_strings`]'s, so a caller may visit them in parallel).
    pub fn all_strings_outside_cells(&self, ok: &mut impl FnMut(&str) -> bool) -> bool {
        [
            &self.run_id,
            &self.matrix.name,
            &self.matrix.hash,
            &self.matrix.path,
            &self.started_at,
            &self.tool_version,
            &self.host.hostname,
            &self.host.os,
            &self.host.kernel,
            &self.options.pull,
        ]
        .into_iter()
        .all(|s| ok(s))
            && [
                &self.partition,
                &self.finished_at,
                &self.options.filter,
                &self.options.baseline,
                &self.options.only_failed,
            ]
            .into_iter()
            .all(|o| o.as_deref().is_none_or(&mut *ok))
            && self
                .axes
                .iter()
                .chain(&self.warnings)
                .chain(&self.merged_from)
                .all(|s| ok(s))
    }

    /// Applies `f` to every string outside the cells.
    pub fn edit_strings_outside_cells(&mut self, f: &mut impl FnMut(&mut String)) {
        for s in [
            &mut self.run_id,
            &mut self.matrix.name,
            &mut self.matrix.hash,
            &mut self.matrix.path,
            &mut self.started_at,
            &mut self.tool_version,
            &mut self.host.hostname,
            &mut self.host.os,
            &mut self.host.kernel,
            &mut self.options.pull,
        ] {
            f(s);
        }
        for o in [
            &mut self.partition,
            &mut self.finished_at,
            &mut self.options.filter,
            &mut self.options.baseline,
            &mut self.options.only_failed,
        ] {
            o.iter_mut().for_each(&mut *f);
        }
        self.axes
            .iter_mut()
            .chain(&mut self.warnings)
            .chain(&mut self.merged_from)
            .for_each(f);
    }

    /// Masks every secret the record holds (DESIGN.md: URL credentials and the values of
    /// `*PASSWORD*`/`*SECRET*`/`*TOKEN*`/`*KEY*` assignments), as every report does.
    pub fn mask_secrets(&mut self) {
        self.edit_strings_outside_cells(&mut mask);
        self.cells.iter_mut().for_each(CellRecord::mask_secrets);
    }

    /// Whether [`RunRecord::mask_secrets`] would change nothing.
    pub fn has_no_secrets(&self) -> bool {
        self.all_strings_outside_cells(&mut unmasked)
            && self.cells.iter().all(|c| c.all_strings(&mut unmasked))
    }
}

impl CellRecord {
    /// Whether `ok` holds for every string of the cell, map keys included.
    pub fn all_strings(&self, ok: &mut impl FnMut(&str) -> bool) -> bool {
        let mut opt = |o: &Option<String>| o.as_deref().is_none_or(&mut *ok);
        if !(opt(&self.reason) && opt(&self.failed_step) && opt(&self.kept)) {
            return false;
        }
        if !self.previous_attempts.iter().all(|a| opt(&a.reason)) {
            return false;
        }
        ok(&self.id)
            && self.values.iter().all(|(k, v)| ok(k) && ok(v))
            && self.engine.as_ref().is_none_or(|e| engine_ok(e, ok))
            && self.images.iter().all(|i| {
                ok(&i.service)
                    && ok(&i.reference)
                    && ok(&i.digest)
                    && i.labels.iter().all(|(k, v)| ok(k) && ok(v))
            })
            && self.services.iter().all(|s| {
                ok(&s.name)
                    && ok(&s.kind)
                    && ok(&s.image)
                    && s.log_tail.iter().chain(&s.lost_networks).all(|l| ok(l))
            })
            && self.checks.iter().all(|ch| {
                ok(&ch.suite)
                    && ok(&ch.name)
                    && ok(&ch.message)
                    && ch
                        .perf
                        .as_ref()
                        .and_then(|p| p.baseline.as_ref())
                        .is_none_or(|b| ok(&b.run_id))
            })
            && self
                .preflight
                .iter()
                .all(|f| ok(&f.engine) && ok(&f.check) && ok(&f.reason))
            && self.upgrade.as_ref().is_none_or(|u| {
                ok(&u.from)
                    && ok(&u.to)
                    && ok(&u.from_driver)
                    && ok(&u.to_driver)
                    && u.from_engine.as_ref().is_none_or(|e| engine_ok(e, ok))
                    && u.to_engine.as_ref().is_none_or(|e| engine_ok(e, ok))
                    && u.phases.iter().all(|p| {
                        p.reason.as_deref().is_none_or(&mut *ok) && p.findings.iter().all(|x| ok(x))
                    })
            })
            && self.compose.as_ref().is_none_or(|c| {
                c.files
                    .iter()
                    .chain(c.env_file.iter())
                    .all(|f| ok(&f.path) && ok(&f.sha256))
                    && c.images.iter().all(|(k, v)| ok(k) && ok(v))
            })
    }

    /// Applies `f` to every string of the cell, map keys included.
    pub fn edit_strings(&mut self, f: &mut impl FnMut(&mut String)) {
        f(&mut self.id);
        edit_map(&mut self.values, f);
        for o in [&mut self.reason, &mut self.failed_step, &mut self.kept] {
            o.iter_mut().for_each(&mut *f);
        }
        for a in &mut self.previous_attempts {
            a.reason.iter_mut().for_each(&mut *f);
        }
        if let Some(e) = &mut self.engine {
            edit_engine(e, f);
        }
        for img in &mut self.images {
            f(&mut img.service);
            f(&mut img.reference);
            f(&mut img.digest);
            if img
                .labels
                .iter()
                .any(|(k, v)| changes(k, f) || changes(v, f))
            {
                img.labels = std::mem::take(&mut img.labels)
                    .into_iter()
                    .map(|(mut k, mut v)| {
                        f(&mut k);
                        f(&mut v);
                        (k, v)
                    })
                    .collect();
            }
        }
        for svc in &mut self.services {
            f(&mut svc.name);
            f(&mut svc.kind);
            f(&mut svc.image);
            svc.log_tail.iter_mut().for_each(&mut *f);
            svc.lost_networks.iter_mut().for_each(&mut *f);
        }
        for ch in &mut self.checks {
            f(&mut ch.suite);
            f(&mut ch.name);
            f(&mut ch.message);
            if let Some(b) = ch.perf.as_mut().and_then(|p| p.baseline.as_mut()) {
                f(&mut b.run_id);
            }
        }
        for x in &mut self.preflight {
            f(&mut x.engine);
            f(&mut x.check);
            f(&mut x.reason);
        }
        if let Some(u) = &mut self.upgrade {
            f(&mut u.from);
            f(&mut u.to);
            f(&mut u.from_driver);
            f(&mut u.to_driver);
            for e in [&mut u.from_engine, &mut u.to_engine].into_iter().flatten() {
                edit_engine(e, f);
            }
            for p in &mut u.phases {
                p.reason.iter_mut().for_each(&mut *f);
                p.findings.iter_mut().for_each(&mut *f);
            }
        }
        if let Some(c) = &mut self.compose {
            for file in c.files.iter_mut().chain(c.env_file.iter_mut()) {
                f(&mut file.path);
                f(&mut file.sha256);
            }
            edit_map(&mut c.images, f);
        }
    }

    /// Masks every secret the cell holds (see [`RunRecord::mask_secrets`]).
    pub fn mask_secrets(&mut self) {
        self.edit_strings(&mut mask);
    }
}

fn mask(s: &mut String) {
    if let std::borrow::Cow::Owned(m) = crate::secrets::mask_text(s) {
        *s = m;
    }
}

fn unmasked(s: &str) -> bool {
    matches!(crate::secrets::mask_text(s), std::borrow::Cow::Borrowed(_))
}

/// Whether `f` would change `s` (on a copy).
fn changes(s: &str, f: &mut impl FnMut(&mut String)) -> bool {
    let mut c = s.to_string();
    f(&mut c);
    c != s
}

fn edit_map(map: &mut IndexMap<String, String>, f: &mut impl FnMut(&mut String)) {
    if map.keys().any(|k| changes(k, f)) {
        *map = std::mem::take(map)
            .into_iter()
            .map(|(mut k, v)| {
                f(&mut k);
                (k, v)
            })
            .collect();
    }
    map.values_mut().for_each(f);
}

fn engine_fields(e: &EngineFacts) -> impl Iterator<Item = &String> {
    [
        &e.name,
        &e.kind,
        &e.server_version,
        &e.api_version,
        &e.storage_driver,
        &e.containerd,
        &e.runc,
        &e.kernel,
        &e.cgroup_version,
        &e.os,
        &e.arch,
        &e.min_api_version,
        &e.image_store,
    ]
    .into_iter()
    .chain(e.env.iter().flat_map(|(k, v)| [k, v]))
}

fn engine_ok(e: &EngineFacts, ok: &mut impl FnMut(&str) -> bool) -> bool {
    engine_fields(e).all(|s| ok(s))
}

fn edit_engine(e: &mut EngineFacts, f: &mut impl FnMut(&mut String)) {
    for s in [
        &mut e.name,
        &mut e.kind,
        &mut e.server_version,
        &mut e.api_version,
        &mut e.storage_driver,
        &mut e.containerd,
        &mut e.runc,
        &mut e.kernel,
        &mut e.cgroup_version,
        &mut e.os,
        &mut e.arch,
        &mut e.min_api_version,
        &mut e.image_store,
    ] {
        f(s);
    }
    edit_map(&mut e.env, f);
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::*;

    const SECRET: &str = "hunter2-s3cret";

    /// A cell with every optional part present and every list non-empty.
    fn full_cell() -> CellRecord {
        let engine = EngineFacts {
            name: "e".into(),
            min_api_version: "1.44".into(),
            image_store: "containerd".into(),
            env: [("DOCKER_MIN_API_VERSION".to_string(), "1.44".to_string())]
                .into_iter()
                .collect(),
            ..EngineFacts::default()
        };
        CellRecord {
            id: "id".into(),
            values: [("engine".to_string(), "28.5".to_string())]
                .into_iter()
                .collect(),
            status: CellStatus::Fail,
            reason: Some("r".into()),
            failed_step: Some("checks".into()),
            attempts: 2,
            previous_attempts: vec![AttemptRecord {
                status: CellStatus::Fail,
                reason: Some("r".into()),
            }],
            durations_ms: StepDurations::default(),
            engine: Some(engine.clone()),
            images: vec![ImageRecord {
                service: "s".into(),
                reference: "r".into(),
                digest: "d".into(),
                labels: [("k".to_string(), "v".to_string())].into_iter().collect(),
            }],
            services: vec![ServiceRecord {
                name: "n".into(),
                log_tail: vec!["l".into()],
                lost_networks: vec!["n (removed)".into()],
                ..ServiceRecord::default()
            }],
            checks: vec![CheckRecord {
                suite: "s".into(),
                name: "n".into(),
                status: CheckStatus::Fail,
                duration_ms: 1,
                message: "m".into(),
                perf: Some(PerfStats {
                    baseline: Some(PerfDelta::default()),
                    ..PerfStats::default()
                }),
                phase: Some(UpgradePhase::Verify),
            }],
            kept: Some("k".into()),
            preflight: vec![Finding {
                engine: "e".into(),
                check: "kernel".into(),
                level: FindingLevel::Warn,
                reason: "r".into(),
            }],
            upgrade: Some(UpgradeRecord {
                from: "a".into(),
                to: "b".into(),
                from_driver: "overlay2".into(),
                to_driver: "vfs".into(),
                rollback: true,
                from_engine: Some(engine.clone()),
                to_engine: Some(engine),
                phases: vec![PhaseRecord {
                    name: UpgradePhase::Verify,
                    status: CellStatus::Fail,
                    duration_ms: 1,
                    reason: Some("r".into()),
                    findings: vec!["f".into()],
                }],
                data_kept: Some(false),
                containers_back: None,
                rollback_containers_back: None,
            }),
            compose: Some(crate::results::ComposeRecord {
                files: vec![crate::results::ComposeFileRecord {
                    path: "p".into(),
                    sha256: "s".into(),
                }],
                env_file: Some(crate::results::ComposeFileRecord::default()),
                images: [("db".to_string(), "i".to_string())].into_iter().collect(),
            }),
        }
    }

    /// An enum field, kept so the value still reads back: a status, a level, an upgrade
    /// phase (a check's `phase`, a phase record's `name`).
    fn is_enum(key: Option<&str>, s: &str) -> bool {
        match key {
            Some("status" | "level" | "phase") => true,
            Some("name") => serde_json::from_value::<UpgradePhase>(Value::from(s)).is_ok(),
            _ => false,
        }
    }

    /// Every string leaf and map key replaced by a secret-bearing text (enum fields kept,
    /// so the value still reads back).
    fn poison(v: &mut Value, key: Option<&str>) {
        match v {
            Value::String(s) if !is_enum(key, s) => {
                *s = format!("x API_TOKEN={SECRET} postgres://u:{SECRET}@h/db");
            }
            Value::Array(a) => a.iter_mut().for_each(|x| poison(x, key)),
            Value::Object(o) => {
                let entries: Vec<(String, Value)> = std::mem::take(o).into_iter().collect();
                let is_map = matches!(key, Some("values" | "labels" | "env"));
                for (i, (k, mut x)) in entries.into_iter().enumerate() {
                    poison(&mut x, Some(&k));
                    let k = if is_map {
                        format!("k{i} PASSWORD={SECRET}")
                    } else {
                        k
                    };
                    o.insert(k, x);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_string_is_masked() {
        let rec = RunRecord {
            schema: SCHEMA,
            run_id: "r".into(),
            matrix: MatrixInfo::default(),
            partition: Some("p".into()),
            started_at: "t".into(),
            finished_at: Some("t".into()),
            tool_version: "0".into(),
            host: HostFacts::default(),
            options: RunOptions {
                filter: Some("f".into()),
                baseline: Some("b".into()),
                only_failed: Some("o".into()),
                ..RunOptions::default()
            },
            axes: vec!["engine".into()],
            cells: vec![full_cell()],
            interrupted: false,
            warnings: vec!["w".into()],
            merged_from: vec!["m".into()],
        };
        let mut v = serde_json::to_value(&rec).expect("json");
        poison(&mut v, None);
        let mut poisoned: RunRecord = serde_json::from_value(v).expect("still a record");
        let text = serde_json::to_string(&poisoned).expect("json");
        // Every string really was poisoned, so the masking below is tested on all of them.
        let strings = text.matches(SECRET).count();
        assert!(strings > 60, "only {strings} strings poisoned");
        assert!(!poisoned.has_no_secrets());
        poisoned.mask_secrets();
        let masked = serde_json::to_string(&poisoned).expect("json");
        assert!(
            !masked.contains(SECRET),
            "a string escaped masking: {masked}"
        );
        assert!(poisoned.has_no_secrets());
        assert!(masked.contains("API_TOKEN=***") && masked.contains("postgres://u:***@h/db"));
    }
}
