//! What the suite needs of the machine it runs on, found the way a fresh machine has it
//! (issue 13, item 8): the host's address for containers when the bridge names no gateway.

use std::io::Read;
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use crate::common::{bridge_interface_address, docker_available, host_address_for_containers};

#[test]
fn bridge_interface_address_reads_ip_output() {
    let out = "5: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\n       valid_lft forever preferred_lft forever\n";
    assert_eq!(bridge_interface_address(out).as_deref(), Some("172.17.0.1"));
    assert_eq!(bridge_interface_address(""), None);
    assert_eq!(bridge_interface_address("5: docker0 inet garbage/16"), None);
}

/// A container on the default bridge really reaches a listener of the host at the address
/// found, whether or not the bridge names a gateway.
#[test]
fn containers_reach_the_host_at_the_address_found() {
    if !docker_available("containers_reach_the_host_at_the_address_found") {
        return;
    }
    let address = host_address_for_containers();
    assert!(
        address.parse::<std::net::Ipv4Addr>().is_ok(),
        "an IPv4 address: {address}"
    );
    let listener = TcpListener::bind("0.0.0.0:0").expect("listener");
    let port = listener.local_addr().expect("address").port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let mut buf = String::new();
            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = conn.read_to_string(&mut buf);
            let _ = tx.send(buf);
        }
    });
    let o = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--label",
            "io.dockmatrix.run=test-fresh-machine",
            "dockmatrix/base:bookworm",
            "bash",
            "-c",
            &format!("echo hello-from-a-container > /dev/tcp/{address}/{port}"),
        ])
        .output()
        .expect("docker runs");
    assert!(
        o.status.success(),
        "the container reached {address}:{port}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let got = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the host's listener got a connection");
    assert_eq!(got.trim(), "hello-from-a-container");
}
