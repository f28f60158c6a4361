# A stand-in for crane (offline evaluation only): mkLib returns builders that record their args.
{
  mkLib = pkgs: {
    filterCargoSources = path: type: true;
    fileset.commonCargoSources = path: { _type = "fileset"; cargoSources = path; };
    buildDepsOnly = args: { type = "derivation"; name = "${args.pname}-deps"; outPath = "/nix/store/stub-deps"; inherit args; };
    buildPackage = args: { type = "derivation"; name = args.pname; outPath = "/nix/store/stub-${args.pname}"; inherit args; meta = args.meta or { }; };
    devShell = args: { type = "derivation"; name = "devshell"; outPath = "/nix/store/stub-devshell"; inherit args; };
  };
}
