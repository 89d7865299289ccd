# A stand-in for a user's Hydra job: an output whose bin/activate runs the
# given shell text, and a bin/health-check when healthCheck is given.
# Plain builtins.derivation, so it builds without nixpkgs.
{ version, activate ? "echo \"activated ${version}\"", executable ? true, hasActivate ? true,
  healthCheck ? "" }:
builtins.derivation {
  name = "hail-demo-${version}";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  PATH = "/usr/bin:/bin";
  inherit version activate healthCheck;
  mode = if executable then "0755" else "0644";
  withActivate = if hasActivate then "1" else "";
  args = [ "-c" ''
    mkdir -p $out/bin
    echo "$version" > $out/version
    if [ -n "$withActivate" ]; then
      printf '#!/bin/sh\n%s\n' "$activate" > $out/bin/activate
      chmod "$mode" $out/bin/activate
    fi
    if [ -n "$healthCheck" ]; then
      printf '#!/bin/sh\n%s\n' "$healthCheck" > $out/bin/health-check
      chmod 0755 $out/bin/health-check
    fi
  '' ];
}
