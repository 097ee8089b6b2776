//! The credentials the matrix configured for a service, as its image's entrypoint reads
//! them: readiness probes log in with them, and so do checks (with their own overrides).

use indexmap::IndexMap;

use crate::matrix::ServiceKind;

/// The credentials the matrix gave a service, as its image's entrypoint reads them.
#[derive(Clone, Default)]
pub(crate) struct Credentials {
    pub user: String,
    pub password: Option<String>,
    pub database: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("database", &self.database)
            .finish()
    }
}

/// The official images' variables: POSTGRES_USER/PASSWORD/DB; MARIADB_* or MYSQL_*
/// (root with the root password, unless the check names the app user); REDIS_PASSWORD
/// (or VALKEY_PASSWORD). A check's own `user`/`password`/`database` win.
pub(crate) fn credentials(
    kind: ServiceKind,
    env: &IndexMap<String, String>,
    user: Option<&str>,
    password: Option<&str>,
    database: Option<&str>,
) -> Credentials {
    let var = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| env.get(*n).filter(|v| !v.is_empty()).cloned())
    };
    let mut c = match kind {
        ServiceKind::Postgres => {
            let user = var(&["POSTGRES_USER"]).unwrap_or_else(|| "postgres".into());
            Credentials {
                database: var(&["POSTGRES_DB"]).or_else(|| Some(user.clone())),
                password: var(&["POSTGRES_PASSWORD"]),
                user,
            }
        }
        ServiceKind::Mysql => {
            let app_user = var(&["MARIADB_USER", "MYSQL_USER"]);
            let wanted = user.map(str::to_string);
            let (user, password) = match (&wanted, &app_user) {
                (Some(w), Some(a)) if w == a => {
                    (a.clone(), var(&["MARIADB_PASSWORD", "MYSQL_PASSWORD"]))
                }
                _ => (
                    "root".to_string(),
                    var(&["MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD"]),
                ),
            };
            Credentials {
                user,
                password,
                database: var(&["MARIADB_DATABASE", "MYSQL_DATABASE"]),
            }
        }
        ServiceKind::Redis => Credentials {
            user: "default".into(),
            password: var(&["REDIS_PASSWORD", "VALKEY_PASSWORD"]),
            database: None,
        },
        ServiceKind::Http | ServiceKind::Generic => Credentials::default(),
    };
    if let Some(u) = user {
        if u != c.user {
            // Another user than the configured one: only the check's password fits it.
            c.password = None;
        }
        c.user = u.to_string();
    }
    if let Some(p) = password {
        c.password = Some(p.to_string());
    }
    if let Some(d) = database {
        c.database = Some(d.to_string());
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn credentials_follow_the_official_images_variables() {
        let pg = credentials(
            ServiceKind::Postgres,
            &env(&[("POSTGRES_PASSWORD", "pw")]),
            None,
            None,
            None,
        );
        assert_eq!(
            (
                pg.user.as_str(),
                pg.password.as_deref(),
                pg.database.as_deref()
            ),
            ("postgres", Some("pw"), Some("postgres"))
        );
        let my = env(&[
            ("MYSQL_ROOT_PASSWORD", "root-pw"),
            ("MYSQL_DATABASE", "demo"),
            ("MYSQL_USER", "app"),
            ("MYSQL_PASSWORD", "app-pw"),
        ]);
        let root = credentials(ServiceKind::Mysql, &my, None, None, None);
        assert_eq!(
            (
                root.user.as_str(),
                root.password.as_deref(),
                root.database.as_deref()
            ),
            ("root", Some("root-pw"), Some("demo"))
        );
        let app = credentials(ServiceKind::Mysql, &my, Some("app"), None, None);
        assert_eq!(
            (app.user.as_str(), app.password.as_deref()),
            ("app", Some("app-pw"))
        );
        let other = credentials(ServiceKind::Mysql, &my, Some("x"), Some("y"), Some("z"));
        assert_eq!(
            (
                other.user.as_str(),
                other.password.as_deref(),
                other.database.as_deref()
            ),
            ("x", Some("y"), Some("z"))
        );
        let r = credentials(ServiceKind::Redis, &env(&[]), None, None, None);
        assert_eq!(r.password, None);
        assert!(!format!("{:?}", root).contains("root-pw"));
    }
}
