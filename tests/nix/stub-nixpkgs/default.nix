# A stand-in for nixpkgs, for offline evaluation of flake.nix only (see ../README.md): it has the
# few functions and packages the flake uses, as plain attribute sets that record their arguments.
# A name the flake uses that is not here fails evaluation, which is the point.
{ system }:
let
  lib = import ./lib.nix;
  drv = name: extra: { type = "derivation"; inherit name; outPath = "/nix/store/stub-${name}"; meta = { mainProgram = name; }; } // extra;
  pkg = name: drv name { };
  # The flake keeps only toString of a script (an app's program): the stand-in's path carries the
  # text after a "#", for outputs.nix to check what the apps run.
  script = name: text: drv name { inherit text; outPath = "/nix/store/stub-${name}#${text}"; };
  kernelDrv = args: drv "linux-6.12" {
    version = "6.12.0";
    modDirVersion = "6.12.0";
    configfile = drv "linux-config-6.12" { };
    overrideArgs = args;
  };
in
{
  inherit lib system;
  linuxKernel = {
    kernels.linux_6_12 = kernelDrv { } // { override = kernelDrv; };
  };
  python3 = pkg "python3" // {
    withPackages = f: drv "python3-env" { pythonPackages = map (p: p.name) (f (lib.genAttrs [ "scikit-learn" "pyarrow" "numpy" ] pkg)); };
  };
  scx.rustscheds = pkg "scx_rustscheds";
  nixfmt-tree = pkg "nixfmt-tree" // { override = args: drv "nixfmt-tree" { overrideArgs = args; }; };
  llvmPackages.clang = drv "clang" { meta.mainProgram = "clang"; };
  rustPlatform.bindgenHook = pkg "bindgen-hook";
  writeText = name: text: drv name { inherit text; };
  writeShellScript = script;
  runCommand = name: attrs: script: drv name { inherit attrs script; };
}
// lib.genAttrs [
  "pkg-config" "elfutils" "zlib" "zstd" "libseccomp" "virtme-ng" "qemu" "virtiofsd" "busybox"
  "stress-ng" "rt-tests" "bpftools" "kmod" "coreutils" "util-linux" "gnumake" "bash" "libbpf"
  "rust-analyzer" "perf" "nixfmt-rs"
] pkg
