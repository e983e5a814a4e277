//! The `bpfadvisor` binary: parse flags, validate them, run the agent.

use bpfadvisor::machine::version::{REVISION, VERSION};
use bpfadvisor::{app, cli::Cli, config::Config};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse_go_style();
    if cli.version {
        // cAdvisor's line, which scripts and probes may parse.
        println!("cAdvisor version {VERSION} ({REVISION})");
        return Ok(());
    }
    // One line, whatever RUST_BACKTRACE says: a refused flag must be plain to whoever reads the log.
    let config = match Config::from_cli(&cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::exit(1);
        }
    };
    app::init_logging(&config.log);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads)
        .enable_all()
        .thread_name("bpfadvisor")
        .build()?;
    runtime.block_on(app::run(config))
}
