// Builds the tracer's BPF program (bpf/tracer.bpf.c, CO-RE against the vmlinux.h that scx_utils
// ships) and its libbpf-rs skeleton, and generates Rust bindings for bpf/intf.h. Same toolchain
// as the scheduler's BPF half (scx_cargo → libbpf-cargo 0.27.2); clang >= 18 from BPF_CLANG.
fn main() {
    scx_cargo::BpfBuilder::new()
        .expect("cannot set up the BPF build (need clang >= 18: apt install clang-19, or set BPF_CLANG)")
        .enable_intf("../../bpf/intf.h", "tracer_intf.rs")
        .enable_skel("../../bpf/tracer.bpf.c", "tracer")
        .build()
        .expect("building bpf/tracer.bpf.c failed");
}
