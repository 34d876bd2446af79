//! `cirrusctl`: the operator CLI of the Cirrus control plane. See `cirrusctl --help`.

fn main() {
    std::process::exit(cirrus_cli::ctl::main_with_args(std::env::args_os()));
}
