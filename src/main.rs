//! Entry point: the Ansible module when started with one argument that is a JSON file (how Ansible
//! runs binary modules), the CLI otherwise.

use clap::Parser;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if copy_containers::module::is_module_invocation(&args) {
        // No progress: the module's stdout is its JSON result and nobody watches its stderr.
        let progress = copy_containers::progress::Progress::none();
        copy_containers::logging::init(copy_containers::logging::LogFormat::Human, -1, progress);
        let (result, failed) = copy_containers::module::main_with_file(std::path::Path::new(&args[1]));
        println!("{result}");
        // Ansible reads the result from stdout; the status is for people running it by hand.
        std::process::exit(i32::from(failed));
    }
    let cli = copy_containers::cli::Cli::parse();
    std::process::exit(copy_containers::cli::run(cli));
}
