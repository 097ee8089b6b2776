//! What a recorded cell says of its engine: the special axes (the one list, in
//! `matrix::axes`) read from a record, else what its engine measured, so that the reports
//! read them from `results` without knowing the matrix (DESIGN.md: report reads only
//! results).

use super::CellRecord;
use crate::matrix::axes;

/// The special axes' names as the reports spell them: the one list is `matrix::axes`,
/// which the reports do not import.
pub mod special {
    pub use crate::matrix::axes::{DAEMON_CONFIG, ENGINE, IMAGE_STORE, STORAGE_DRIVER, UPGRADE};
}

impl CellRecord {
    /// The engine the cell ran on: its `engine` value, else the version its engine
    /// reported (empty when it has neither).
    pub fn engine_version(&self) -> String {
        self.values
            .get(axes::ENGINE)
            .cloned()
            .or_else(|| self.engine.as_ref().map(|e| e.server_version.clone()))
            .unwrap_or_default()
    }

    /// The storage driver the cell ran on: its `storage-driver` value, else the one its
    /// engine reported (empty when it has neither).
    pub fn storage_driver(&self) -> String {
        self.values
            .get(axes::STORAGE_DRIVER)
            .cloned()
            .or_else(|| self.engine.as_ref().map(|e| e.storage_driver.clone()))
            .unwrap_or_default()
    }

    /// The cell's values but its engine and storage driver, in axis order.
    pub fn values_but_engine(&self) -> impl Iterator<Item = (&String, &String)> {
        self.values
            .iter()
            .filter(|(k, _)| *k != axes::ENGINE && *k != axes::STORAGE_DRIVER)
    }
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;

    use crate::results::{CellRecord, EngineFacts};

    fn cell(values: &[(&str, &str)], engine: Option<EngineFacts>) -> CellRecord {
        let values: IndexMap<String, String> = values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut c: CellRecord = serde_json::from_value(serde_json::json!({
            "id": "c", "values": values, "status": "pass", "attempts": 1
        }))
        .expect("a minimal cell record");
        c.engine = engine;
        c
    }

    #[test]
    fn engine_and_driver_come_from_the_values_else_from_what_was_measured() {
        let c = cell(
            &[
                ("engine", "28.5.2"),
                ("postgres", "17"),
                ("storage-driver", "vfs"),
            ],
            None,
        );
        assert_eq!(c.engine_version(), "28.5.2");
        assert_eq!(c.storage_driver(), "vfs");
        let rest: Vec<_> = c.values_but_engine().collect();
        assert_eq!(rest, vec![(&"postgres".to_string(), &"17".to_string())]);

        let measured = EngineFacts {
            server_version: "20.10.24".into(),
            storage_driver: "overlay2".into(),
            ..EngineFacts::default()
        };
        let host = cell(&[("redis", "7.0")], Some(measured));
        assert_eq!(host.engine_version(), "20.10.24");
        assert_eq!(host.storage_driver(), "overlay2");
        assert_eq!(cell(&[], None).engine_version(), "");
    }
}
