{
  description = "scx_mimic: a reproducible lab for AI-driven Linux CPU scheduling with sched_ext";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    crane.url = "github:ipetkov/crane";
  };

  outputs =
    { self, nixpkgs, crane }:
    let
      system = "x86_64-linux";
      pkgs = import nixpkgs { inherit system; };
      inherit (pkgs) lib;
      craneLib = crane.mkLib pkgs;

      # The guest kernel: nixpkgs' 6.12 plus the options in vm/kernel.config (the list the
      # Debian path checks too), all forced built in so virtme-ng needs no modules.
      kernelOptions = import ./vm/kernel-options.nix { inherit lib; };
      kernel = pkgs.linuxKernel.kernels.linux_6_12.override {
        structuredExtraConfig = lib.mapAttrs (_: _: lib.mkForce lib.kernel.yes) kernelOptions;
      };

      # Sources cargo needs, plus the BPF C sources and the model/dataset files the tools read.
      src = lib.cleanSourceWith {
        src = ./.;
        filter =
          path: type:
          (craneLib.filterCargoSources path type)
          || (lib.hasInfix "/bpf/" path)
          || (lib.hasSuffix ".bpf.c" path)
          || (lib.hasSuffix ".h" path);
      };

      # The same build environment nixpkgs' own `scx` package uses for scx_rustland_core
      # schedulers: a clang for the BPF target, bindgen, libelf/zlib/zstd/libseccomp.
      commonArgs = {
        inherit src;
        pname = "scx_mimic";
        version = "0.1.0";
        strictDeps = true;
        cargoExtraArgs = "--workspace";
        nativeBuildInputs = [
          pkgs.pkg-config
          pkgs.rustPlatform.bindgenHook
        ];
        buildInputs = [
          pkgs.elfutils
          pkgs.zlib
          pkgs.zstd
          pkgs.libseccomp
        ];
        env = {
          BPF_CLANG = lib.getExe pkgs.llvmPackages.clang;
          RUSTFLAGS = "-C relocation-model=pic -C link-args=-lelf -C link-args=-lz -C link-args=-lzstd";
        };
        hardeningDisable = [ "zerocallusedregs" ];
      };
      cargoArtifacts = craneLib.buildDepsOnly commonArgs;
      scx_mimic = craneLib.buildPackage (
        commonArgs
        // {
          inherit cargoArtifacts;
          # The unit tests run here; the VM tests need a guest (see checks.vm-gate).
          cargoTestExtraArgs = "--workspace";
          meta.mainProgram = "scx_mimic";
        }
      );

      perf = pkgs.linuxKernel.packages.linux_6_12.perf;

      # Everything the VM loop and the benchmarks run, on the host and (shared by virtme-ng's
      # 9p root) in the guest.
      runtimeTools = [
        pkgs.virtme-ng
        pkgs.qemu
        pkgs.virtiofsd
        pkgs.busybox
        pkgs.stress-ng
        pkgs.rt-tests
        perf
        pkgs.bpftools
        pkgs.kmod
        pkgs.coreutils
        pkgs.util-linux
        pkgs.gnumake
        pkgs.bash
      ];

      # The env file vm/kernel.sh would write, for the flake's kernel.
      kernelEnv = pkgs.writeText "scx-mimic-kernel.env" ''
        KERNEL_IMAGE=${kernel}/bzImage
        KERNEL_RELEASE=${kernel.modDirVersion}
        KERNEL_PKG_VERSION=nixpkgs-${kernel.version}
        KERNEL_CONFIG=${kernel.configfile}
        KERNEL_SOURCE=nixpkgs
      '';

      # `nix run .#TARGET` runs the Makefile target in the current checkout, with the flake's
      # binaries, tools and kernel instead of apt, a venv and Debian's kernel.
      mkApp = target: {
        type = "app";
        program = toString (
          pkgs.writeShellScript "scx-mimic-${target}" ''
            set -euo pipefail
            export PATH=${lib.makeBinPath runtimeTools}:$PATH
            export KERNEL=${kernel}/bzImage KERNEL_CONFIG=${kernel.configfile}
            export MIMIC_PREBUILT=${scx_mimic}/bin
            [ -f Makefile ] && [ -d vm ] || { echo "run this from an scx_mimic checkout" >&2; exit 2; }
            exec make ${target} "$@"
          ''
        );
      };
    in
    {
      packages.${system} = {
        inherit kernel scx_mimic;
        default = scx_mimic;
      };

      devShells.${system}.default = craneLib.devShell {
        inputsFrom = [ scx_mimic ];
        packages = runtimeTools ++ [
          pkgs.llvmPackages.clang
          pkgs.libbpf
          pkgs.pkg-config
          pkgs.rust-analyzer
          pkgs.python3
        ];
        inherit (commonArgs) env hardeningDisable;
        KERNEL = "${kernel}/bzImage";
        KERNEL_CONFIG = "${kernel.configfile}";
        shellHook = ''
          echo "scx_mimic dev shell: kernel $KERNEL; try: make vm-test"
        '';
      };

      apps.${system} = {
        vm-test = mkApp "vm-test";
        train = mkApp "train";
        bench = mkApp "bench";
      };

      checks.${system} = {
        inherit kernel scx_mimic;
        # Boots the flake's kernel and runs the scheduler gate (needs /dev/kvm in the builder).
        vm-gate =
          pkgs.runCommand "scx-mimic-vm-gate"
            {
              nativeBuildInputs = runtimeTools;
              requiredSystemFeatures = [ "kvm" ];
            }
            ''
              export HOME=$TMPDIR
              mkdir -p $out
              ${scx_mimic}/bin/mimic vm-test --accel kvm --kernel-env ${kernelEnv} \
                --sched ${scx_mimic}/bin/scx_mimic --results $out
            '';
      };

      formatter.${system} = pkgs.nixfmt;
    };
}
