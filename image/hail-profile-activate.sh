# shellcheck shell=sh
# The body of a hail profile's bin/activate (see hail-profile.nix, which
# prepends "#!/bin/sh", self=NAME and out=STORE-PATH). Idempotent: run at
# every switch and at every hail start.
#
# Its files are CONFIG_DIR/profile.d/NAME.json, one per agent it manages.
# CONFIG_DIR/NAME.json and CONFIG_DIR/fleet.json are hail-bootstrap's and
# never written here: each side owns its files, so neither undoes the other
# at every boot. hail-agent takes NAME.json over profile.d/NAME.json.
#
# What it manages is recorded in STATE_DIR/SELF/managed-agents: an agent it
# started before that the new profile no longer lists is stopped and
# disabled, and its profile.d/NAME.json goes. Its profile and state under
# STATE_DIR/NAME stay, so that an operator may roll back.
# shellcheck disable=SC2154 # self and out are set by hail-profile.nix
set -eu
SYSTEMD_DIR=${HAIL_SYSTEMD_DIR:-/etc/systemd/system}
CONFIG_DIR=${HAIL_CONFIG_DIR:-/etc/hail}
PROFILE_DIR=$CONFIG_DIR/profile.d
STATE_DIR=${HAIL_STATE_DIR:-/var/lib/hail}
MANAGED=$STATE_DIR/$self/managed-agents
set -f          # names are words, never globs

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
mkdir -p "$SYSTEMD_DIR" "$PROFILE_DIR"
replace "$SYSTEMD_DIR/hail@.service" "$out/lib/systemd/system/hail@.service"
unit_changed=$changed
[ "$unit_changed" = 1 ] && systemctl daemon-reload

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

# Activations before profile.d wrote CONFIG_DIR/NAME.json themselves. Such a
# file, still byte for byte what they wrote (hail-bootstrap's never is: it
# names the fleet file), would shadow profile.d/NAME.json and keep the
# agent without the fleet settings: it goes, and the agent restarts.
legacy_gone=" "
while read -r name config; do
	[ -n "$name" ] || continue
	printf '%s\n' "$config" > "$tmp"
	if cmp -s "$tmp" "$CONFIG_DIR/$name.json"; then
		rm -f "$CONFIG_DIR/$name.json"
		legacy_gone="$legacy_gone$name "
	fi
done < "$out/share/hail/legacy"

listed=" "
while read -r name config; do
	[ -n "$name" ] || continue
	listed="$listed$name "
	printf '%s\n' "$config" > "$tmp"
	changed=0
	replace "$PROFILE_DIR/$name.json" "$tmp"
	case $legacy_gone in *" $name "*) changed=1 ;; esac
	[ "$name" = "$self" ] && continue       # below
	systemctl enable "hail@$name.service"
	if [ "$changed" = 1 ] || [ "$unit_changed" = 1 ]; then
		systemctl --no-block restart "hail@$name.service"
	else
		systemctl --no-block start "hail@$name.service"
	fi
done < "$out/share/hail/managed"

# Agents an earlier activation started and this profile no longer lists.
# Before the record existed, what earlier activations wrote to profile.d
# says which they were.
if [ -f "$MANAGED" ]; then
	before=$(cat "$MANAGED")
else
	before=
	set +f
	for f in "$PROFILE_DIR"/*.json; do
		[ -e "$f" ] || continue
		f=${f##*/}
		before="$before ${f%.json}"
	done
	set -f
fi
for name in $before; do
	[ "$name" = "$self" ] && continue
	case $listed in *" $name "*) continue ;; esac
	systemctl disable --now "hail@$name.service" ||
		echo "hail-profile: could not stop hail@$name.service" >&2
	rm -f "$PROFILE_DIR/$name.json"
	echo "hail-profile: hail@$name is no longer in this profile: stopped and disabled" \
		"(its profile and state stay)"
done
mkdir -p "$STATE_DIR/$self"
# shellcheck disable=SC2086 # one name a line
printf '%s\n' $listed > "$MANAGED.tmp.$$"
mv -f "$MANAGED.tmp.$$" "$MANAGED"

# This profile's own agent (its config is hail-bootstrap's when the
# bootstrap pulled this profile, else profile.d's when the profile names a
# job for itself). Our parent is the hail that runs this script; when it is
# not this profile's hail, or its config was a legacy one just removed,
# hail@$self must restart, but not from here: stopping that unit waits for
# this script. A transient unit restarts it once this activation has
# returned.
systemctl enable "hail@$self.service"
case $legacy_gone in *" $self "*) self_config_gone=1 ;; *) self_config_gone=0 ;; esac
if [ "$(readlink "/proc/$PPID/exe" || true)" != "$out/bin/hail" ] || [ "$self_config_gone" = 1 ]; then
	systemd-run --no-block --unit "hail-restart-$self-$$" \
		--description "restart hail@$self onto $out" \
		systemctl try-restart "hail@$self.service"
fi
