# The kernel options of vm/kernel.config as an attribute set { NAME = true; } (without the
# CONFIG_ prefix), for structuredExtraConfig. vm/kernel.config is the single list both kernel
# paths use; this only parses it.
{ lib }:
let
  lines = lib.splitString "\n" (builtins.readFile ./kernel.config);
  options = lib.concatMap (
    line:
    let
      m = builtins.match "CONFIG_([A-Z0-9_]+)=y[[:space:]]*" line;
    in
    if m == null then [ ] else [ (builtins.head m) ]
  ) lines;
in
lib.genAttrs options (_: true)
