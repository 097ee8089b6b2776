//! A compose file as written: serde structs of the keys dockmatrix supports, every leaf a
//! scalar kept as its text with its file, line and column ([`At`]), so that errors found
//! after interpolation still point at the line. Unknown keys are errors (`x-*` extension
//! keys excepted, as in compose); keys we know but cannot honour (`build` alone,
//! `secrets`, `extends`, …) are read so that the checked model can refuse them by name.
//! No `untagged`/`flatten`: the "string or list" and "list or map" shapes of compose are
//! visitors that accept both.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

thread_local! {
    /// The index of the compose file being parsed, stamped into every [`At`].
    static FILE: Cell<u16> = const { Cell::new(0) };
    /// The keys from the document to the value being read; left as it is when reading
    /// fails, so that it names where (serde_path_to_error cannot see spanned keys).
    static PATH: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with [`At`] values stamped as coming from file number `file`; also returns
/// the key path reached (where reading stopped, when it failed).
pub fn with_file<R>(file: u16, f: impl FnOnce() -> R) -> (R, String) {
    FILE.with(|c| c.set(file));
    PATH.with(|p| p.borrow_mut().clear());
    let r = f();
    FILE.with(|c| c.set(0));
    let path = PATH.with(|p| std::mem::take(&mut *p.borrow_mut()).join("."));
    (r, path)
}

fn push_key(k: &str) {
    PATH.with(|p| p.borrow_mut().push(k.to_string()));
}

fn pop_key() {
    PATH.with(|p| {
        p.borrow_mut().pop();
    });
}

/// Where a value is written: the file (an index into the project's files), line and
/// column, both 1-based (0 when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub file: u16,
    pub line: u32,
    pub column: u32,
}

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct At<T> {
    pub v: T,
    pub pos: Pos,
}

impl<T> At<T> {
    pub fn new(v: T, pos: Pos) -> At<T> {
        At { v, pos }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for At<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = serde_saphyr::Spanned::<T>::deserialize(d)?;
        // An alias points at its anchor's value: the place the user must edit is where
        // the value is written (`defined`), not where it is used.
        let loc = s.referenced;
        Ok(At {
            v: s.value,
            pos: Pos {
                file: FILE.with(Cell::get),
                line: loc.line().min(u64::from(u32::MAX)) as u32,
                column: loc.column().min(u64::from(u32::MAX)) as u32,
            },
        })
    }
}

/// A scalar as text: strings as written, numbers and booleans as their YAML text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

pub type Sc = At<Scalar>;
/// A map value that may be null (`KEY:` with nothing after it).
pub type OptSc = At<Option<Scalar>>;
pub type Key = At<String>;

/// The scalar visits shared by the "scalar or something else" visitors below: a number
/// or boolean becomes its text.
macro_rules! visit_scalars {
    ($out:expr) => {
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok($out(Scalar(v.to_string())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok($out(Scalar(v)))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok($out(Scalar(v.to_string())))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok($out(Scalar(v.to_string())))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok($out(Scalar(v.to_string())))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok($out(Scalar(v.to_string())))
        }
    };
}

/// Compose's "a string or a list of strings" (`command`, `entrypoint`, `tmpfs`, `test`).
/// Held in an [`At`], whose place is the string's when it is one.
#[derive(Debug, Clone, PartialEq)]
pub enum StrOrList {
    Str(Scalar),
    List(Vec<Sc>),
}

impl<'de> Deserialize<'de> for StrOrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrOrList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            visit_scalars!(StrOrList::Str);
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrOrList, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element()? {
                    out.push(x);
                }
                Ok(StrOrList::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Compose's "a map, or a list of `KEY=VALUE` strings" (`environment`, `labels`,
/// `sysctls`, `extra_hosts`): kept as entries in order, a list entry split later.
#[derive(Debug, Clone, PartialEq)]
pub enum MapOrList {
    Map(Vec<(Key, OptSc)>),
    List(Vec<Sc>),
}

impl<'de> Deserialize<'de> for MapOrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MapOrList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map or a list of KEY=VALUE strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MapOrList, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element()? {
                    out.push(x);
                }
                Ok(MapOrList::List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MapOrList, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Key>()? {
                    out.push((k, map.next_value()?));
                }
                Ok(MapOrList::Map(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A list of names, or a map from names to an optional table (`depends_on`, a service's
/// `networks`).
#[derive(Debug, Clone, PartialEq)]
pub enum NamesOrMap<T> {
    List(Vec<Key>),
    Map(Vec<(Key, At<Option<T>>)>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for NamesOrMap<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = NamesOrMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of names or a map")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element()? {
                    out.push(x);
                }
                Ok(NamesOrMap::List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Key>()? {
                    out.push((k, map.next_value()?));
                }
                Ok(NamesOrMap::Map(out))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A short-syntax scalar or a long-syntax table (`ports`, `volumes`, `env_file` entries,
/// `ulimits` values). Held in an [`At`], whose place is the scalar's when it is one.
#[derive(Debug, Clone, PartialEq)]
pub enum ShortOrLong<T> {
    Short(Scalar),
    Long(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ShortOrLong<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = ShortOrLong<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a table")
            }
            visit_scalars!(ShortOrLong::Short);
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(ShortOrLong::Long)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A map kept as its entries in file order, keys with their places (duplicate keys are
/// refused by the parser).
#[derive(Debug, Clone, PartialEq)]
pub struct Entries<V>(pub Vec<(Key, V)>);

impl<V> Default for Entries<V> {
    fn default() -> Self {
        Entries(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Vis<V> {
            type Value = Entries<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Key>()? {
                    push_key(&k.v);
                    let v = map.next_value()?;
                    pop_key();
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Entries(Vec::new()))
            }
        }
        d.deserialize_map(Vis(PhantomData))
    }
}

/// Structs whose unknown keys are errors except compose's `x-*` extension keys: the
/// derive's `deny_unknown_fields` cannot make that exception, and `flatten` would ruin
/// the error messages, so this writes the same visitor the derive would, plus the one
/// rule. Every field is optional; `x-dockmatrix` is an ordinary field where listed.
macro_rules! compose_struct {
    ($(#[$m:meta])* $name:ident expecting $exp:literal { $( $(#[$fm:meta])* $field:ident : $ty:ty = $key:literal ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name {
            $( $(#[$fm])* pub $field: Option<$ty>, )*
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($exp)
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        const FIELDS: &[&str] = &[$($key),*];
                        let mut out = $name::default();
                        while let Some(key) = map.next_key::<String>()? {
                            match key.as_str() {
                                $( $key => {
                                    push_key($key);
                                    out.$field = Some(map.next_value()?);
                                    pop_key();
                                } )*
                                k if k.starts_with("x-") => {
                                    map.next_value::<IgnoredAny>()?;
                                }
                                k => return Err(de::Error::unknown_field(k, FIELDS)),
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}

compose_struct! {
    /// One compose file.
    RawFile expecting "a compose file (a map with `services`)" {
        version: Sc = "version",
        name: Sc = "name",
        services: Entries<At<Option<RawService>>> = "services",
        volumes: Entries<At<Option<RawVolume>>> = "volumes",
        networks: Entries<At<Option<RawNetwork>>> = "networks",
        secrets: At<IgnoredAny> = "secrets",
        configs: At<IgnoredAny> = "configs",
        include: At<IgnoredAny> = "include",
        models: At<IgnoredAny> = "models",
    }
}

compose_struct! {
    /// One service.
    RawService expecting "a service (a map with `image`)" {
        image: Sc = "image",
        build: At<IgnoredAny> = "build",
        command: At<StrOrList> = "command",
        entrypoint: At<StrOrList> = "entrypoint",
        environment: At<MapOrList> = "environment",
        env_file: At<StrOrListOfLong> = "env_file",
        ports: Vec<At<ShortOrLong<RawPort>>> = "ports",
        expose: Vec<Sc> = "expose",
        depends_on: At<NamesOrMap<RawDependsOn>> = "depends_on",
        healthcheck: At<RawHealthcheck> = "healthcheck",
        volumes: Vec<At<ShortOrLong<RawMount>>> = "volumes",
        tmpfs: At<StrOrList> = "tmpfs",
        restart: Sc = "restart",
        mem_limit: Sc = "mem_limit",
        memswap_limit: Sc = "memswap_limit",
        cpus: Sc = "cpus",
        deploy: At<RawDeploy> = "deploy",
        user: Sc = "user",
        working_dir: Sc = "working_dir",
        labels: At<MapOrList> = "labels",
        hostname: Sc = "hostname",
        domainname: Sc = "domainname",
        extra_hosts: At<MapOrList> = "extra_hosts",
        dns: At<StrOrList> = "dns",
        cap_add: Vec<Sc> = "cap_add",
        cap_drop: Vec<Sc> = "cap_drop",
        ulimits: Entries<At<ShortOrLong<RawUlimit>>> = "ulimits",
        sysctls: At<MapOrList> = "sysctls",
        shm_size: Sc = "shm_size",
        stop_signal: Sc = "stop_signal",
        stop_grace_period: Sc = "stop_grace_period",
        init: Sc = "init",
        privileged: Sc = "privileged",
        read_only: Sc = "read_only",
        tty: Sc = "tty",
        stdin_open: Sc = "stdin_open",
        networks: At<NamesOrMap<RawServiceNetwork>> = "networks",
        profiles: Vec<Sc> = "profiles",
        container_name: Sc = "container_name",
        pull_policy: Sc = "pull_policy",
        platform: Sc = "platform",
        x_dockmatrix: At<RawXDockmatrix> = "x-dockmatrix",
        // Read only to be refused by name with what to do instead.
        secrets: At<IgnoredAny> = "secrets",
        configs: At<IgnoredAny> = "configs",
        extends: At<IgnoredAny> = "extends",
        network_mode: At<IgnoredAny> = "network_mode",
        links: At<IgnoredAny> = "links",
        external_links: At<IgnoredAny> = "external_links",
        volumes_from: At<IgnoredAny> = "volumes_from",
        pid: At<IgnoredAny> = "pid",
        ipc: At<IgnoredAny> = "ipc",
        devices: At<IgnoredAny> = "devices",
        scale: At<IgnoredAny> = "scale",
        develop: At<IgnoredAny> = "develop",
    }
}

compose_struct! {
    /// A top-level named volume.
    RawVolume expecting "a volume table" {
        driver: Sc = "driver",
        driver_opts: At<IgnoredAny> = "driver_opts",
        labels: At<MapOrList> = "labels",
        name: Sc = "name",
        external: Sc = "external",
    }
}

compose_struct! {
    /// A top-level network.
    RawNetwork expecting "a network table" {
        driver: Sc = "driver",
        driver_opts: At<IgnoredAny> = "driver_opts",
        labels: At<MapOrList> = "labels",
        name: Sc = "name",
        internal: Sc = "internal",
        attachable: Sc = "attachable",
        enable_ipv6: Sc = "enable_ipv6",
        ipam: At<IgnoredAny> = "ipam",
        external: Sc = "external",
    }
}

/// `env_file`: a path, a list of paths, or a list of `{path, required}`.
#[derive(Debug, Clone, PartialEq)]
pub enum StrOrListOfLong {
    Str(Scalar),
    List(Vec<At<ShortOrLong<RawEnvFile>>>),
}

impl<'de> Deserialize<'de> for StrOrListOfLong {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrOrListOfLong;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path or a list of paths")
            }
            visit_scalars!(StrOrListOfLong::Str);
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element()? {
                    out.push(x);
                }
                Ok(StrOrListOfLong::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an env_file entry such as { path: .env, required: false }"
)]
pub struct RawEnvFile {
    pub path: Sc,
    pub required: Option<Sc>,
    pub format: Option<Sc>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a port such as { target: 80, published: 8080 }"
)]
pub struct RawPort {
    pub target: Sc,
    pub published: Option<Sc>,
    pub host_ip: Option<Sc>,
    pub protocol: Option<Sc>,
    pub mode: Option<Sc>,
    pub name: Option<Sc>,
    pub app_protocol: Option<Sc>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a dependency such as { condition: service_healthy }"
)]
pub struct RawDependsOn {
    pub condition: Option<Sc>,
    pub required: Option<Sc>,
    pub restart: Option<Sc>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a healthcheck such as { test: [CMD, pg_isready], interval: 5s }"
)]
pub struct RawHealthcheck {
    pub test: Option<At<StrOrList>>,
    pub interval: Option<Sc>,
    pub timeout: Option<Sc>,
    pub retries: Option<Sc>,
    pub start_period: Option<Sc>,
    pub start_interval: Option<Sc>,
    pub disable: Option<Sc>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mount such as { type: bind, source: ./init, target: /init }"
)]
pub struct RawMount {
    #[serde(rename = "type")]
    pub kind: Sc,
    pub source: Option<Sc>,
    pub target: Option<Sc>,
    pub read_only: Option<Sc>,
    pub consistency: Option<Sc>,
    pub bind: Option<At<RawBindOptions>>,
    pub volume: Option<At<RawVolumeOptions>>,
    pub tmpfs: Option<At<RawTmpfsOptions>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "bind options such as { create_host_path: true }"
)]
pub struct RawBindOptions {
    pub propagation: Option<Sc>,
    pub create_host_path: Option<Sc>,
    pub selinux: Option<Sc>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "volume options such as { nocopy: true }"
)]
pub struct RawVolumeOptions {
    pub nocopy: Option<Sc>,
    pub subpath: Option<Sc>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "tmpfs options such as { size: 64m }")]
pub struct RawTmpfsOptions {
    pub size: Option<Sc>,
    pub mode: Option<Sc>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a ulimit such as { soft: 1024, hard: 2048 }"
)]
pub struct RawUlimit {
    pub soft: Sc,
    pub hard: Sc,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a service network such as { aliases: [db] }"
)]
pub struct RawServiceNetwork {
    #[serde(default)]
    pub aliases: Vec<Sc>,
    pub ipv4_address: Option<Sc>,
    pub ipv6_address: Option<Sc>,
    pub priority: Option<Sc>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a deploy table such as { resources: { limits: { memory: 512m } } }"
)]
pub struct RawDeploy {
    pub resources: Option<At<RawResources>>,
    pub replicas: Option<Sc>,
    pub restart_policy: Option<At<RawRestartPolicy>>,
    pub mode: Option<Sc>,
    pub labels: Option<At<IgnoredAny>>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "resources such as { limits: { cpus: '0.5', memory: 512m } }"
)]
pub struct RawResources {
    pub limits: Option<At<RawLimits>>,
    pub reservations: Option<At<IgnoredAny>>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "limits such as { cpus: '0.5', memory: 512m, pids: 100 }"
)]
pub struct RawLimits {
    pub cpus: Option<Sc>,
    pub memory: Option<Sc>,
    pub pids: Option<Sc>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a restart policy such as { condition: on-failure }"
)]
pub struct RawRestartPolicy {
    pub condition: Option<Sc>,
    pub max_attempts: Option<Sc>,
    pub delay: Option<Sc>,
    pub window: Option<Sc>,
}

/// dockmatrix's own keys on a compose service.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "x-dockmatrix such as { kind: postgres, version: \"16\" }"
)]
pub struct RawXDockmatrix {
    pub kind: Option<Sc>,
    pub version: Option<Sc>,
    pub ready: Option<At<RawReady>>,
}

/// The matrix's `ready` table, in YAML.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a ready table such as { http: /health, port: 8080 } or { tcp: 5432 }"
)]
pub struct RawReady {
    pub http: Option<Sc>,
    pub port: Option<Sc>,
    pub status: Option<Sc>,
    pub tcp: Option<Sc>,
    pub log: Option<Sc>,
    pub exec: Option<Vec<Sc>>,
    pub timeout: Option<Sc>,
}
