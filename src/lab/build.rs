// Builds the tracer's BPF program (bpf/tracer.bpf.c, CO-RE against the vmlinux.h that scx_utils
// ships) and its libbpf-rs skeleton, and generates Rust bindings for bpf/intf.h. Same toolchain
// as the scheduler's BPF half (scx_cargo → libbpf-cargo 0.27.2). Needs clang >= 18 (BPF_CLANG).
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
    scx_cargo::BpfBuilder::new()
        .expect("cannot set up the BPF build (need clang >= 18: apt install clang-19, or set BPF_CLANG)")
        .enable_intf("../../bpf/intf.h", "tracer_intf.rs")
        .enable_skel("../../bpf/tracer.bpf.c", "tracer")
        .build()
        .expect("building bpf/tracer.bpf.c failed");
}
