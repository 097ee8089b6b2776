//! The interrupt soak's smoke test (issue 13, item 7): `benches/interrupt-soak.sh` with 3
//! SIGINTs and 1 SIGKILL (+ `clean` + `--resume`) at random moments of a real dind run.
//! The script checks each promise (exit 130 within 60 s, nothing left, a readable
//! run.json; after a kill, `clean` leaves nothing and `--resume` completes the run).

use std::process::Command;

use crate::common::{docker_available, images_available, root, stderr, stdout};

#[test]
fn soak_three_interrupts_and_a_kill_keep_their_promises() {
    let images = ["dockmatrix/engine:28.5.2", "dockmatrix/redis:7.0"];
    if !docker_available("soak") || !images_available("soak", &images) {
        return;
    }
    let o = Command::new(root().join("benches/interrupt-soak.sh"))
        .env("INTERRUPTS", "3")
        .env("KILLS", "1")
        .env("MAX_DELAY", "25")
        .env("BIN", env!("CARGO_BIN_EXE_dockmatrix"))
        .env("DOCKMATRIX_ENGINE_CACHE", "off")
        .output()
        .expect("the soak script runs");
    let said = format!("{}\n{}", stdout(&o), stderr(&o));
    assert!(o.status.success(), "{said}");
    assert!(said.contains("all kept their promises"), "{said}");
    assert_eq!(said.matches("exit 130").count(), 3, "{said}");
}
