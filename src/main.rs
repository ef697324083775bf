//! Entry point: the CLI (and, later, the Ansible module face of the same binary).

use clap::Parser;

fn main() {
    let cli = copy_containers::cli::Cli::parse();
    std::process::exit(copy_containers::cli::run(cli));
}
