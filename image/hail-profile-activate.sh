# shellcheck shell=sh
# The body of a hail profile's bin/activate (see hail-profile.nix, which
# prepends "#!/bin/sh", self=NAME and out=STORE-PATH). Idempotent: run at
# every switch and at every hail start.
# shellcheck disable=SC2154 # self and out are set by hail-profile.nix
set -eu
SYSTEMD_DIR=${HAIL_SYSTEMD_DIR:-/etc/systemd/system}
CONFIG_DIR=${HAIL_CONFIG_DIR:-/etc/hail}

# replace FILE with the content of SRC, atomically, only when it differs
replace() {
	if ! cmp -s "$2" "$1" 2>/dev/null; then
		cp "$2" "$1.tmp.$$"
		chmod 0644 "$1.tmp.$$"
		mv -f "$1.tmp.$$" "$1"
		changed=1
	fi
}

changed=0
mkdir -p "$SYSTEMD_DIR" "$CONFIG_DIR"
replace "$SYSTEMD_DIR/hail@.service" "$out/lib/systemd/system/hail@.service"
unit_changed=$changed
[ "$unit_changed" = 1 ] && systemctl daemon-reload

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
while read -r name config; do
	[ -n "$name" ] || continue
	printf '%s\n' "$config" > "$tmp"
	changed=0
	replace "$CONFIG_DIR/$name.json" "$tmp"
	[ "$name" = "$self" ] && continue       # below
	systemctl enable "hail@$name.service"
	if [ "$changed" = 1 ] || [ "$unit_changed" = 1 ]; then
		systemctl --no-block restart "hail@$name.service"
	else
		systemctl --no-block start "hail@$name.service"
	fi
done < "$out/share/hail/managed"

# This profile's own agent (its config is hail-bootstrap's unless the
# profile names a job for itself). Our parent is the hail that runs this
# script; when it is not this profile's hail, hail@$self must restart onto
# it, but not from here: stopping that unit waits for this script. A
# transient unit restarts it once this activation has returned.
systemctl enable "hail@$self.service"
if [ "$(readlink "/proc/$PPID/exe" || true)" != "$out/bin/hail" ]; then
	systemd-run --no-block --unit "hail-restart-$self-$$" \
		--description "restart hail@$self onto $out" \
		systemctl try-restart "hail@$self.service"
fi
