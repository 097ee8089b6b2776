//! Preflight: what can be told about an (engine, storage driver) pair *before* the engine
//! starts — kernel against the driver, containerd and runc against the engine version,
//! cgroup version, image platforms against the engine's. [`gather`] reads the facts
//! (async, from the host engine and this machine); [`check`] judges them (pure).
//!
//! A `block` finding means the combination is documented not to work: the cell is
//! `unsupported` without trying. Anything less certain is a `warn`, and the engine is
//! started so that its own words are recorded.

use bollard::Docker;

use super::version::package_version;
use crate::matrix::{DindSpec, Version};
use crate::results::{EngineFacts, Finding, FindingLevel};

/// Labels our locally built engine images carry (scripts/setup.sh): Debian package versions.
const LABEL_DOCKER: &str = "io.dockmatrix.package.docker.io";
const LABEL_CONTAINERD: &str = "io.dockmatrix.package.containerd";
const LABEL_RUNC: &str = "io.dockmatrix.package.runc";

/// Everything known of an engine under test before it starts. Plain data.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Subject {
    /// The `[engines.*]` entry.
    pub engine: String,
    /// The Docker version the engine will run (empty when unknown).
    pub engine_version: String,
    pub containerd: Option<String>,
    pub runc: Option<String>,
    /// The storage driver asked (`None`: the engine's default).
    pub driver: Option<String>,
    /// The kernel the engine will run on (a dind engine shares the host's).
    pub kernel: String,
    /// `1` or `2` (empty when unknown).
    pub cgroup_version: String,
    /// The machine's storage support, when it is this machine (`None` for endpoints and
    /// for a host engine reached over TCP: nothing of it can be seen from here).
    pub machine: Option<Machine>,
    pub engine_platform: Platform,
    pub images: Vec<ImagePlatform>,
}

/// Storage support of the machine the engine runs on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Machine {
    /// Whether /dev/fuse exists.
    pub fuse: bool,
    /// The content of /proc/filesystems.
    pub filesystems: String,
    /// The filesystem type under the engine's data directory (from /proc/mounts,
    /// longest-prefix match), when found.
    pub data_fs: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Platform {
    pub os: String,
    pub arch: String,
}

impl Platform {
    pub fn new(os: &str, arch: &str) -> Platform {
        Platform {
            os: os.to_ascii_lowercase(),
            arch: normalize_arch(arch),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)
    }
}

/// A service image and its platform (`None`: not on the engine it was looked for on).
#[derive(Debug, Clone, PartialEq)]
pub struct ImagePlatform {
    pub reference: String,
    pub platform: Option<Platform>,
}

/// The kernel's and Go's names for one architecture are not the same (`x86_64`/`amd64`).
fn normalize_arch(arch: &str) -> String {
    match arch.to_ascii_lowercase().as_str() {
        "x86_64" | "x86-64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        "armv7l" | "armhf" => "arm".into(),
        "i386" | "i686" => "386".into(),
        other => other.to_string(),
    }
}

impl Subject {
    /// A subject for an engine that is already running (`host`, `endpoint`): what it
    /// measured stands for what it would have been asked.
    pub fn from_facts(facts: &EngineFacts, images: Vec<ImagePlatform>) -> Subject {
        let known = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Subject {
            engine: facts.name.clone(),
            engine_version: facts.server_version.clone(),
            containerd: known(&facts.containerd),
            runc: known(&facts.runc),
            driver: known(&facts.storage_driver),
            kernel: facts.kernel.clone(),
            cgroup_version: facts.cgroup_version.clone(),
            machine: None,
            engine_platform: Platform::new(&facts.os_type(), &facts.arch),
            images,
        }
    }
}

/// `EngineFacts::os` is the operating system's name (`Debian GNU/Linux 12`), not Docker's
/// OS type; engines that report a Windows name run Windows images, all others Linux ones.
trait OsType {
    fn os_type(&self) -> String;
}

impl OsType for EngineFacts {
    fn os_type(&self) -> String {
        if self.os.to_ascii_lowercase().contains("windows") {
            "windows".into()
        } else {
            "linux".into()
        }
    }
}

/// Reads what is known before dind engine `engine` of `spec` starts with `driver`: its
/// version and components from the engine image (labels, then `DOCKER_VERSION`, then the
/// tag), kernel and cgroup version from the host engine (a dind engine shares its
/// kernel), this machine's storage support, and the platforms of `images` as the host
/// engine holds them.
///
/// `host` and `endpoint` engines run already: measure them and use
/// [`Subject::from_facts`].
pub async fn gather(
    host: &Docker,
    engine: &str,
    spec: &DindSpec,
    driver: Option<&str>,
    images: &[String],
) -> Subject {
    let info = host.info().await.ok();
    let info_str = |f: fn(&bollard::models::SystemInfo) -> Option<String>| {
        info.as_ref().and_then(f).unwrap_or_default()
    };
    let kernel = info_str(|i| i.kernel_version.clone());
    let cgroup_version = info
        .as_ref()
        .and_then(|i| i.cgroup_version.as_ref())
        .and_then(|v| serde_json::to_value(v).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let root_dir = info_str(|i| i.docker_root_dir.clone());

    let mut subject = Subject {
        engine: engine.to_string(),
        driver: driver.map(str::to_string),
        kernel,
        cgroup_version,
        images: image_platforms(host, images).await,
        ..Default::default()
    };

    let image = spec.image.clone();
    let inspect = host.inspect_image(&image).await.ok();
    let config = inspect.as_ref().and_then(|i| i.config.as_ref());
    let label = |key: &str| {
        config
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get(key))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let env_version = config
        .and_then(|c| c.env.as_ref())
        .and_then(|env| {
            env.iter()
                .find_map(|e| e.strip_prefix("DOCKER_VERSION=").map(str::to_string))
        })
        .filter(|v| !v.is_empty());
    subject.engine_version = label(LABEL_DOCKER)
        .or(env_version)
        .or_else(|| version_of_tag(&image))
        .or_else(|| Version::parse(engine).map(|_| engine.to_string()))
        .unwrap_or_default();
    subject.containerd = label(LABEL_CONTAINERD);
    subject.runc = label(LABEL_RUNC);
    if let Some(i) = &inspect {
        subject.engine_platform = Platform::new(
            i.os.as_deref().unwrap_or_default(),
            i.architecture.as_deref().unwrap_or_default(),
        );
    }
    // The dind engine's data directory is a volume of the host engine.
    if host_is_local() {
        subject.machine = Some(read_machine(&format!("{root_dir}/volumes")));
    }
    subject
}

/// The platforms of `images` as `docker` holds them.
pub async fn image_platforms(docker: &Docker, images: &[String]) -> Vec<ImagePlatform> {
    let mut out = Vec::with_capacity(images.len());
    for reference in images {
        let platform = docker.inspect_image(reference).await.ok().map(|i| {
            Platform::new(
                i.os.as_deref().unwrap_or_default(),
                i.architecture.as_deref().unwrap_or_default(),
            )
        });
        out.push(ImagePlatform {
            reference: reference.clone(),
            platform,
        });
    }
    out
}

/// `docker:28.5-dind` → `28.5`, `dockmatrix/engine:20.10.5` → `20.10.5`.
fn version_of_tag(image: &str) -> Option<String> {
    let name = image.rsplit('/').next().unwrap_or(image);
    let tag = name.split_once(':')?.1;
    Version::parse(tag)?;
    let end = tag
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(tag.len());
    Some(tag[..end].trim_end_matches('.').to_string())
}

/// Whether the host engine runs on this machine, so that its /proc and /dev are ours.
fn host_is_local() -> bool {
    super::host::resolved().is_ok_and(|h| h.is_local())
}

fn read_machine(data_dir: &str) -> Machine {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    Machine {
        fuse: std::path::Path::new("/dev/fuse").exists(),
        filesystems: std::fs::read_to_string("/proc/filesystems").unwrap_or_default(),
        data_fs: fs_type_at(&mounts, data_dir),
    }
}

/// The filesystem type of the mount holding `path`, by longest-prefix match over
/// /proc/mounts lines (`device mountpoint fstype options …`).
pub fn fs_type_at(mounts: &str, path: &str) -> Option<String> {
    let path = path.trim_end_matches('/');
    let path = if path.is_empty() { "/" } else { path };
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_dev, point, fstype) = (f.next()?, f.next()?, f.next()?);
            // /proc/mounts escapes spaces in paths as \040.
            let point = point.replace("\\040", " ");
            let inside = point == "/"
                || path == point
                || path
                    .strip_prefix(point.as_str())
                    .is_some_and(|rest| rest.starts_with('/'));
            inside.then(|| (point.len(), fstype.to_string()))
        })
        // The last of equally long mount points is the one mounted on top.
        .fold(
            None,
            |best: Option<(usize, String)>, (len, fs)| match best {
                Some((b, _)) if b > len => best,
                _ => Some((len, fs)),
            },
        )
        .map(|(_, fs)| fs)
}

/// What a version requirement is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Engine,
    Containerd,
    Runc,
    Kernel,
}

impl Component {
    fn name(self) -> &'static str {
        match self {
            Component::Engine => "Docker",
            Component::Containerd => "containerd",
            Component::Runc => "runc",
            Component::Kernel => "kernel",
        }
    }
}

/// One row of [`REQUIREMENTS`]: when it applies (engine version range, storage driver,
/// cgroup version) and what it then needs (a component at a minimum version, or nothing:
/// the row's applying is itself the finding, as for a removed storage driver).
#[derive(Debug, Clone, Copy)]
pub struct Requirement {
    /// The finding's `check`.
    pub check: &'static str,
    /// Applies to engines at or above this version.
    pub engine_from: Option<&'static str>,
    /// Applies to engines below this version.
    pub engine_below: Option<&'static str>,
    pub driver: Option<&'static str>,
    pub cgroup: Option<&'static str>,
    /// What must be at least which version; `None`: applying is the finding.
    pub needs: Option<(Component, &'static str)>,
    /// The finding's level when the requirement is not met.
    pub level: FindingLevel,
    /// What the requirement says, in words (the reason of the finding).
    pub says: &'static str,
    /// Where it is written.
    pub source: &'static str,
}

const CGROUP_V2: &str =
    "https://docs.docker.com/engine/containers/runmetrics/#running-docker-on-cgroup-v2";

/// Every version requirement preflight knows, each with its source. A row that cannot be
/// cited does not go in. (Requirements of the `daemon.json` keys live in
/// [`super::daemon_lint`], beside the keys.)
pub const REQUIREMENTS: &[Requirement] = &[
    Requirement {
        check: "containerd",
        engine_from: Some("20.10"),
        engine_below: None,
        driver: None,
        cgroup: None,
        needs: Some((Component::Containerd, "1.4.1")),
        level: FindingLevel::Warn,
        says: "Docker 20.10 and later are packaged for containerd 1.4.1 or later",
        source: "https://github.com/docker/docker-ce-packaging/pull/506",
    },
    Requirement {
        check: "containerd",
        engine_from: Some("23.0"),
        engine_below: None,
        driver: None,
        cgroup: None,
        needs: Some((Component::Containerd, "1.6.4")),
        level: FindingLevel::Warn,
        // "for the upcoming 22 release", which shipped as 23.0.
        says: "Docker 23.0 and later are packaged for containerd 1.6.4 or later",
        source: "https://github.com/docker/docker-ce-packaging/pull/683",
    },
    Requirement {
        check: "cgroup",
        engine_from: None,
        engine_below: None,
        driver: None,
        cgroup: Some("2"),
        needs: Some((Component::Engine, "20.10")),
        level: FindingLevel::Block,
        says: "Docker supports cgroup v2 since 20.10",
        source: CGROUP_V2,
    },
    Requirement {
        check: "containerd",
        engine_from: None,
        engine_below: None,
        driver: None,
        cgroup: Some("2"),
        needs: Some((Component::Containerd, "1.4")),
        level: FindingLevel::Block,
        says: "Docker on cgroup v2 requires containerd 1.4 or later",
        source: CGROUP_V2,
    },
    Requirement {
        check: "runc",
        engine_from: None,
        engine_below: None,
        driver: None,
        cgroup: Some("2"),
        needs: Some((Component::Runc, "1.0.0-rc91")),
        level: FindingLevel::Block,
        says: "Docker on cgroup v2 requires runc 1.0.0-rc91 or later",
        source: CGROUP_V2,
    },
    Requirement {
        check: "kernel",
        engine_from: None,
        engine_below: None,
        driver: None,
        cgroup: Some("2"),
        needs: Some((Component::Kernel, "4.15")),
        level: FindingLevel::Block,
        says: "Docker on cgroup v2 requires kernel 4.15 or later (5.2 recommended)",
        source: CGROUP_V2,
    },
    Requirement {
        check: "kernel",
        engine_from: None,
        engine_below: None,
        driver: Some("overlay2"),
        cgroup: None,
        needs: Some((Component::Kernel, "4.0")),
        level: FindingLevel::Block,
        says: "overlay2 needs kernel 4.0 or later (RHEL/CentOS: 3.10.0-514)",
        source: "https://docs.docker.com/engine/storage/drivers/overlayfs-driver/#prerequisites",
    },
    Requirement {
        check: "storage-driver",
        engine_from: None,
        engine_below: None,
        driver: Some("fuse-overlayfs"),
        cgroup: None,
        needs: Some((Component::Engine, "20.10")),
        level: FindingLevel::Block,
        says: "the fuse-overlayfs storage driver arrived in Docker 20.10",
        source: "https://github.com/docker/docker.github.io/pull/11042",
    },
    Requirement {
        check: "storage-driver",
        engine_from: Some("18.09"),
        engine_below: Some("24.0"),
        driver: Some("overlay"),
        cgroup: None,
        needs: None,
        level: FindingLevel::Warn,
        says: "the legacy overlay storage driver is deprecated since 18.09 and removed in 24.0; use overlay2",
        source: "https://docs.docker.com/engine/deprecated/#legacy-overlay-storage-driver",
    },
    Requirement {
        check: "storage-driver",
        engine_from: Some("24.0"),
        engine_below: None,
        driver: Some("overlay"),
        cgroup: None,
        needs: None,
        level: FindingLevel::Block,
        says: "the legacy overlay storage driver was removed in Docker 24.0; use overlay2",
        source: "https://docs.docker.com/engine/deprecated/#legacy-overlay-storage-driver",
    },
    Requirement {
        check: "storage-driver",
        engine_from: Some("19.03"),
        engine_below: Some("24.0"),
        driver: Some("aufs"),
        cgroup: None,
        needs: None,
        level: FindingLevel::Warn,
        says: "the aufs storage driver is deprecated since 19.03 and removed in 24.0; use overlay2",
        source: "https://docs.docker.com/engine/deprecated/#aufs-storage-driver",
    },
    Requirement {
        check: "storage-driver",
        engine_from: Some("24.0"),
        engine_below: None,
        driver: Some("aufs"),
        cgroup: None,
        needs: None,
        level: FindingLevel::Block,
        says: "the aufs storage driver was removed in Docker 24.0; use overlay2",
        source: "https://docs.docker.com/engine/deprecated/#aufs-storage-driver",
    },
    Requirement {
        check: "storage-driver",
        engine_from: Some("18.09"),
        engine_below: Some("23.0"),
        driver: Some("devicemapper"),
        cgroup: None,
        needs: None,
        level: FindingLevel::Warn,
        says: "the devicemapper storage driver is deprecated since 18.09 (disabled by default in 23.0, removed in 25.0)",
        source: "https://docs.docker.com/engine/deprecated/#device-mapper-storage-driver",
    },
    Requirement {
        check: "storage-driver",
        engine_from: Some("23.0"),
        engine_below: Some("25.0"),
        driver: Some("devicemapper"),
        cgroup: None,
        needs: None,
        level: FindingLevel::Warn,
        says: "the devicemapper storage driver is disabled by default since Docker 23.0 and removed in 25.0",
        source: "https://docs.docker.com/engine/deprecated/#device-mapper-storage-driver",
    },
    Requirement {
        check: "storage-driver",
        engine_from: Some("25.0"),
        engine_below: None,
        driver: Some("devicemapper"),
        cgroup: None,
        needs: None,
        level: FindingLevel::Block,
        says: "the devicemapper storage driver was removed in Docker 25.0",
        source: "https://docs.docker.com/engine/deprecated/#device-mapper-storage-driver",
    },
];

/// The checks every subject gets a finding for, in the order they are reported.
const CHECKS: &[&str] = &["kernel", "storage-driver", "cgroup", "containerd", "runc"];

/// Everything said before dind engine `engine` starts: preflight of the engine and the
/// images it will hold, the lint of its daemon.json, and `dockerd --validate` where the
/// engine has it. A `block` among them means: do not start it.
pub async fn before_start(
    host: &Docker,
    engine: &str,
    spec: &DindSpec,
    driver: Option<&str>,
    daemon: Option<&serde_json::Value>,
    images: &[String],
    labels: &crate::engine::labels::RunLabels,
) -> Vec<Finding> {
    let subject = gather(host, engine, spec, driver, images).await;
    let mut findings = check(&subject);
    if let Some(daemon) = daemon {
        findings.extend(super::daemon_lint::lint(
            engine,
            &subject.engine_version,
            daemon,
        ));
        if let Some(mut f) =
            super::daemon_lint::validate(host, &spec.image, &subject.engine_version, daemon, labels)
                .await
        {
            f.engine = engine.to_string();
            findings.push(f);
        }
    }
    findings
}

/// The blocking findings, one line: `check: reason | …` (empty when none blocks).
pub fn blocking(findings: &[Finding]) -> String {
    findings
        .iter()
        .filter(|f| f.level == crate::results::FindingLevel::Block)
        .map(|f| format!("{}: {}", f.check, f.reason))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Judges `s` against [`REQUIREMENTS`] and the storage drivers' needs of the machine, and
/// its images' platforms against the engine's. One or more findings per check; pure.
pub fn check(s: &Subject) -> Vec<Finding> {
    let finding = |check: &str, level: FindingLevel, reason: String| Finding {
        engine: s.engine.clone(),
        check: check.to_string(),
        level,
        reason,
    };
    let engine = package_version(&s.engine_version);
    let mut out = Vec::new();
    for &check in CHECKS {
        let mut met: Vec<String> = Vec::new();
        let mut unmet: Vec<Finding> = Vec::new();
        for r in REQUIREMENTS.iter().filter(|r| r.check == check) {
            match applies(r, s, engine.as_ref()) {
                Applies::No => {}
                Applies::Unknown => unmet.push(finding(
                    check,
                    FindingLevel::Warn,
                    format!(
                        "engine version unknown ({}): not checked whether {}",
                        display_or(&s.engine_version, "none found"),
                        r.says
                    ),
                )),
                Applies::Yes => match r.needs {
                    None => unmet.push(finding(check, r.level, r.says.to_string())),
                    Some((component, min)) => {
                        let have = component_version(s, component);
                        match have.as_deref().map(|h| (h, package_version(h))) {
                            Some((raw, Some(v))) if min_ok(component, raw, &v, min) => {
                                met.push(format!("{} {raw} ≥ {min}", component.name()));
                            }
                            Some((raw, Some(_))) => unmet.push(finding(
                                check,
                                r.level,
                                format!("{} {raw} < {min}: {}", component.name(), r.says),
                            )),
                            _ => unmet.push(finding(
                                check,
                                FindingLevel::Warn,
                                format!(
                                    "{} version unknown before start: not checked whether {}",
                                    component.name(),
                                    r.says
                                ),
                            )),
                        }
                    }
                },
            }
        }
        if check == "storage-driver" {
            machine_support(s, &mut met, &mut unmet, &finding);
        }
        if unmet.is_empty() {
            let reason = if met.is_empty() {
                no_requirement(check, s)
            } else {
                met.dedup();
                met.join("; ")
            };
            out.push(finding(check, FindingLevel::Ok, reason));
        } else {
            out.extend(unmet);
        }
    }
    out.extend(platforms(s, &finding));
    out
}

enum Applies {
    Yes,
    No,
    /// Depends on the engine version, which is not known.
    Unknown,
}

fn applies(r: &Requirement, s: &Subject, engine: Option<&Version>) -> Applies {
    if r.driver.is_some() && r.driver != s.driver.as_deref() {
        return Applies::No;
    }
    if r.cgroup.is_some() && r.cgroup != Some(s.cgroup_version.as_str()) {
        return Applies::No;
    }
    if r.engine_from.is_none() && r.engine_below.is_none() {
        return Applies::Yes;
    }
    let Some(engine) = engine else {
        return Applies::Unknown;
    };
    let at_least = |b: Option<&str>| b.and_then(Version::parse).is_none_or(|b| *engine >= b);
    let below = |b: Option<&str>| b.and_then(Version::parse).is_none_or(|b| *engine < b);
    if at_least(r.engine_from) && below(r.engine_below) {
        Applies::Yes
    } else {
        Applies::No
    }
}

fn component_version(s: &Subject, c: Component) -> Option<String> {
    match c {
        Component::Engine => Some(s.engine_version.clone()),
        Component::Containerd => s.containerd.clone(),
        Component::Runc => s.runc.clone(),
        Component::Kernel => Some(s.kernel.clone()),
    }
    .filter(|v| !v.trim().is_empty())
}

/// Whether `have` (parsed `v`) meets `min`. RHEL/CentOS 7 kernels (`3.10.0-514.el7…`)
/// carry overlay2 backported: the overlay2 page names them as the exception to 4.0.
fn min_ok(c: Component, have: &str, v: &Version, min: &str) -> bool {
    let Some(min_v) = Version::parse(min) else {
        return true;
    };
    if *v >= min_v {
        return true;
    }
    c == Component::Kernel
        && min == "4.0"
        && have.contains(".el7")
        && have
            .strip_prefix("3.10.0-")
            .and_then(|rest| rest.split(|ch: char| !ch.is_ascii_digit()).next())
            .and_then(|build| build.parse::<u32>().ok())
            .is_some_and(|build| build >= 514)
}

fn display_or<'a>(s: &'a str, other: &'a str) -> &'a str {
    if s.is_empty() { other } else { s }
}

fn no_requirement(check: &str, s: &Subject) -> String {
    match check {
        "kernel" => format!(
            "kernel {}: no requirement applies",
            display_or(&s.kernel, "?")
        ),
        "storage-driver" => match &s.driver {
            Some(d) => format!("{d}: no requirement applies"),
            None => "the engine's default driver".to_string(),
        },
        "cgroup" => format!(
            "cgroup v{}: no requirement applies",
            display_or(&s.cgroup_version, "?")
        ),
        other => {
            let v = match other {
                "containerd" => s.containerd.as_deref(),
                _ => s.runc.as_deref(),
            };
            format!(
                "{other} {}: no minimum known for Docker {}",
                v.unwrap_or("(unknown)"),
                display_or(&s.engine_version, "?")
            )
        }
    }
}

/// What the storage driver needs of the machine, beyond versions: /dev/fuse, the
/// filesystem in the kernel, and the data directory on it.
fn machine_support(
    s: &Subject,
    met: &mut Vec<String>,
    unmet: &mut Vec<Finding>,
    finding: &impl Fn(&str, FindingLevel, String) -> Finding,
) {
    let Some(driver) = s.driver.as_deref() else {
        return;
    };
    let Some(m) = &s.machine else {
        return;
    };
    let check = "storage-driver";
    match driver {
        "fuse-overlayfs" => {
            // The rootless-mode page: fuse-overlayfs is a FUSE filesystem.
            if m.fuse {
                met.push("/dev/fuse present".into());
            } else {
                unmet.push(finding(
                    check,
                    FindingLevel::Block,
                    "fuse-overlayfs needs /dev/fuse, which this machine lacks".into(),
                ));
            }
        }
        "btrfs" | "zfs" => {
            // The btrfs and zfs driver pages: the filesystem in the kernel, and
            // /var/lib/docker on it ("prerequisites for driver not satisfied" otherwise).
            let in_kernel = m
                .filesystems
                .lines()
                .any(|l| l.split_whitespace().last() == Some(driver));
            if !in_kernel {
                unmet.push(finding(
                    check,
                    FindingLevel::Block,
                    format!("{driver} needs {driver} in the kernel; /proc/filesystems lacks it"),
                ));
            }
            // The data directory's filesystem is read through this process's mounts: it
            // is the engine's only where both share a mount namespace (not with a remote
            // or rootless host engine, a VM…). An inference, so a warning: the engine is
            // started and its own words are recorded.
            match m.data_fs.as_deref() {
                Some(fs) if fs == driver => met.push(format!("data directory on {fs}")),
                Some(fs) => unmet.push(finding(
                    check,
                    FindingLevel::Warn,
                    format!(
                        "{driver} needs the engine's data directory on {driver}; it appears to be on {fs}, so the engine will likely refuse"
                    ),
                )),
                None => unmet.push(finding(
                    check,
                    FindingLevel::Warn,
                    format!(
                        "{driver} needs the data directory on {driver}; its filesystem is unknown"
                    ),
                )),
            }
        }
        "vfs" => met.push("vfs works on any filesystem".into()),
        _ => {}
    }
}

fn platforms(
    s: &Subject,
    finding: &impl Fn(&str, FindingLevel, String) -> Finding,
) -> Vec<Finding> {
    let engine = &s.engine_platform;
    if engine.os.is_empty() || engine.arch.is_empty() {
        return vec![finding(
            "platform",
            FindingLevel::Warn,
            "the engine's platform is unknown: images not checked".into(),
        )];
    }
    let mut out = Vec::new();
    let mut fitting = 0;
    for i in &s.images {
        match &i.platform {
            Some(p) if p.os == engine.os && p.arch == engine.arch => fitting += 1,
            Some(p) if p.os != engine.os => out.push(finding(
                "platform",
                FindingLevel::Block,
                format!("{} is a {p} image; the engine runs {engine}", i.reference),
            )),
            // Another architecture may still run under emulation (binfmt_misc/QEMU).
            Some(p) => out.push(finding(
                "platform",
                FindingLevel::Warn,
                format!(
                    "{} is a {p} image; the engine runs {engine} (only under emulation)",
                    i.reference
                ),
            )),
            None => out.push(finding(
                "platform",
                FindingLevel::Warn,
                format!(
                    "{} is not on the host engine: its platform is not checked",
                    i.reference
                ),
            )),
        }
    }
    if out.is_empty() {
        out.push(finding(
            "platform",
            FindingLevel::Ok,
            format!("{fitting} image(s) are {engine}, as the engine"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 20.10.5 engine image on this project's CI machines (DESIGN.md).
    fn bullseye() -> Subject {
        Subject {
            engine: "20.10.5".into(),
            engine_version: "20.10.5+dfsg1-1+deb11u4".into(),
            containerd: Some("1.4.13~ds1-1~deb11u6".into()),
            runc: Some("1.0.0~rc93+ds1-5+deb11u5".into()),
            driver: Some("overlay2".into()),
            kernel: "6.1.0-18-amd64".into(),
            cgroup_version: "1".into(),
            machine: Some(Machine {
                fuse: true,
                filesystems: "nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\toverlay\n".into(),
                data_fs: Some("ext4".into()),
            }),
            engine_platform: Platform::new("linux", "amd64"),
            images: vec![ImagePlatform {
                reference: "dockmatrix/redis:7.0".into(),
                platform: Some(Platform::new("linux", "amd64")),
            }],
        }
    }

    fn of<'a>(f: &'a [Finding], check: &str) -> Vec<&'a Finding> {
        f.iter().filter(|x| x.check == check).collect()
    }

    fn level(f: &[Finding], check: &str) -> FindingLevel {
        of(f, check)
            .iter()
            .map(|x| x.level)
            .max()
            .unwrap_or_else(|| panic!("no {check} finding in {f:#?}"))
    }

    #[test]
    fn a_supported_combination_is_ok_on_every_check() {
        let f = check(&bullseye());
        for c in [
            "kernel",
            "storage-driver",
            "cgroup",
            "containerd",
            "runc",
            "platform",
        ] {
            assert_eq!(level(&f, c), FindingLevel::Ok, "{c}: {f:#?}");
        }
        assert!(
            of(&f, "containerd")[0]
                .reason
                .contains("1.4.13~ds1-1~deb11u6 ≥ 1.4.1"),
            "{f:#?}"
        );
    }

    #[test]
    fn overlay2_needs_kernel_4_except_rhel7_backports() {
        let mut s = bullseye();
        s.kernel = "3.16.0-4-amd64".into();
        let f = check(&s);
        assert_eq!(level(&f, "kernel"), FindingLevel::Block, "{f:#?}");
        assert!(
            of(&f, "kernel")[0]
                .reason
                .contains("overlay2 needs kernel 4.0")
        );
        s.kernel = "3.10.0-1160.el7.x86_64".into();
        assert_eq!(level(&check(&s), "kernel"), FindingLevel::Ok);
        s.kernel = "3.10.0-327.el7.x86_64".into();
        assert_eq!(level(&check(&s), "kernel"), FindingLevel::Block);
        // vfs does not care.
        s.driver = Some("vfs".into());
        assert_eq!(level(&check(&s), "kernel"), FindingLevel::Ok);
    }

    #[test]
    fn fuse_overlayfs_needs_dev_fuse_and_docker_20_10() {
        let mut s = bullseye();
        s.driver = Some("fuse-overlayfs".into());
        assert_eq!(level(&check(&s), "storage-driver"), FindingLevel::Ok);
        if let Some(m) = s.machine.as_mut() {
            m.fuse = false;
        }
        let f = check(&s);
        assert_eq!(level(&f, "storage-driver"), FindingLevel::Block);
        assert!(
            of(&f, "storage-driver")[0].reason.contains("/dev/fuse"),
            "{f:#?}"
        );
        s = bullseye();
        s.driver = Some("fuse-overlayfs".into());
        s.engine_version = "19.03.15".into();
        let f = check(&s);
        assert_eq!(level(&f, "storage-driver"), FindingLevel::Block, "{f:#?}");
        assert!(
            of(&f, "storage-driver")[0]
                .reason
                .contains("arrived in Docker 20.10")
        );
    }

    #[test]
    fn btrfs_and_zfs_need_the_filesystem_and_the_data_directory_on_it() {
        for fs in ["btrfs", "zfs"] {
            let mut s = bullseye();
            s.driver = Some(fs.into());
            let f = check(&s);
            let reasons: Vec<&str> = of(&f, "storage-driver")
                .iter()
                .map(|x| x.reason.as_str())
                .collect();
            assert_eq!(level(&f, "storage-driver"), FindingLevel::Block);
            assert!(
                reasons
                    .iter()
                    .any(|r| r.contains("/proc/filesystems lacks it")),
                "{reasons:?}"
            );
            assert!(
                reasons.iter().any(|r| r.contains("appears to be on ext4")),
                "{reasons:?}"
            );
            // In the kernel but (it seems) not under the data directory: a warning only.
            if let Some(m) = s.machine.as_mut() {
                m.filesystems.push_str(&format!("\t{fs}\n"));
            }
            assert_eq!(
                level(&check(&s), "storage-driver"),
                FindingLevel::Warn,
                "{fs}"
            );
            if let Some(m) = s.machine.as_mut() {
                m.data_fs = Some(fs.into());
            }
            assert_eq!(
                level(&check(&s), "storage-driver"),
                FindingLevel::Ok,
                "{fs}"
            );
            // Not in the kernel at all: blocked for certain.
            if let Some(m) = s.machine.as_mut() {
                m.filesystems = "nodev\tproc\n\text4\n".into();
            }
            assert_eq!(
                level(&check(&s), "storage-driver"),
                FindingLevel::Block,
                "{fs}"
            );
        }
    }

    #[test]
    fn vfs_is_always_ok() {
        let mut s = bullseye();
        s.driver = Some("vfs".into());
        s.machine = Some(Machine::default());
        let f = check(&s);
        assert_eq!(level(&f, "storage-driver"), FindingLevel::Ok);
        assert!(of(&f, "storage-driver")[0].reason.contains("vfs"));
    }

    #[test]
    fn removed_storage_drivers_block_from_their_removal_and_warn_before() {
        for (driver, deprecated_on, removed_on) in [
            ("aufs", "20.10.5", "24.0.0"),
            ("overlay", "20.10.5", "28.5.2"),
            ("devicemapper", "23.0.6", "25.0.0"),
        ] {
            let mut s = bullseye();
            s.driver = Some(driver.into());
            s.engine_version = deprecated_on.into();
            let f = check(&s);
            assert_eq!(
                level(&f, "storage-driver"),
                FindingLevel::Warn,
                "{driver}: {f:#?}"
            );
            s.engine_version = removed_on.into();
            let f = check(&s);
            assert_eq!(
                level(&f, "storage-driver"),
                FindingLevel::Block,
                "{driver}: {f:#?}"
            );
            assert!(
                of(&f, "storage-driver")[0]
                    .reason
                    .contains("removed in Docker")
            );
        }
    }

    #[test]
    fn containerd_below_the_engines_packaging_minimum_warns() {
        let mut s = bullseye();
        s.engine_version = "28.5.2".into();
        s.containerd = Some("1.4.13~ds1-1~deb11u6".into());
        let f = check(&s);
        assert_eq!(level(&f, "containerd"), FindingLevel::Warn, "{f:#?}");
        assert!(of(&f, "containerd")[0].reason.contains("< 1.6.4"), "{f:#?}");
        s.containerd = Some("2.1.9~ds1-1".into());
        assert_eq!(level(&check(&s), "containerd"), FindingLevel::Ok);
        // Unknown before start (an official docker:dind image): said, not guessed.
        s.containerd = None;
        let f = check(&s);
        assert_eq!(level(&f, "containerd"), FindingLevel::Warn);
        assert!(
            of(&f, "containerd")[0]
                .reason
                .contains("unknown before start")
        );
    }

    #[test]
    fn cgroup_v2_needs_docker_20_10_containerd_1_4_runc_rc91_kernel_4_15() {
        let mut s = bullseye();
        s.cgroup_version = "2".into();
        let f = check(&s);
        for c in ["cgroup", "containerd", "runc", "kernel"] {
            assert_eq!(level(&f, c), FindingLevel::Ok, "{c}: {f:#?}");
        }
        s.engine_version = "19.03.13".into();
        s.containerd = Some("1.3.7".into());
        s.runc = Some("1.0.0~rc10-1".into());
        s.kernel = "4.9.0-13-amd64".into();
        let f = check(&s);
        for c in ["cgroup", "containerd", "runc", "kernel"] {
            assert_eq!(level(&f, c), FindingLevel::Block, "{c}: {f:#?}");
        }
        // The same components on cgroup v1 are fine.
        s.cgroup_version = "1".into();
        let f = check(&s);
        assert_eq!(level(&f, "cgroup"), FindingLevel::Ok, "{f:#?}");
        assert_eq!(level(&f, "runc"), FindingLevel::Ok, "{f:#?}");
    }

    #[test]
    fn image_platforms_against_the_engines() {
        let mut s = bullseye();
        s.images.push(ImagePlatform {
            reference: "arm-only:1".into(),
            platform: Some(Platform::new("linux", "aarch64")),
        });
        s.images.push(ImagePlatform {
            reference: "nanoserver:1".into(),
            platform: Some(Platform::new("windows", "amd64")),
        });
        s.images.push(ImagePlatform {
            reference: "missing:1".into(),
            platform: None,
        });
        let f = check(&s);
        let p = of(&f, "platform");
        let find = |r: &str| p.iter().find(|x| x.reason.starts_with(r)).map(|x| x.level);
        assert_eq!(
            find("arm-only:1 is a linux/arm64"),
            Some(FindingLevel::Warn),
            "{p:#?}"
        );
        assert_eq!(
            find("nanoserver:1 is a windows/amd64"),
            Some(FindingLevel::Block)
        );
        assert_eq!(
            find("missing:1 is not on the host engine"),
            Some(FindingLevel::Warn)
        );
        // x86_64 as the kernel says it is amd64 as images say it.
        s = bullseye();
        s.engine_platform = Platform::new("linux", "x86_64");
        assert_eq!(level(&check(&s), "platform"), FindingLevel::Ok);
    }

    #[test]
    fn an_unknown_engine_version_is_said_not_guessed() {
        let mut s = bullseye();
        s.engine_version = String::new();
        let f = check(&s);
        let c = of(&f, "containerd");
        assert!(c.iter().all(|x| x.level == FindingLevel::Warn), "{c:#?}");
        assert!(c[0].reason.contains("engine version unknown"), "{c:#?}");
    }

    #[test]
    fn from_facts_uses_what_the_engine_measured() {
        let facts = EngineFacts {
            name: "host".into(),
            kind: "host".into(),
            server_version: "20.10.24+dfsg1".into(),
            storage_driver: "overlay2".into(),
            containerd: "1.6.20~ds1-1+deb12u3".into(),
            runc: "1.1.5+ds1-1+deb12u1".into(),
            kernel: "6.1.0".into(),
            cgroup_version: "1".into(),
            os: "Debian GNU/Linux 12 (bookworm)".into(),
            arch: "x86_64".into(),
            ..Default::default()
        };
        let s = Subject::from_facts(&facts, Vec::new());
        assert_eq!(s.engine_platform, Platform::new("linux", "amd64"));
        assert_eq!(s.driver.as_deref(), Some("overlay2"));
        assert!(s.machine.is_none());
        let f = check(&s);
        assert!(f.iter().all(|x| x.level == FindingLevel::Ok), "{f:#?}");
    }

    #[test]
    fn data_filesystem_by_longest_mount_prefix() {
        let mounts = "/dev/root / ext4 rw 0 0\n\
                      /dev/sdb /var/lib/docker btrfs rw 0 0\n\
                      tank/docker /var/lib/docker/volumes zfs rw 0 0\n\
                      /dev/sdc /var/lib/docker2 xfs rw 0 0\n";
        assert_eq!(
            fs_type_at(mounts, "/var/lib/docker").as_deref(),
            Some("btrfs")
        );
        assert_eq!(
            fs_type_at(mounts, "/var/lib/docker/volumes").as_deref(),
            Some("zfs")
        );
        assert_eq!(
            fs_type_at(mounts, "/var/lib/docker/volumes/x/_data").as_deref(),
            Some("zfs")
        );
        // A sibling sharing a prefix is not a parent.
        assert_eq!(
            fs_type_at(mounts, "/var/lib/docker2x").as_deref(),
            Some("ext4")
        );
        assert_eq!(fs_type_at("", "/x"), None);
    }

    #[test]
    fn tags_give_versions() {
        assert_eq!(version_of_tag("docker:28.5-dind").as_deref(), Some("28.5"));
        assert_eq!(
            version_of_tag("dockmatrix/engine:20.10.5").as_deref(),
            Some("20.10.5")
        );
        assert_eq!(version_of_tag("registry:5000/docker:dind"), None);
        assert_eq!(version_of_tag("docker"), None);
    }

    #[test]
    fn every_requirement_is_cited_and_parses() {
        for r in REQUIREMENTS {
            assert!(r.source.starts_with("https://"), "{r:?}");
            for v in [r.engine_from, r.engine_below].into_iter().flatten() {
                assert!(Version::parse(v).is_some(), "{r:?}");
            }
            if let Some((_, min)) = r.needs {
                assert!(package_version(min).is_some(), "{r:?}");
            }
            assert!(CHECKS.contains(&r.check), "{r:?}");
        }
    }
}
