#!/bin/sh
# bin/reboot-required for a NixOS system build (README, "Reboots"): exit 0
# when this build takes full effect only after a reboot, that is when the
# kernel, initrd or kernel modules the machine booted differ from this
# build's; 1 when they are the same (or this is not a NixOS machine).
#
# Put it into the system build hail deploys, e.g. in a NixOS module:
#   system.extraSystemBuilderCmds = ''
#     mkdir -p $out/bin
#     substitute ${./nixos-reboot-required.sh} $out/bin/reboot-required \
#       --replace-fail /bin/sh ${pkgs.runtimeShell}
#     chmod +x $out/bin/reboot-required
#   '';
# BOOTED_SYSTEM is for tests; hail runs it with no arguments.
set -u
booted=${BOOTED_SYSTEM:-/run/booted-system}
# this script is $out/bin/reboot-required of the build (hail runs it
# through the profile's link)
new=$(readlink -f "$0") || exit 1
new=${new%/bin/*}
[ -e "$booted" ] || exit 1
for part in kernel initrd kernel-modules; do
	if [ "$(readlink -f "$booted/$part" || true)" != "$(readlink -f "$new/$part" || true)" ]; then
		echo "reboot-required: $part differs from the booted system's"
		exit 0
	fi
done
exit 1
