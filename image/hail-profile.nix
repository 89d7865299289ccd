# A self-managing hail profile, for a Hydra jobset: the job whose output the
# AMI's hail-bootstrap pulls into the profile "hail" (README.md, "The AMI").
#
# Its bin/hail is the hail to run; its bin/activate installs or updates the
# hail@ unit, writes /etc/hail/profile.d/NAME.json for itself and for each
# service job, and enables and (re)starts hail@NAME for each. Each config
# names the fleet file hail-bootstrap writes (/etc/hail/fleet.json: rollout
# window, pause and pin sources, instance id), so that every agent on the
# machine follows the fleet's settings. /etc/hail/NAME.json is the
# bootstrap's, never written here; for the profile the bootstrap pulled it
# wins over profile.d (image/hail-agent): the user-data has the last word.
# The hail that runs this
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
, fleetFile ? "/etc/hail/fleet.json"   # hail-bootstrap's; absent outside EC2
, extraActivate ? ""       # shell commands run at the end of bin/activate
, rebootRequired ? ""      # when given: the shell text of bin/reboot-required
, shell ? "/bin/sh"
, system ? builtins.currentSystem
}:
let
  settings = name: job: {
    profile = name;
    job-uri = job.job-uri;
    poll-period = job.poll-period or "5m";
    netrc-file = netrcFile;
  };
  config = name: job: builtins.toJSON (settings name job // { fleet-file = fleetFile; });
  # what the activation wrote to /etc/hail/NAME.json before profile.d; such
  # a file would shadow profile.d/NAME.json in hail-agent (and carries no
  # fleet-file): bin/activate removes it when it is still exactly this
  legacyConfig = name: job: builtins.toJSON (settings name job);
  # one "NAME JSON" line per profile the activation manages
  lines = f: builtins.concatStringsSep "\n" (
    (if self.job-uri or null == null then [ ] else [ "${selfName} ${f selfName self}" ])
    ++ builtins.attrValues (builtins.mapAttrs (n: j: "${n} ${f n j}") services));
  managed = lines config;
  legacy = lines legacyConfig;
  hailBin = if builtins.isPath hail then builtins.path { path = hail; name = "hail-bin"; } else hail;
in
builtins.derivation {
  name = "hail-profile";
  inherit system;
  builder = shell;
  PATH = "/usr/bin:/bin";
  inherit managed legacy selfName extraActivate rebootRequired;
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
    printf '%s\n' "$legacy" > $out/share/hail/legacy
    { echo "#!${shell}"; echo "self=$selfName"; echo "out=$out"; cat "$activate"
      printf '%s\n' "$extraActivate"; } > $out/bin/activate
    chmod 0555 $out/bin/activate
    if [ -n "$rebootRequired" ]; then
      { echo "#!${shell}"; printf '%s\n' "$rebootRequired"; } > $out/bin/reboot-required
      chmod 0555 $out/bin/reboot-required
    fi
  '' ];
}
