// Generates the BPF half of the scheduler from scx_rustland_core's templates: `main.bpf.c`,
// `intf.h` and `src/bpf.rs` land next to this file (git-ignored, rewritten only when they change),
// the compiled object and skeleton in OUT_DIR. clang >= 18 is required (set BPF_CLANG).
fn main() {
    std::fs::create_dir_all("src").expect("cannot create src/ for the generated BPF connector");
    scx_rustland_core::RustLandBuilder::new()
        .expect("scx_rustland_core: cannot set up the BPF build (is BPF_CLANG a clang >= 18?)")
        .build()
        .expect("scx_rustland_core: BPF build failed");
}
