# A stand-in for a user's Hydra job: an output whose bin/activate runs the
# given shell text, a bin/health-check when healthCheck is given, and a
# padMiB-MiB file of zeros when padMiB is given, a bin/reboot-required running
# the given shell text when rebootRequired is given (the derivation is otherwise
# the same as without them).
# Plain builtins.derivation, so it builds without nixpkgs.
{ version, activate ? "echo \"activated ${version}\"", executable ? true, hasActivate ? true,
  healthCheck ? "", padMiB ? "0", rebootRequired ? "" }:
builtins.derivation ({
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
    if [ -n "$padMiB" ]; then
      # a build this big once unpacked (zeros: its download stays small)
      dd if=/dev/zero of=$out/pad bs=1048576 count="$padMiB" 2>/dev/null
    fi
    if [ -n "$rebootRequired" ]; then
      printf '#!/bin/sh\n%s\n' "$rebootRequired" > $out/bin/reboot-required
      chmod 0755 $out/bin/reboot-required
    fi
    if [ -n "$healthCheck" ]; then
      printf '#!/bin/sh\n%s\n' "$healthCheck" > $out/bin/health-check
      chmod 0755 $out/bin/health-check
    fi
  '' ];
} // (if padMiB == "0" then { } else { inherit padMiB; })
  // (if rebootRequired == "" then { } else { inherit rebootRequired; }))
