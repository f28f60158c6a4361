{
  description = "scx_mimic: a reproducible lab for AI-driven Linux CPU scheduling with sched_ext";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    crane.url = "github:ipetkov/crane";
  };

  outputs =
    {
      self,
      nixpkgs,
      crane,
    }:
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

      # What the build and its tests read: cargo's sources (*.rs, *.toml — vm/workloads/ too —,
      # Cargo.lock, .cargo/config.toml), the BPF C sources (ours and the vendored
      # scx_rustland_core's templates and headers), and the data the tests load: the
      # datasets (training_is_deterministic_to_the_byte), the models, the fuzz corpus
      # (model_corpus), vm/setup.sh with its helpers (setup_apt runs it against stand-ins for
      # apt), and the README with the kept benchmark run its table is checked against
      # (readme_bench). A path listed here that does not exist fails evaluation.
      src = lib.fileset.toSource {
        root = ./.;
        fileset = lib.fileset.unions [
          (craneLib.fileset.commonCargoSources ./.)
          ./bpf
          ./vendor/scx_rustland_core
          ./datasets
          ./models
          ./tests/fuzz/corpus
          ./vm/setup.sh
          ./vm/lib.sh
          ./README.md
          ./benchmarks
        ];
      };

      # The same build environment nixpkgs' own `scx` package uses for scx_rustland_core
      # schedulers: a clang for the BPF target, bindgen, libelf/zlib/zstd/libseccomp.
      commonArgs = {
        inherit src;
        pname = "scx_mimic";
        version = "0.1.0";
        strictDeps = true;
        # Every cargo call of both derivations gets these (crane's default is "--locked" alone:
        # setting cargoExtraArgs replaces it, so it is repeated here). The test command adds
        # nothing of its own: a second --workspace is an error for cargo.
        cargoExtraArgs = "--locked --workspace";
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
          # The unit tests run here (cargo test --release --locked --workspace); the VM tests
          # need a guest (see checks.vm-gate).
          meta.mainProgram = "scx_mimic";
        }
      );

      inherit (pkgs) perf;

      # tools/sklearn_compare.py (the scikit-learn comparison of `make train`).
      python = pkgs.python3.withPackages (ps: [
        ps.scikit-learn
        ps.pyarrow
        ps.numpy
      ]);

      # The published peer of `make bench`, as nixpkgs builds it.
      scx_rustland = "${pkgs.scx.rustscheds}/bin/scx_rustland";

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
      # binaries, tools and kernel instead of apt, a venv and Debian's kernel. The Makefile's
      # `SHELL := /bin/bash` does not exist on NixOS: the command line's SHELL overrides it (and
      # reaches sub-makes through MAKEFLAGS), as do the other make variables given here.
      mkApp =
        {
          target,
          description,
          kernel ? null,
          tools ? [ ],
          makeVars ? { },
          env ? { },
        }:
        {
          type = "app";
          meta = { inherit description; };
          program = toString (
            pkgs.writeShellScript "scx-mimic-${target}" ''
              set -euo pipefail
              export PATH=${lib.makeBinPath (runtimeTools ++ tools)}:$PATH
              export MIMIC_PREBUILT=${scx_mimic}/bin
              ${lib.optionalString (kernel != null) ''
                export KERNEL=${kernel}/bzImage KERNEL_CONFIG=${kernel.configfile}
              ''}
              ${lib.concatStrings (lib.mapAttrsToList (n: v: "export ${n}=${lib.escapeShellArg v}\n") env)}
              [ -f Makefile ] && [ -d vm ] || { echo "run this from an scx_mimic checkout" >&2; exit 2; }
              exec ${lib.getExe pkgs.gnumake} SHELL=${lib.getExe pkgs.bash} ${
                lib.escapeShellArgs (lib.mapAttrsToList (n: v: "${n}=${v}") makeVars)
              } ${target} "$@"
            ''
          );
        };
    in
    {
      packages.${system} = {
        inherit kernel scx_mimic;
        default = scx_mimic;
      };

      # The dev shell must open without building the custom kernel (nothing of it is in a
      # binary cache): the kernel is built only when asked for, by `nix run .#vm-test` /
      # `.#bench` or `nix build .#kernel`.
      devShells.${system}.default = craneLib.devShell {
        inputsFrom = [ scx_mimic ];
        packages = runtimeTools ++ [
          pkgs.llvmPackages.clang
          pkgs.libbpf
          pkgs.pkg-config
          pkgs.rust-analyzer
          python
        ];
        inherit (commonArgs) env hardeningDisable;
        shellHook = ''
          echo "scx_mimic dev shell. The guest kernel is built on request:"
          echo "  nix run .#vm-test   or   make vm-test KERNEL=\$(nix build --no-link --print-out-paths .#kernel)/bzImage"
        '';
      };

      apps.${system} = {
        vm-test = mkApp {
          target = "vm-test";
          description = "Boot the flake's sched_ext kernel and run the scheduler gate";
          inherit kernel;
        };
        train = mkApp {
          target = "train";
          description = "Retrain models/ from datasets/, with the scikit-learn comparison";
          tools = [ python ];
          env.MIMIC_PYTHON = lib.getExe python;
        };
        bench = mkApp {
          target = "bench";
          description = "Benchmark EEVDF, the heuristic, the model and nixpkgs' scx_rustland in one boot";
          inherit kernel;
          makeVars.RUSTLAND = scx_rustland;
        };
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
                --sched ${scx_mimic}/bin/scx_mimic --models ${src}/models --results $out
            '';
      };

      # `nix fmt` formats the whole tree with nixfmt's style. nixfmt-rs is nixfmt's Rust port
      # (byte-identical output): unlike the Haskell nixfmt it evaluates against the nixpkgs tree
      # the offline check uses (vm/nix-check.sh), whose Haskell package set is incomplete.
      formatter.${system} = pkgs.nixfmt-tree.override { nixfmtPackage = pkgs.nixfmt-rs; };
    };
}
