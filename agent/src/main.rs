//! The `bpfadvisor` binary: parse flags, validate them, run the agent.

use bpfadvisor::{app, cli::Cli, config::Config};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse_go_style();
    let config = Config::from_cli(&cli)?;
    app::init_logging(&config.log_filter);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("bpfadvisor")
        .build()?;
    runtime.block_on(app::run(config))
}
