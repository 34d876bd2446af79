//! `cirrus`: runs Cirrus server roles. See `cirrus --help`.

/// jemalloc: the roles' memory stays flat under a long mixed load, where
/// glibc's malloc fragments (docs/operations.md#memory).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    cirrus_cli::server::allocator::jemalloc_is_global();
    std::process::exit(cirrus_cli::server::main());
}
