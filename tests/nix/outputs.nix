# Evaluate the flake's real `outputs` against the stand-ins and summarise what it produced.
# Usage: nix-instantiate --eval --strict --json tests/nix/outputs.nix --arg flakeDir ./.
{ flakeDir ? ../.. }:
let
  flake = import (flakeDir + "/flake.nix");
  sys = "x86_64-linux";
  out = flake.outputs {
    self = { outPath = flakeDir; };
    nixpkgs = { outPath = ./stub-nixpkgs; };
    crane = import ./stub-crane.nix;
  };
  kernel = out.packages.${sys}.kernel;
  forced = kernel.overrideArgs.structuredExtraConfig;
  scx = out.packages.${sys}.scx_mimic;
in
{
  inputs = builtins.attrNames flake.inputs;
  systems = builtins.attrNames out.packages;
  packages = builtins.attrNames out.packages.${sys};
  devShells = builtins.attrNames out.devShells.${sys};
  devShellPackages = map (p: p.name) out.devShells.${sys}.default.args.packages;
  apps = builtins.mapAttrs (n: a: { inherit (a) type; }) out.apps.${sys};
  checks = builtins.attrNames out.checks.${sys};
  vmGateFeatures = out.checks.${sys}.vm-gate.attrs.requiredSystemFeatures;
  formatter = out.formatter.${sys}.name;
  formatterNixfmt = (out.formatter.${sys}.overrideArgs.nixfmtPackage or { name = "nixfmt"; }).name;
  # What each app's script runs (the stand-in's script path carries the text after "#").
  appScripts = builtins.mapAttrs (n: a: builtins.elemAt (builtins.split "#" a.program) 2) out.apps.${sys};
  appDescriptions = builtins.mapAttrs (n: a: a.meta.description or "") out.apps.${sys};
  vmGateScript = out.checks.${sys}.vm-gate.script;
  # The dev shell's own attributes, other than the ones every shell has: none may name the kernel.
  devShellArgs = builtins.mapAttrs (n: v: if builtins.isString v then v else "") out.devShells.${sys}.default.args;
  srcFiles = map (s: if s ? cargoSources then "cargo-sources" else toString s) scx.args.src.fileset.sets;
  srcRoot = toString scx.args.src.root;
  cargoExtraArgs = scx.args.cargoExtraArgs or null;
  cargoTestExtraArgs = scx.args.cargoTestExtraArgs or "";
  kernelForced = builtins.mapAttrs (n: v: "${v._type}:${toString v.priority}:${v.content.tristate}") forced;
  scxEnv = scx.args.env;
  scxHardeningDisable = scx.args.hardeningDisable;
  scxBuildInputs = map (p: p.name) scx.args.buildInputs;
}
