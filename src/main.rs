//! Entry point: the Ansible module when started with one argument that is a JSON file (how Ansible
//! runs binary modules), the CLI otherwise.

use clap::Parser;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if is_module_invocation(&args) {
        // No progress: the module's stdout is its JSON result and nobody watches its stderr.
        let progress = copy_containers::progress::Progress::none();
        copy_containers::logging::init(copy_containers::logging::LogFormat::Human, -1, progress);
        let (result, status) = copy_containers::module::main_with_file(std::path::Path::new(&args[1]));
        copy_containers::module::emit(&result);
        // Ansible reads the result from stdout; the status is for people running it by hand.
        std::process::exit(status);
    }
    let cli = copy_containers::cli::Cli::parse();
    std::process::exit(copy_containers::cli::run(cli));
}

/// Does argv look like a module invocation? (Decided here, where both faces are known, so that
/// neither face needs the other.) One argument that is not an option nor a subcommand,
/// naming something that exists: whatever it holds (not JSON, an array, nothing, a FIFO), the answer
/// is a module result (`failed` when it is not a JSON object), never the CLI's usage error.
fn is_module_invocation(args: &[String]) -> bool {
    use clap::CommandFactory;
    args.len() == 2
        && !args[1].starts_with('-')
        && args[1] != "help"
        && copy_containers::cli::Cli::command()
            .find_subcommand(&args[1])
            .is_none()
        && std::fs::metadata(&args[1]).is_ok()
}
