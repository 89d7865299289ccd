# A self-managing hail profile, for a Hydra jobset: the job whose output the
# AMI's hail-bootstrap pulls into the profile "hail" (README.md, "The AMI").
#
# Its bin/hail is the hail to run; its bin/activate installs or updates the
# hail@ unit, writes /etc/hail/NAME.json for itself and for each service
# job, and enables and (re)starts hail@NAME for each. The hail that runs this
# activate must not restart itself (stopping its unit would wait for this
# very script): its own restart goes through systemd-run, a separate unit, as
# the original hail's hail-systemd-bootstrap.nix did.
#
# Plain builtins.derivation with /bin/sh, so that it builds without nixpkgs;
# in a nixpkgs jobset pass hail = pkgs.hail and shell = "${pkgs.bash}/bin/sh".
{ hail                     # a path or derivation holding bin/hail
, unit ? ./. + "/hail@.service"
, self ? { job-uri = null; poll-period = "5m"; }   # this profile's own job
, selfName ? "hail"
, services ? { }           # NAME -> { job-uri; poll-period ? "5m"; }
, netrcFile ? "/etc/nix/netrc"
, extraActivate ? ""       # shell commands run at the end of bin/activate
, shell ? "/bin/sh"
, system ? builtins.currentSystem
}:
let
  config = name: job: builtins.toJSON ({
    profile = name;
    job-uri = job.job-uri;
    poll-period = job.poll-period or "5m";
    netrc-file = netrcFile;
  });
  # one "NAME CONFIG-JSON" line per profile the activation manages
  managed = builtins.concatStringsSep "\n" (
    (if self.job-uri or null == null then [ ] else [ "${selfName} ${config selfName self}" ])
    ++ builtins.attrValues (builtins.mapAttrs (n: j: "${n} ${config n j}") services));
  hailBin = if builtins.isPath hail then builtins.path { path = hail; name = "hail-bin"; } else hail;
in
builtins.derivation {
  name = "hail-profile";
  inherit system;
  builder = shell;
  PATH = "/usr/bin:/bin";
  inherit managed selfName extraActivate;
  hail = hailBin;
  unit = builtins.path { path = unit; name = "hail-unit"; };
  activate = ./hail-profile-activate.sh;
  args = [ "-c" ''
    set -eu
    mkdir -p $out/bin $out/lib/systemd/system $out/share/hail
    if [ -x "$hail/bin/hail" ]; then cp "$hail/bin/hail" $out/bin/hail; else cp "$hail" $out/bin/hail; fi
    chmod 0555 $out/bin/hail
    cp "$unit" $out/lib/systemd/system/hail@.service
    printf '%s\n' "$managed" > $out/share/hail/managed
    { echo "#!${shell}"; echo "self=$selfName"; echo "out=$out"; cat "$activate"
      printf '%s\n' "$extraActivate"; } > $out/bin/activate
    chmod 0555 $out/bin/activate
  '' ];
}
