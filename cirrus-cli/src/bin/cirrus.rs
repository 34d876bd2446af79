//! `cirrus`: runs Cirrus server roles. See `cirrus --help`.

/// jemalloc: the roles' memory stays flat under a long mixed load, where
/// glibc's malloc fragments (docs/operations.md#memory).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    std::process::exit(cirrus_cli::server::main());
}
