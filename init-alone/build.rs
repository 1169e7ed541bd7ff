//! Link nsinit without the C library's start-up files or libraries: it
//! has its own `_start` (src/rt.rs) and makes every system call itself.
fn main() {
    for arg in ["-nostartfiles", "-nostdlib", "-static", "-no-pie"] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
