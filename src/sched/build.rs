// Generates the BPF half of the scheduler from scx_rustland_core's templates: `main.bpf.c`,
// `intf.h` and `src/bpf.rs` land next to this file (git-ignored, rewritten only when they change),
// the compiled object and skeleton in OUT_DIR.
//
// BPF needs clang >= 18. Debian 12's default `clang` is 14, so unless BPF_CLANG is set we pick
// the first versioned clang on PATH (clang-21 … clang-18), then plain `clang`.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=BPF_CLANG");
    if std::env::var_os("BPF_CLANG").is_none() {
        let found = ["clang-21", "clang-20", "clang-19", "clang-18", "clang"]
            .into_iter()
            .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()));
        if let Some(c) = found {
            std::env::set_var("BPF_CLANG", c);
        }
    }
    std::fs::create_dir_all("src").expect("cannot create src/ for the generated BPF connector");
    scx_rustland_core::RustLandBuilder::new()
        .expect("scx_rustland_core: cannot set up the BPF build (need clang >= 18: apt install clang-19, or set BPF_CLANG)")
        .build()
        .expect("scx_rustland_core: BPF build failed");
}
