//! `cirrus`: runs Cirrus server roles. See `cirrus --help`.

fn main() {
    std::process::exit(cirrus_cli::server::main());
}
