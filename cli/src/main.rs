//! The `eksmgr` binary: command-line parsing, the commands, rendering and exit codes.
//!
//! Exit codes: 0 success (with `plan --detailed-exitcode`: no changes), 1 error, 2 changes
//! present (`plan --detailed-exitcode` only), 130 / 143 ended by SIGINT / SIGTERM.

mod agent;
mod cli;
mod commands;
mod context;
mod init;
mod interrupt;
mod kubeconfig;
mod open_files;
mod progress;
mod schema;
mod secrets;
mod store;
mod whoami;

use eksmgr::render;

use std::process::ExitCode;

use clap::Parser;

/// jemalloc rather than the system's malloc: with glibc's per-thread arenas a plan of thousands
/// of accounts kept about 185 MiB of freed memory above what it used; jemalloc, configured in
/// `.cargo/config.toml` (two arenas, freed pages returned at once), keeps it near the heap
/// (BENCHMARKS.md, "Peak memory").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse_from(cli::terraform_spellings(std::env::args_os()));
    let color = set_up_output(&args);
    init_logging(&args);
    // Before the first connection is opened.
    if let Some(parallelism) = args.command.parallelism()
        && let Some(warning) = open_files::raise_for(parallelism)
    {
        let out = progress::output();
        out.println(format_args!(
            "{} {warning}",
            out.styler().yellow("Warning:")
        ));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(4)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(commands::run(args, color));
    // Not waiting for what may still block (the confirmation prompt's reader, after an
    // interrupt): everything the command needed is done.
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            progress::output().println(render_error(&e, progress::output().styler()));
            ExitCode::from(1)
        }
    }
}

/// Diagnostic logs (the AWS SDK's among them: retries, credentials refresh) on stderr, as
/// `-v`/`-q` ask ([`progress::log_filter`]), or `RUST_LOG` when set, e.g.
/// `RUST_LOG=aws_smithy_runtime=debug`. Written through the progress bars, never tearing them.
fn init_logging(args: &cli::Cli) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = progress::log_filter(args.verbose, args.quiet, rust_log.as_deref());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(|| progress::LogWriter)
        .with_ansi(false)
        .try_init();
}

/// Colours for stdout (the plan; returned) and for stderr (progress, messages, errors), each
/// as `--color` and the environment say for that stream; sets up stderr's output too.
fn set_up_output(args: &cli::Cli) -> bool {
    use std::io::IsTerminal;
    let env = progress::ColorEnv::from_env();
    let choice = args.color_choice();
    let stdout = progress::use_color(choice, std::io::stdout().is_terminal(), env);
    let stderr_is_terminal = std::io::stderr().is_terminal();
    let stderr = progress::use_color(choice, stderr_is_terminal, env);
    // For what is styled through `console` (the progress bars' templates).
    console::set_colors_enabled(stdout);
    console::set_colors_enabled_stderr(stderr);
    let term = std::env::var("TERM").ok();
    let visible = progress::draw_progress(args.quiet, stderr_is_terminal, term.as_deref());
    progress::init(args.quiet, visible, stderr);
    stdout
}

/// An error for people: configuration errors as they are (they carry file:line:column),
/// anything else prefixed `Error:` with each cause once.
fn render_error(e: &anyhow::Error, s: render::Styler) -> String {
    if let Some(c) = e.downcast_ref::<eksmgr_engine::config::ConfigErrors>() {
        return c.to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    format!("{} {}", s.red("Error:"), parts.join(": "))
}

#[cfg(test)]
mod tests {
    /// The allocator options `.cargo/config.toml` compiles in are the ones in effect (a build
    /// from outside the repository, or without that file, would not have them).
    #[test]
    fn allocator_options_are_compiled_in() {
        let conf = tikv_jemalloc_ctl::config::malloc_conf::read().expect("config.malloc_conf");
        assert!(
            conf.contains("dirty_decay_ms:0") && conf.contains("muzzy_decay_ms:0"),
            "compiled-in jemalloc options: {conf:?}"
        );
        assert_eq!(
            tikv_jemalloc_ctl::opt::narenas::read().expect("opt.narenas"),
            2
        );
    }
}
