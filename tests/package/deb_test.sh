#!/usr/bin/env bash
# The Debian package's install/check/remove cycle, on this machine (as root): dpkg -i, then the
# installed programs (--version; keys made by the installed `jwtgate`; `jwtgated
# --check-config` on the installed /etc/jwtgate/jwtgated.yaml), the user and directories the
# postinst made, then dpkg -r: every file of the package is gone except its conffile, and so
# are the empty state directories. Exits 1 naming what is wrong.
#
# Usage: tests/package/deb_test.sh PATH/jwtgate_<version>_<arch>.deb
# Refuses to run when a jwtgate package is already installed (it would remove it).
set -euo pipefail
deb=${1:?usage: deb_test.sh PATH/jwtgate_VERSION_ARCH.deb}
[[ $(id -u) -eq 0 ]] || { echo "deb_test: must run as root (dpkg -i)" >&2; exit 2; }
if dpkg-query -W -f='${Status}' jwtgate 2>/dev/null | grep -q "install ok installed"; then
  echo "deb_test: a jwtgate package is installed already; not touching it" >&2
  exit 2
fi

fail=0
check() {  # check "what" command...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what" >&2; fail=1; fi
}
step() { printf '\n== %s\n' "$1"; }

work=$(mktemp -d)
removed=0
cleanup() {
  [[ $removed -eq 1 ]] || dpkg -r jwtgate >/dev/null 2>&1 || true
  rm -f /etc/jwtgate/keys.jwks
  rm -rf "$work"
}
trap cleanup EXIT

step "install $deb"
# Dependencies the package declares are what scripts/setup installed on this machine.
dpkg -i "$deb"
dpkg -L jwtgate > "$work/files"
conffiles=$(dpkg-query -W -f='${Conffiles}' jwtgate | awk 'NF {print $1}')

step "installed programs and layout"
check "jwtgated --version" sh -c '/usr/bin/jwtgated --version | grep -q "^jwtgated [0-9]"'
check "jwtgate --version" sh -c '/usr/bin/jwtgate --version | grep -q "^jwtgate [0-9]"'
check "the system user jwtgate exists" getent passwd jwtgate
check "/var/lib/jwtgate is jwtgate's, 0700" \
  sh -c '[ "$(stat -c "%U %a" /var/lib/jwtgate)" = "jwtgate 700" ]'
check "/var/cache/jwtgate is jwtgate's" sh -c '[ "$(stat -c %U /var/cache/jwtgate)" = jwtgate ]'
check "/etc/jwtgate is root:jwtgate 0750" \
  sh -c '[ "$(stat -c "%U:%G %a" /etc/jwtgate)" = "root:jwtgate 750" ]'
check "/etc/jwtgate/jwtgated.yaml is a conffile" \
  sh -c "echo '$conffiles' | grep -qx /etc/jwtgate/jwtgated.yaml"
check "the systemd unit runs /usr/bin/jwtgated" \
  grep -q "^ExecStart=/usr/bin/jwtgated --config /etc/jwtgate/jwtgated.yaml" \
  /usr/lib/systemd/system/jwtgated.service
check "the library's CMake package and pkg-config file" \
  sh -c 'pkg-config --exists jwtgate && [ -f /usr/lib/x86_64-linux-gnu/cmake/jwtgate/jwtgateConfig.cmake ]'

step "jwtgated --check-config on the installed configuration, keys from the installed jwtgate"
check "the installed configuration is refused before its key file exists (exit 4)" \
  sh -c '/usr/bin/jwtgated --check-config --config /etc/jwtgate/jwtgated.yaml; [ $? -eq 4 ]'
/usr/bin/jwtgate keygen --alg ES256 --kid k1 --private "$work/k1.pem" --jwks /etc/jwtgate/keys.jwks
check "jwtgated --check-config --config /etc/jwtgate/jwtgated.yaml exits 0" \
  /usr/bin/jwtgated --check-config --config /etc/jwtgate/jwtgated.yaml
rm -f /etc/jwtgate/keys.jwks

step "remove"
dpkg -r jwtgate
removed=1
left=()
while IFS= read -r f; do
  [[ -d "$f" ]] && continue              # directories shared with other packages stay
  grep -qx -- "$f" <<<"$conffiles" && continue
  [[ -e "$f" || -L "$f" ]] && left+=("$f")
done < "$work/files"
check "no file of the package is left but its conffile (${#left[@]} left: ${left[*]:-none})" \
  test ${#left[@]} -eq 0
check "the conffile is kept" test -f /etc/jwtgate/jwtgated.yaml
check "the empty /var/lib/jwtgate and /var/cache/jwtgate are gone" \
  sh -c '[ ! -e /var/lib/jwtgate ] && [ ! -e /var/cache/jwtgate ]'

step "purge"
dpkg -P jwtgate >/dev/null
check "purge removes the conffile, the user and its group" \
  sh -c '[ ! -e /etc/jwtgate/jwtgated.yaml ] && ! getent passwd jwtgate >/dev/null && ! getent group jwtgate >/dev/null'

if [[ $fail -ne 0 ]]; then
  echo "deb_test: FAILED" >&2
  exit 1
fi
echo "deb_test: install, check and remove of $(basename "$deb") passed"
