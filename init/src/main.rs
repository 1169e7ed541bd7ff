//! The nsinit executable: see the library (`lib.rs`) for what it does.

fn main() {
    nsinit::main_with(std::env::args_os().skip(1).collect())
}
