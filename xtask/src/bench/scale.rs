//! `bench live --scale N1,N2,...`: the live scenario once per container count, then a table
//! (`<out>.md`) and a plot (`<out>.svg`) of CPU, memory and request latencies against N, with the
//! targets drawn in.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::{
    Agent, CgroupSet, LiveArgs, PARENT, Scrape, count_containers, cpu_seconds, free_port,
    load_average, memory_kib, scrape, wait_healthy,
};

/// What one run at N containers measured.
#[derive(Debug, Clone)]
pub struct Point {
    pub containers: usize,
    pub known: usize,
    pub cpu_pct: f64,
    pub us_per_sample: f64,
    pub rss_mb: f64,
    pub hwm_mb: f64,
    pub metrics: Scrape,
    pub metrics_gz: Scrape,
    /// cAdvisor's default `count` (64 samples per container): few GETs, each is large.
    pub stats: Scrape,
    /// `count=1`: the newest sample of each container.
    pub stats1: Scrape,
    pub load_before: String,
    pub load_after: String,
}

/// The targets at the largest size (fixed 1 s housekeeping).
const CPU_PCT_TARGET: f64 = 25.0;
const RSS_MB_TARGET: f64 = 150.0;
const METRICS_P99_TARGET_MS: f64 = 150.0;
const STATS_P99_TARGET_MS: f64 = 500.0;
/// GETs of the full recursive stats (64 samples per container: hundreds of MB at thousands).
const STATS_GETS: usize = 3;

/// Runs the scenario for each size in `a.scale` and writes `<out>.md` and `<out>.svg`.
pub fn run(bin: &Path, a: &LiveArgs, out: &Path) -> anyhow::Result<()> {
    let mut points = Vec::new();
    for &n in &a.scale {
        let p = point(bin, a, n).with_context(|| format!("{n} containers"))?;
        eprintln!("bench: {n} containers: {p:?}");
        points.push(p);
    }
    let md = table(&points, a);
    let svg = plot(&points);
    let (md_path, svg_path) = (out.with_extension("md"), out.with_extension("svg"));
    std::fs::write(&md_path, &md).with_context(|| md_path.display().to_string())?;
    std::fs::write(&svg_path, svg).with_context(|| svg_path.display().to_string())?;
    println!("{md}");
    eprintln!(
        "bench: wrote {} and {}",
        md_path.display(),
        svg_path.display()
    );
    Ok(())
}

fn point(bin: &Path, a: &LiveArgs, n: usize) -> anyhow::Result<Point> {
    let t = Instant::now();
    let cgroups = CgroupSet::create(n)?;
    eprintln!(
        "bench: created {n} cgroups in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let hierarchies = cgroups.hierarchies.clone();
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let log = std::env::temp_dir().join("bpfadvisor-bench-agent.log");
    let agent = Agent::start(bin, port, &a.agent_args, &log)?;
    let pid = agent.pid();
    wait_healthy(&base, Duration::from_secs(120))?;
    std::thread::sleep(Duration::from_secs(a.warmup));
    let known = count_containers(&base).unwrap_or(0);
    let load_before = load_average();
    let cpu0 = cpu_seconds(pid)?;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(a.seconds.max(1)));
    let cpu = cpu_seconds(pid)? - cpu0;
    let wall = t0.elapsed().as_secs_f64();
    let rate = cpu / wall;
    let (rss, hwm) = memory_kib(pid)?;
    let k = a.requests.max(1);
    let metrics = scrape(&base, "/metrics", k, false, pid, rate)?;
    let metrics_gz = scrape(&base, "/metrics", k, true, pid, rate)?;
    let stats1 = scrape(
        &base,
        "/api/v2.0/stats?recursive=true&count=1",
        k,
        false,
        pid,
        rate,
    )?;
    let stats = scrape(
        &base,
        "/api/v2.0/stats?recursive=true",
        k.min(STATS_GETS),
        false,
        pid,
        rate,
    )?;
    let load_after = load_average();
    drop(agent);
    drop(cgroups);
    // The bench's cgroups must all be gone again.
    let left: Vec<_> = hierarchies
        .iter()
        .map(|h| h.join(PARENT))
        .filter(|p| p.exists())
        .collect();
    anyhow::ensure!(left.is_empty(), "cgroups left behind: {left:?}");
    let tracked = if known > 0 { known } else { n };
    Ok(Point {
        containers: n,
        known,
        cpu_pct: 100.0 * rate,
        us_per_sample: 1e6 * cpu / (tracked as f64 * wall),
        rss_mb: rss as f64 / 1024.0,
        hwm_mb: hwm as f64 / 1024.0,
        metrics,
        metrics_gz,
        stats,
        stats1,
        load_before,
        load_after,
    })
}

fn table(points: &[Point], a: &LiveArgs) -> String {
    let mut s = String::new();
    let sizes: Vec<String> = a.scale.iter().map(ToString::to_string).collect();
    let _ = writeln!(
        s,
        "# Scaling\n\nWritten by `cargo xtask bench live --scale {} --warmup {} --seconds {} \
         --requests {}` (fixed 1 s housekeeping, 2 minutes of history; see performance.md). \
         Latencies are {} sequential GETs each ({STATS_GETS} of the full recursive stats), whole body read; \"CPU per request\" is the \
         agent's CPU during the GETs less its background rate, per GET.\n\n![scaling](scaling.svg)\n",
        sizes.join(","),
        a.warmup,
        a.seconds,
        a.requests,
        a.requests.max(1),
    );
    let _ = writeln!(
        s,
        "| containers (known) | CPU % of a core | CPU per container-sample | VmRSS (VmHWM) | \
         `/metrics` p50 / p99 | body | CPU per request | gzip: p50 / p99 | body | CPU per request | \
         `/api/v2.0/stats?recursive=true` p50 / p99 | body | CPU per request | `…&count=1` p50 / p99 | \
         body | load before / after |"
    );
    let _ = writeln!(s, "|{}", "---|".repeat(17));
    for p in points {
        let _ = writeln!(
            s,
            "| {} ({}) | {:.2} | {:.1} µs | {:.1} MB ({:.1} MB) | {} | {} | {:.1} ms | {} | {} | {:.1} ms | {} | {} | {:.1} ms | {} | {} | {} / {} |",
            p.containers,
            p.known,
            p.cpu_pct,
            p.us_per_sample,
            p.rss_mb,
            p.hwm_mb,
            p.metrics.p50_p99(),
            mb(p.metrics.bytes),
            p.metrics.cpu_ms,
            p.metrics_gz.p50_p99(),
            mb(p.metrics_gz.bytes),
            p.metrics_gz.cpu_ms,
            p.stats.p50_p99(),
            mb(p.stats.bytes),
            p.stats.cpu_ms,
            p.stats1.p50_p99(),
            mb(p.stats1.bytes),
            p.load_before,
            p.load_after,
        );
    }
    let _ = writeln!(
        s,
        "\nTargets at 5000 containers: CPU < {CPU_PCT_TARGET}% of a core, VmRSS < {RSS_MB_TARGET} MB, \
         `/metrics` p99 < {METRICS_P99_TARGET_MS} ms, `/api/v2.0/stats?recursive=true` p99 < \
         {STATS_P99_TARGET_MS} ms (dashed lines in the plot). After each size the bench checked that no `{PARENT}` cgroup was \
         left in any hierarchy."
    );
    s
}

fn mb(bytes: usize) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

/// Four panels against N (log-free, linear axes): CPU %, VmRSS, `/metrics` p99 (plain and gzip),
/// stats p99; each target as a dashed line.
pub fn plot(points: &[Point]) -> String {
    type Series<'a> = (&'a str, &'a str, Vec<(f64, f64)>);
    let xy = |f: &dyn Fn(&Point) -> f64| -> Vec<(f64, f64)> {
        points.iter().map(|p| (p.containers as f64, f(p))).collect()
    };
    let panels: [(&str, Vec<Series>, f64); 4] = [
        (
            "agent CPU, % of a core",
            vec![("CPU", "#1f77b4", xy(&|p| p.cpu_pct))],
            CPU_PCT_TARGET,
        ),
        (
            "VmRSS, MB",
            vec![("RSS", "#2ca02c", xy(&|p| p.rss_mb))],
            RSS_MB_TARGET,
        ),
        (
            "/metrics p99, ms",
            vec![
                ("plain", "#d62728", xy(&|p| p.metrics.p99_ms())),
                ("gzip", "#ff7f0e", xy(&|p| p.metrics_gz.p99_ms())),
            ],
            METRICS_P99_TARGET_MS,
        ),
        (
            "/api/v2.0/stats?recursive=true p99, ms",
            vec![
                ("count=64 (default)", "#9467bd", xy(&|p| p.stats.p99_ms())),
                ("count=1", "#8c564b", xy(&|p| p.stats1.p99_ms())),
            ],
            STATS_P99_TARGET_MS,
        ),
    ];
    let (pw, ph, margin) = (360.0, 220.0, 50.0);
    let (w, h) = (2.0 * (pw + margin) + margin, 2.0 * (ph + margin) + margin);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let x_max = points
        .iter()
        .map(|p| p.containers as f64)
        .fold(1.0, f64::max);
    for (i, (title, series, target)) in panels.iter().enumerate() {
        let ox = margin + (i % 2) as f64 * (pw + margin);
        let oy = margin + (i / 2) as f64 * (ph + margin);
        let y_max = series
            .iter()
            .flat_map(|(_, _, v)| v.iter().map(|(_, y)| *y))
            .fold(*target, f64::max)
            * 1.1;
        let px = |x: f64| ox + pw * x / x_max;
        let py = |y: f64| oy + ph - ph * y / y_max;
        let _ = writeln!(
            s,
            r#"<text x="{ox}" y="{}" font-size="13">{}</text>"#,
            oy - 8.0,
            escape(title)
        );
        let _ = writeln!(
            s,
            r##"<rect x="{ox}" y="{oy}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>"##
        );
        for k in 0..=4 {
            let y = y_max * f64::from(k) / 4.0;
            let _ = writeln!(
                s,
                r##"<text x="{}" y="{:.1}" text-anchor="end">{}</text><line x1="{ox}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#eee"/>"##,
                ox - 4.0,
                py(y) + 4.0,
                fmt_tick(y),
                ox + pw,
                py(y),
                py(y)
            );
        }
        for p in points {
            let x = px(p.containers as f64);
            let _ = writeln!(
                s,
                r#"<text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
                oy + ph + 14.0,
                p.containers
            );
        }
        let _ = writeln!(
            s,
            r##"<line x1="{ox}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#000" stroke-dasharray="5,4"/><text x="{}" y="{:.1}" text-anchor="end">target {}</text>"##,
            ox + pw,
            py(*target),
            py(*target),
            ox + pw - 4.0,
            py(*target) - 4.0,
            fmt_tick(*target)
        );
        for (j, (name, color, v)) in series.iter().enumerate() {
            let pts: Vec<String> = v
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
                pts.join(" ")
            );
            for (x, y) in v {
                let _ = writeln!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                    px(*x),
                    py(*y)
                );
            }
            if series.len() > 1 {
                let _ = writeln!(
                    s,
                    r#"<text x="{}" y="{}" fill="{color}">{name}</text>"#,
                    ox + 8.0,
                    oy + 14.0 + 13.0 * j as f64
                );
            }
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">containers</text>"#,
            ox + pw / 2.0,
            oy + ph + 28.0
        );
    }
    s.push_str("</svg>\n");
    s
}

fn fmt_tick(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape_ms(ms: u64) -> Scrape {
        Scrape {
            times: vec![Duration::from_millis(ms)],
            bytes: 1000,
            cpu_ms: 1.0,
        }
    }

    #[test]
    fn plot_is_svg_with_a_line_per_series_and_targets() {
        let p = |n: usize| Point {
            containers: n,
            known: n,
            cpu_pct: n as f64 / 500.0,
            us_per_sample: 20.0,
            rss_mb: 30.0,
            hwm_mb: 40.0,
            metrics: scrape_ms(10),
            metrics_gz: scrape_ms(12),
            stats: scrape_ms(50),
            stats1: scrape_ms(5),
            load_before: "0".into(),
            load_after: "0".into(),
        };
        let svg = plot(&[p(100), p(1000), p(5000)]);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<polyline").count(), 6);
        assert_eq!(svg.matches("stroke-dasharray").count(), 4);
        assert!(svg.contains("target 150"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }
}
