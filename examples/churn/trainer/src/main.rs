//! `churn-trainer`: trains the quickstart's churn model; see the library docs.

use std::process::ExitCode;

fn main() -> ExitCode {
    lathe_example_trainer::cli_main(std::env::args_os())
}
