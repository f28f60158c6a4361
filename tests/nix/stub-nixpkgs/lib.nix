# The subset of nixpkgs.lib that flake.nix and vm/kernel-options.nix use, with nixpkgs' semantics
# for the arguments they pass (stand-in for offline evaluation only).
rec {
  mapAttrs = builtins.mapAttrs;
  concatMap = builtins.concatMap;
  genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
  splitString = sep: s: builtins.filter builtins.isString (builtins.split sep s);
  hasSuffix = suffix: s:
    let ls = builtins.stringLength s; lx = builtins.stringLength suffix;
    in ls >= lx && builtins.substring (ls - lx) lx s == suffix;
  hasInfix = infix: s: builtins.match ".*${escapeRegex infix}.*" s != null;
  escapeRegex = s: builtins.replaceStrings [ "." "/" "+" "*" "?" "(" ")" "[" "]" ] [ "\\." "/" "\\+" "\\*" "\\?" "\\(" "\\)" "\\[" "\\]" ] s;
  mkForce = content: { _type = "override"; priority = 50; inherit content; };
  kernel = { yes = { tristate = "y"; optional = false; }; module = { tristate = "m"; optional = false; }; };
  getExe = d: "${d}/bin/${d.meta.mainProgram}";
  makeBinPath = ds: builtins.concatStringsSep ":" (map (d: "${d}/bin") ds);
  optionalString = cond: s: if cond then s else "";
  concatStrings = builtins.concatStringsSep "";
  mapAttrsToList = f: attrs: map (n: f n attrs.${n}) (builtins.attrNames attrs);
  escapeShellArg = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s) + "'";
  escapeShellArgs = args: builtins.concatStringsSep " " (map escapeShellArg args);
  # lib.fileset: records the files asked for (outputs.nix reports them); the source is a fake
  # store path, so nothing is copied.
  fileset = {
    unions = sets: { _type = "fileset"; inherit sets; };
    toSource = { root, fileset }: { outPath = "/nix/store/stub-source"; inherit root fileset; };
  };
}
