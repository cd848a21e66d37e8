//! The library half of the `eksmgr` package: the plan renderers (human, JSON, Markdown), so that
//! benchmarks and examples can render plans exactly as the binary does. Everything else of the
//! command line (argument parsing, commands, AWS wiring) stays in the binary.

pub mod render;
