//! The `eksmgr` binary: command-line parsing, the commands, rendering and exit codes.
//!
//! Exit codes: 0 success (with `plan --detailed-exitcode`: no changes), 1 error, 2 changes
//! present (`plan --detailed-exitcode` only), 130 interrupted twice.

mod cli;
mod commands;
mod context;
mod kubeconfig;

use eksmgr::render;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    init_logging();
    let color = render_color(&args);
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
    match runtime.block_on(commands::run(args, color)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{}", render_error(&e, render::Styler::new(color)));
            ExitCode::from(1)
        }
    }
}

/// Diagnostic logs (the AWS SDK's among them: retries, credentials refresh) on stderr when
/// `RUST_LOG` asks for them, e.g. `RUST_LOG=aws_smithy_runtime=debug`; silent otherwise.
fn init_logging() {
    if std::env::var_os("RUST_LOG").is_none() {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Colour only on a terminal, never with `NO_COLOR` set or `--no-color`.
fn render_color(args: &cli::Cli) -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !args.no_color && !no_color && std::io::stdout().is_terminal()
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
