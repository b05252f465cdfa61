#!/usr/bin/env bash
# Installs everything infraflow runs with: Debian packages through apt, and the
# pinned Go-built tools into a per-version cache outside the clone, linked into
# the clone's .infraflow/bin. Safe to run again: finished work is skipped.
#
#   internal/toolchain/install.sh            install what is missing
#   INFRAFLOW_TOOLS_CACHE=/path ...           cache somewhere else
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache=${INFRAFLOW_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/infraflow/tools}
bindir="$root/.infraflow/bin"
retry="make tools"
mkdir -p "$cache" "$bindir"

say()  { printf '==> %s\n' "$*"; }
ok()   { printf '    ok: %s\n' "$*"; }
fail() {
	printf '\nmake tools FAILED: %s\n' "$1" >&2
	printf '  retry with: %s\n' "${2:-$retry}" >&2
	[ -n "${3:-}" ] && printf '  build log:  %s\n' "$3" >&2
	exit 1
}

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

install_apt_packages() {
	local missing=() pkg
	for pkg in $APT_PACKAGES; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		ok "Debian packages: $APT_PACKAGES"
		return
	fi
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	say "Debian packages: installing ${missing[*]} with apt (about a minute)"
	# An image with empty package lists cannot install anything until it updates once.
	if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
		$sudo apt-get update -q || fail "apt-get update failed" "$sudo apt-get update && $retry"
	fi
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" \
		|| fail "apt could not install: ${missing[*]}" "$sudo apt-get install -y ${missing[*]} && $retry"
	ok "Debian packages: $APT_PACKAGES"
}

# build_tool NAME VERSION VERSION_REGEX BUILD_FUNCTION MINUTES VERSION_ARGS...
# Builds into "$cache/NAME-VERSION" once; a cached binary that answers with the
# right version is reused. The build goes to a temporary name first so an
# interrupted build never leaves a half-written binary that looks finished.
build_tool() {
	local name=$1 version=$2 want=$3 builder=$4 minutes=$5
	shift 5
	local dir="$cache/$name-$version" bin="$cache/$name-$version/$name"
	if [ -x "$bin" ] && "$bin" "$@" 2>/dev/null | grep -Eq "$want"; then
		ok "$name $version (cached in $dir)"
	else
		local log="$cache/$name-$version.build.log"
		say "$name $version: building from the Go module proxy; a cold build takes about $minutes minutes (log: $log)"
		mkdir -p "$dir"
		local started=$SECONDS
		if ! "$builder" "$dir/$name.partial" >"$log" 2>&1; then
			tail -n 15 "$log" >&2 || true
			fail "building $name $version failed" "$retry" "$log"
		fi
		mv "$dir/$name.partial" "$bin"
		"$bin" "$@" 2>/dev/null | grep -Eq "$want" \
			|| fail "$name $version was built but does not report version $version" "rm -rf '$dir' && $retry" "$log"
		ok "$name $version built in $((SECONDS - started)) s"
	fi
	ln -sfn "$bin" "$bindir/$name"
}

build_temporal_cli() {
	local gobin
	gobin=$(mktemp -d)
	# The version ldflag is what the CLI's release build sets; without it the CLI says 0.0.0-DEV.
	GOBIN=$gobin go install -ldflags "-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION#v}" \
		"github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION" && mv "$gobin/temporal" "$1"
	local rc=$?
	rm -rf "$gobin"
	return $rc
}

build_pulumi_cli() {
	# pulumi/pkg needs a replace directive, so it builds from its own module; without the
	# version ldflag `pulumi version` is empty and the Automation API refuses the CLI.
	(cd "$here/pulumi" && go build \
		-ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
		-o "$1" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
}

started=$SECONDS
say "infraflow tools (cache: $cache, links: $bindir)"
install_apt_packages
# The two builds share little, and side by side on 2 cores they finish in about
# the time of the longer one alone; each reports its own failure.
build_tool temporal "$TEMPORAL_CLI_VERSION" "^temporal version ${TEMPORAL_CLI_VERSION#v} " build_temporal_cli 8 --version &
temporal_build=$!
build_tool pulumi "$PULUMI_VERSION" "^$PULUMI_VERSION\$" build_pulumi_cli 10 version &
pulumi_build=$!
failed=0
wait $temporal_build || failed=1
wait $pulumi_build || failed=1
[ $failed -eq 0 ] || exit 1
say "tools ready in $((SECONDS - started)) s; add $bindir to PATH to use them directly"
