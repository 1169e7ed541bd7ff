//! Link nsinit without the C library's start-up files or libraries: it
//! has its own `_start` (src/rt.rs) and makes every system call itself.
//! A release build also drops its symbol table, which cargo's `strip`
//! leaves in a program linked this way (15 KB of 115);
//! `NSINIT_KEEP_SYMBOLS=1` keeps it (bench/nsinit-size.sh reads it).
fn main() {
    for arg in ["-nostartfiles", "-nostdlib", "-static", "-no-pie"] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    let keep = std::env::var("NSINIT_KEEP_SYMBOLS").is_ok_and(|v| v == "1");
    if std::env::var("PROFILE").as_deref() == Ok("release") && !keep {
        println!("cargo:rustc-link-arg-bins=-Wl,--strip-all");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=NSINIT_KEEP_SYMBOLS");
}
