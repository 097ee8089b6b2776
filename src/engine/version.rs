//! Versions as engine images and packages write them (`1.0.0~rc93+ds1`, `6.1.0-18-amd64`),
//! read into semver: shared by preflight and the daemon.json lint.

use crate::matrix::Version;

/// A version as packages write it: Debian's `~` before a pre-release (`1.0.0~rc93+ds1`)
/// is DESIGN.md's `-` (`1.0.0-rc93`); a repack suffix (`1.4.13~ds1`) is ignored; a
/// kernel's build (`6.1.0-18-amd64`) is no pre-release of its version.
pub fn package_version(s: &str) -> Option<Version> {
    let s = s.trim();
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    let numeric_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, rest) = s.split_at(numeric_end);
    let pre = ["~rc", "-rc", "~beta", "-beta", "~alpha", "-alpha"]
        .iter()
        .find(|p| rest.starts_with(*p))
        .map(|p| &rest[1..p.len()]);
    match pre {
        Some(word) => {
            let digits: String = rest[word.len() + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            Version::parse(&format!("{number}-{word}{digits}"))
        }
        None => Version::parse(number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_versions_read_debian_pre_releases() {
        let v = |s| package_version(s).unwrap_or_else(|| panic!("{s} parses"));
        assert!(v("1.0.0~rc93+ds1-5+deb11u5") < v("1.0.0"));
        assert!(v("1.0.0~rc93+ds1-5+deb11u5") > v("1.0.0-rc91"));
        assert!(v("1.0.0~rc90") < v("1.0.0-rc91"));
        assert!(v("1.4.13~ds1-1~deb11u6") == v("1.4.13"));
        assert!(v("6.1.0-18-amd64") == v("6.1.0"));
        assert!(v("v1.1.5") == v("1.1.5"));
        assert!(package_version("unknown").is_none());
    }
}
