# A stand-in for nixpkgs, for offline evaluation of flake.nix only (see ../README.md): it has the
# few functions and packages the flake uses, as plain attribute sets that record their arguments.
# A name the flake uses that is not here fails evaluation, which is the point.
{ system }:
let
  lib = import ./lib.nix;
  drv = name: extra: { type = "derivation"; inherit name; outPath = "/nix/store/stub-${name}"; meta = { mainProgram = name; }; } // extra;
  pkg = name: drv name { };
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
    packages.linux_6_12.perf = pkg "perf";
  };
  llvmPackages.clang = drv "clang" { meta.mainProgram = "clang"; };
  rustPlatform.bindgenHook = pkg "bindgen-hook";
  writeText = name: text: drv name { inherit text; };
  writeShellScript = name: text: drv name { inherit text; };
  runCommand = name: attrs: script: drv name { inherit attrs script; };
}
// lib.genAttrs [
  "pkg-config" "elfutils" "zlib" "zstd" "libseccomp" "virtme-ng" "qemu" "virtiofsd" "busybox"
  "stress-ng" "rt-tests" "bpftools" "kmod" "coreutils" "util-linux" "gnumake" "bash" "libbpf"
  "rust-analyzer" "python3" "nixfmt"
] pkg
