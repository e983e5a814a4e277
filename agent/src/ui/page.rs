//! The HTML shell every page shares, and the names it shows. The shell carries only what the
//! server knows at once (the URL prefix, the container's full name, its display name); the script
//! fills in everything else from the REST API.

use crate::model::v1::ContainerReference;

use super::assets;

const TEMPLATE: &str = include_str!("assets/index.html");

/// Which page the shell is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// One container (`/containers/<name>`, `/docker/<id>`).
    Container,
    /// A runtime's container list (`/docker/`, `/podman/`).
    RuntimeList,
}

impl View {
    fn as_str(self) -> &'static str {
        match self {
            Self::Container => "container",
            Self::RuntimeList => "runtime",
        }
    }
}

/// What one page shows before its script runs.
#[derive(Debug)]
pub struct Shell<'a> {
    /// `--url_base_prefix`, without a trailing slash.
    pub prefix: &'a str,
    pub view: View,
    /// The container's full name (`/docker/<id>`); empty on a list page.
    pub name: &'a str,
    /// The page heading.
    pub title: &'a str,
    /// `docker` or `podman` when reached through `/docker/` or `/podman/`, else empty.
    pub runtime: &'a str,
}

impl Shell<'_> {
    pub fn render(&self) -> String {
        let vars = [
            ("prefix", escape(self.prefix)),
            ("view", self.view.as_str().to_string()),
            ("name", escape(self.name)),
            ("title", escape(self.title)),
            ("runtime", escape(self.runtime)),
            ("ui_js", escape(&assets::url(self.prefix, "ui.js"))),
            ("ui_css", escape(&assets::url(self.prefix, "ui.css"))),
            (
                "uplot_js",
                escape(&assets::url(self.prefix, "uPlot.iife.min.js")),
            ),
            (
                "uplot_css",
                escape(&assets::url(self.prefix, "uPlot.min.css")),
            ),
        ];
        fill(TEMPLATE, &vars)
    }
}

/// Replaces each `{{key}}` of `template` with its value (already escaped); unknown keys become
/// empty.
fn fill(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = &after[..end];
        if let Some((_, v)) = vars.iter().find(|(k, _)| *k == key) {
            out.push_str(v);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// HTML text and attribute escaping.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The longest alias shown before it is cut.
const MAX_ALIAS_CHARS: usize = 50;

/// How cAdvisor's pages name a container: its shortest alias that is not part of the name (a
/// runtime's container name rather than its id), cut to 50 characters, followed by the full name
/// in parentheses; the plain name when there is no such alias.
pub fn display_name(reference: &ContainerReference) -> String {
    let alias = reference
        .aliases
        .iter()
        .filter(|a| !reference.name.contains(a.as_str()))
        .fold(None::<&String>, |best, a| match best {
            Some(b) if b.len() < a.len() => Some(b),
            _ => Some(a),
        });
    match alias {
        None => reference.name.clone(),
        Some(a) => {
            let shown = match a.char_indices().nth(MAX_ALIAS_CHARS) {
                Some((cut, _)) => format!("{}...", &a[..cut]),
                None => a.clone(),
            };
            format!("{shown} ({})", reference.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str, aliases: &[&str]) -> ContainerReference {
        ContainerReference {
            name: name.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn display_names_follow_cadvisor() {
        let id = "9ad0c1e067";
        let name = format!("/docker/{id}");
        assert_eq!(display_name(&reference("/", &[])), "/");
        // The id is part of the name, so the runtime's name is picked.
        assert_eq!(
            display_name(&reference(&name, &["web", id])),
            format!("web ({name})")
        );
        // The shortest alias wins (the last of equal length, as cAdvisor's `>=`).
        assert_eq!(
            display_name(&reference(&name, &["frontend", "abc", "xyz"])),
            format!("xyz ({name})")
        );
        assert_eq!(display_name(&reference(&name, &[id])), name);
        let long = "ä".repeat(60);
        assert_eq!(
            display_name(&reference(&name, &[&long])),
            format!("{}... ({name})", "ä".repeat(50))
        );
    }

    #[test]
    fn the_shell_escapes_what_it_is_given() {
        let html = Shell {
            prefix: "/p",
            view: View::Container,
            name: "/a\"<b>",
            title: "x & y",
            runtime: "",
        }
        .render();
        assert!(html.contains("data-name=\"/a&#34;&lt;b&gt;\""), "{html}");
        assert!(html.contains("x &amp; y"));
        assert!(html.contains("data-view=\"container\""));
        assert!(html.contains("src=\"/p/static/ui.js?v="));
        assert!(html.contains("href=\"/p/static/uPlot.min.css?v="));
        assert!(!html.contains("{{"), "unfilled placeholder in {html}");
    }

    #[test]
    fn fill_replaces_known_keys_and_drops_unknown_ones() {
        let vars = [("a", "1".to_string())];
        assert_eq!(fill("x{{a}}y{{b}}z", &vars), "x1yz");
        assert_eq!(fill("open {{a", &vars), "open {{a");
        assert_eq!(fill("", &vars), "");
    }
}
