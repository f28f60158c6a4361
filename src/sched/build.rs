// Generates the BPF half of the scheduler from scx_rustland_core's templates: `main.bpf.c`,
// `intf.h` and `src/bpf.rs` land next to this file (git-ignored, rewritten only when they change),
// the compiled object and skeleton in OUT_DIR. clang >= 18 comes from BPF_CLANG
// (.cargo/config.toml defaults it to Debian's clang-19).
fn main() {
    std::fs::create_dir_all("src").expect("cannot create src/ for the generated BPF connector");
    scx_rustland_core::RustLandBuilder::new()
        .expect("scx_rustland_core: cannot set up the BPF build (need clang >= 18: apt install clang-19, or set BPF_CLANG)")
        .build()
        .expect("scx_rustland_core: BPF build failed");
}
