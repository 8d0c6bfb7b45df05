#!/usr/bin/env bash
# Installs a jwtgate build into a temporary prefix and uses it the way another project would:
# builds tests/consumer/consumer.cc once with find_package(jwtgate) and once with pkg-config,
# runs both on a token made by the build's own CLI (ok, exit 0) and on the same token with one
# signature character changed (signature_invalid, exit 1), and checks that the package hands
# its consumers no warning, sanitizer or -march option. Registered as the ctest consumer_install.
#
# Usage: consumer_test.sh --build DIR --cli PATH [--cmake PATH] [--cxx PATH] [--generator NAME]
#                         [--make-program PATH] [--bindir PATH]
#   --build         the jwtgate build folder to install (cmake --install)
#   --cli           the build's jwtgate CLI (keygen, sign)
#   --cmake         cmake to use (default: cmake on PATH)
#   --cxx           C++ compiler for both consumer builds (default: c++)
#   --generator     CMake generator of the consumer build (default: CMake's)
#   --make-program  its build tool (CMAKE_MAKE_PROGRAM)
#   --bindir        CMAKE_INSTALL_FULL_BINDIR of the build: what the unit's ExecStart must name
# Environment: KEEP_WORK=1 keeps the temporary folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build="" cli="" cmake=cmake cxx=c++ generator="" make_program="" bindir=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --cli) cli=$2; shift 2 ;;
    --cmake) cmake=$2; shift 2 ;;
    --cxx) cxx=$2; shift 2 ;;
    --generator) generator=$2; shift 2 ;;
    --make-program) make_program=$2; shift 2 ;;
    --bindir) bindir=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "consumer_test: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ -n "$build" && -n "$cli" ]] || { echo "consumer_test: --build and --cli are required" >&2; exit 2; }

# The consumer's own flags are CMake's and pkg-config's only: what the package adds shows.
unset CFLAGS CXXFLAGS CPPFLAGS LDFLAGS PKG_CONFIG_LIBDIR
work=$(mktemp -d "${TMPDIR:-/tmp}/jwtgate-consumer.XXXXXX")
[[ "${KEEP_WORK:-0}" == 1 ]] || trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
fail() { echo "consumer_test: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

step "install into $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log" ||
  { cat "$work/install.log"; fail "cmake --install"; }
(cd "$prefix" && find . -type f | sort)
for f in bin/jwtgated bin/jwtgate include/jwtgate/version.h include/jwtgate/verifier.h \
         lib/systemd/system/jwtgated.service share/doc/jwtgate/examples/jwtgated.yaml; do
  [[ -f "$prefix/$f" ]] || fail "$f not installed"
done
installed() {  # installed NAME: its path under the prefix, or a failure
  local path
  path=$(find "$prefix" -name "$1")
  [[ -n "$path" ]] || fail "$1 not installed"
  echo "$path"
}
installed libjwtgate.a >/dev/null
pc=$(installed jwtgate.pc)
config=$(installed jwtgateConfig.cmake)
extra=$(find "$prefix/include" -mindepth 1 -not -path "$prefix/include/jwtgate" \
             -not -path "$prefix/include/jwtgate/*.h")
[[ -z "$extra" ]] || fail "installed besides include/jwtgate/*.h: $extra"
grep -qE '@[A-Z_]+@' "$prefix/lib/systemd/system/jwtgated.service" && fail "unconfigured @VAR@ in the unit"
if [[ -n "$bindir" ]]; then
  for key in ExecStartPre ExecStart; do
    grep -q "^$key=$bindir/jwtgated " "$prefix/lib/systemd/system/jwtgated.service" ||
      fail "the unit's $key does not run $bindir/jwtgated"
  done
fi

# Options the package must not impose: warnings (-W, but -Wl, is a linker argument),
# sanitizers, architecture tuning.
imposed='(^|[[:space:]"])(-fsanitize[^[:space:]"]*|-march=[^[:space:]"]*|-mtune=[^[:space:]"]*|-W[^l[:space:]"][^[:space:]"]*)'
if grep -nE 'INTERFACE_(COMPILE|LINK)_OPTIONS' "$(dirname "$config")"/jwtgateTargets*.cmake; then
  fail "the exported target carries compile or link options"
fi

step "consumer built with find_package(jwtgate CONFIG)"
gen_args=()
[[ -n "$generator" ]] && gen_args+=(-G "$generator")
[[ -n "$make_program" ]] && gen_args+=(-DCMAKE_MAKE_PROGRAM="$make_program")
"$cmake" -S "$here" -B "$work/cmake" "${gen_args[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$work/configure.log" ||
  { cat "$work/configure.log"; fail "configuring the consumer"; }
found=$(sed -n 's/^jwtgate_DIR:PATH=//p' "$work/cmake/CMakeCache.txt")
[[ "$found" == "$prefix"/* ]] || fail "find_package found jwtgate in '$found', not in $prefix"
"$cmake" --build "$work/cmake" --verbose >"$work/build.log" 2>&1 ||
  { cat "$work/build.log"; fail "building the consumer"; }
grep -E -- '-o [^ ]*consumer( |$)|consumer\.cc' "$work/build.log" | sed 's/^/  /'
if grep -nE -- "$imposed" "$work/cmake/compile_commands.json" "$work/build.log"; then
  fail "the consumer's compile or link command has an option from the package"
fi

step "consumer built with pkg-config"
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
pkg_flags=$(pkg-config --cflags --libs --static jwtgate) || fail "pkg-config jwtgate"
echo "  pkg-config --cflags --libs --static jwtgate: $pkg_flags"
if grep -E -- "$imposed" <<<"$pkg_flags"; then fail "pkg-config flags impose an option"; fi
# The public headers are C++20 (<span>); the standard is the consumer's to choose.
# shellcheck disable=SC2086  # the flags are words
"$cxx" -std=c++20 "$here/consumer.cc" -o "$work/consumer_pc" $pkg_flags ||
  fail "building the consumer with pkg-config"

step "token from the build's CLI"
"$cli" keygen --alg ES256 --kid consumer --private "$work/key.pem" --jwks "$work/keys.json" \
  >/dev/null
token=$("$cli" sign --key "$work/key.pem" --alg ES256 --kid consumer \
        --claims "{\"sub\":\"consumer\",\"exp\":$(( $(date +%s) + 600 ))}")
# One character in the middle of the signature changed: still base64url of the right length.
sig=${token##*.}
i=$(( ${#sig} / 2 ))
[[ "${sig:i:1}" == A ]] && c=B || c=A
tampered="${token%.*}.${sig:0:i}${c}${sig:i+1}"

run() {  # run NAME BINARY TOKEN WANT_OUTPUT WANT_EXIT
  local out rc=0
  out=$("$2" "$work/keys.json" "$3") || rc=$?
  echo "  $1: $out (exit $rc)"
  [[ "$out" == "$4" && $rc -eq $5 ]] || fail "$1: expected '$4' (exit $5)"
}
# version.h, installed with the headers, agrees with the package's version.
version=$(pkg-config --modversion jwtgate)
usage=$("$work/cmake/consumer" 2>&1) && fail "consumer without arguments exited 0"
[[ "$usage" == *"libjwtgate $version)"* ]] || fail "version.h does not say $version: $usage"
echo "  version.h: $version"
for kind in cmake pc; do
  bin=$work/consumer_$kind
  [[ $kind == cmake ]] && bin=$work/cmake/consumer
  run "$kind consumer, token" "$bin" "$token" ok 0
  run "$kind consumer, tampered token" "$bin" "$tampered" signature_invalid 1
done
echo "consumer_test: ok"
