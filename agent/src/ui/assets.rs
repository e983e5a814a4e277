//! The page assets, embedded in the binary: the page's script and style sheet, and the vendored
//! uPlot charting library (MIT, see `assets/vendor/uplot/SOURCE.md`).
//!
//! Each asset is named by a hash of its content: pages link `static/<file>?v=<hash>`, and such a
//! request may be cached for good (`immutable`), since a new binary with a changed file links a new
//! URL. A request without the current hash is answered `no-cache` with an `ETag`, so it is
//! revalidated rather than trusted.

use std::sync::LazyLock;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Its name under `/static/`.
    pub name: &'static str,
    pub body: &'static [u8],
    pub content_type: &'static str,
    /// First 16 hex digits of the content's SHA-256: the `?v=` of its links and its `ETag`.
    pub hash: String,
}

impl Asset {
    /// The quoted entity tag.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.hash)
    }
}

/// The files, as (name, content, content type).
const FILES: [(&str, &[u8], &str); 5] = [
    (
        "ui.js",
        include_bytes!("assets/ui.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "ui.css",
        include_bytes!("assets/ui.css"),
        "text/css; charset=utf-8",
    ),
    (
        "uPlot.iife.min.js",
        include_bytes!("assets/vendor/uplot/uPlot.iife.min.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "uPlot.min.css",
        include_bytes!("assets/vendor/uplot/uPlot.min.css"),
        "text/css; charset=utf-8",
    ),
    (
        "uPlot.LICENSE.txt",
        include_bytes!("assets/vendor/uplot/LICENSE"),
        "text/plain; charset=utf-8",
    ),
];

/// Hashed once, on the first request that needs an asset.
static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|&(name, body, content_type)| Asset {
            name,
            body,
            content_type,
            hash: short_hash(body),
        })
        .collect()
});

/// The asset called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The link to asset `name` under `prefix` (`--url_base_prefix`), with its content hash.
pub fn url(prefix: &str, name: &str) -> String {
    match find(name) {
        Some(a) => format!("{prefix}/static/{}?v={}", a.name, a.hash),
        None => format!("{prefix}/static/{name}"),
    }
}

fn short_hash(body: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_found_with_a_stable_hash() {
        for (name, body, _) in FILES {
            let a = find(name).expect("listed file");
            assert!(!a.body.is_empty(), "{name} is empty");
            assert_eq!(a.body, body);
            assert_eq!(a.hash.len(), 16);
            assert_eq!(a.hash, short_hash(body), "hash of {name}");
            assert_eq!(a.etag(), format!("\"{}\"", a.hash));
        }
        assert!(find("containers.js").is_none());
        assert!(find("").is_none());
    }

    #[test]
    fn links_carry_the_prefix_and_the_hash() {
        let a = find("ui.js").expect("ui.js");
        assert_eq!(
            url("/cadvisor", "ui.js"),
            format!("/cadvisor/static/ui.js?v={}", a.hash)
        );
        assert!(url("", "uPlot.min.css").starts_with("/static/uPlot.min.css?v="));
    }

    #[test]
    fn the_vendored_chart_library_is_the_pinned_release() {
        let js = find("uPlot.iife.min.js").expect("uPlot");
        let head = String::from_utf8_lossy(&js.body[..200]);
        assert!(head.contains("uPlot (v1.6.32)"), "{head}");
        let licence = find("uPlot.LICENSE.txt").expect("licence");
        assert!(String::from_utf8_lossy(licence.body).contains("MIT License"));
    }
}
