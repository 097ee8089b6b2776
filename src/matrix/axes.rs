//! The axes with a meaning of their own (DESIGN.md): every other axis only names a
//! dependency version. The one list; `image-store` joins it when it lands.

pub const ENGINE: &str = "engine";
pub const STORAGE_DRIVER: &str = "storage-driver";
pub const DAEMON_CONFIG: &str = "daemon-config";
pub const UPGRADE: &str = "upgrade";

/// Every special axis, in the order messages list them; no service may take these names.
pub const SPECIAL: [&str; 4] = [ENGINE, STORAGE_DRIVER, DAEMON_CONFIG, UPGRADE];
