//! The axes with a meaning of their own (DESIGN.md): every other axis only names a
//! dependency version. The one list.

pub const ENGINE: &str = "engine";
pub const STORAGE_DRIVER: &str = "storage-driver";
pub const DAEMON_CONFIG: &str = "daemon-config";
pub const UPGRADE: &str = "upgrade";
/// `graphdriver` or `containerd` (see [`super::image_store`]).
pub const IMAGE_STORE: &str = super::image_store::AXIS;

/// Every special axis, in the order messages list them; no service may take these names.
pub const SPECIAL: [&str; 5] = [ENGINE, STORAGE_DRIVER, DAEMON_CONFIG, UPGRADE, IMAGE_STORE];
