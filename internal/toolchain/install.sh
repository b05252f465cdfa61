#!/usr/bin/env bash
# Installs everything infraflow runs with: Debian packages through apt, and the
# pinned Go-built tools into a per-version cache outside the clone, linked into
# the clone's .infraflow/bin. Safe to run again: finished work is skipped.
#
#   internal/toolchain/install.sh            install what is missing
#   internal/toolchain/install.sh lint       only the linters (make lint)
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
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep 'install ok installed' >/dev/null || missing+=("$pkg")
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

# reported_version BIN ARGS...: what BIN says its version is, asked with ARGS.
# The single argument go-module instead reads the module version the Go
# toolchain recorded in the binary, for a tool that cannot tell its own.
reported_version() {
	local bin=$1
	shift
	if [ "$*" = go-module ]; then
		go version -m "$bin"
	else
		"$bin" "$@"
	fi
}

# build_tool NAME VERSION VERSION_REGEX BUILD_FUNCTION MINUTES VERSION_ARGS...
# Builds into "$cache/NAME-VERSION" once; a cached binary that answers with the
# right version is reused. The build goes to a temporary name first so an
# interrupted build never leaves a half-written binary that looks finished.
build_tool() {
	local name=$1 version=$2 want=$3 builder=$4 minutes=$5
	shift 5
	local dir="$cache/$name-$version" bin="$cache/$name-$version/$name"
	# grep reads all of the output (no -q): with pipefail, a tool killed by
	# SIGPIPE after grep -q stopped reading would count as broken and rebuild.
	if [ -x "$bin" ] && reported_version "$bin" "$@" 2>/dev/null | grep -E "$want" >/dev/null; then
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
		reported_version "$bin" "$@" 2>/dev/null | grep -E "$want" >/dev/null \
			|| fail "$name $version was built but does not report version $version" "rm -rf '$dir' && $retry" "$log"
		ok "$name $version built in $((SECONDS - started)) s"
	fi
	ln -sfn "$bin" "$bindir/$name"
}

# go_install OUT PACKAGE@VERSION [FLAGS...]: go install into a temporary GOBIN
# and move the binary to OUT.
go_install() {
	local out=$1 pkg=$2 gobin
	shift 2
	gobin=$(mktemp -d)
	GOBIN=$gobin go install "$@" "$pkg" && mv "$gobin/$(basename "${pkg%@*}")" "$out"
	local rc=$?
	rm -rf "$gobin"
	return $rc
}

build_temporal_cli() {
	# The version ldflag is what the CLI's release build sets; without it the CLI says 0.0.0-DEV.
	go_install "$1" "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION" \
		-ldflags "-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION#v}"
}

build_pulumi_cli() {
	# pulumi/pkg needs a replace directive, so it builds from its own module; without the
	# version ldflag `pulumi version` is empty and the Automation API refuses the CLI.
	(cd "$here/pulumi" && go build \
		-ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
		-o "$1" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
}

build_etcd() {
	(cd "$here/etcd" && go build -o "$1" go.etcd.io/etcd/server/v3)
}

# kube_build BINARY OUT: the component-base and client-go version ldflags are
# what a release build sets; without them kubectl cannot parse the version.
kube_build() {
	local v=$KUBERNETES_VERSION minor
	minor=$(echo "$v" | cut -d. -f2)
	local ldflags=""
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
	done
	(cd "$here/kubernetes" && go build -ldflags "$ldflags" -o "$2" "k8s.io/kubernetes/cmd/$1")
}
build_kube_apiserver() { kube_build kube-apiserver "$1"; }
build_kube_controller_manager() { kube_build kube-controller-manager "$1"; }
build_kube_scheduler() { kube_build kube-scheduler "$1"; }

build_kwok() {
	go_install "$1" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
}

# The release builds set the version through this ldflag; without it both
# programs say "git". The binaries go install names server and cli are renamed
# to what toxiproxy's releases call them.
toxiproxy_install() {
	go_install "$1" "github.com/Shopify/toxiproxy/v2/cmd/$2@$TOXIPROXY_VERSION" \
		-ldflags "-X github.com/Shopify/toxiproxy/v2.Version=${TOXIPROXY_VERSION#v}"
}
build_toxiproxy_server() { toxiproxy_install "$1" server; }
build_toxiproxy_cli() { toxiproxy_install "$1" cli; }

# toxiproxy's server and CLI share one module: the second build reuses the first's.
install_toxiproxy() {
	build_tool toxiproxy-server "$TOXIPROXY_VERSION" "^toxiproxy-server version ${TOXIPROXY_VERSION#v}\$" build_toxiproxy_server 1 --version &&
		build_tool toxiproxy-cli "$TOXIPROXY_VERSION" "^toxiproxy-cli version ${TOXIPROXY_VERSION#v}\$" build_toxiproxy_cli 1 --version
}

build_staticcheck() {
	go_install "$1" "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
}

build_workflowcheck() {
	go_install "$1" "go.temporal.io/sdk/contrib/tools/workflowcheck@$WORKFLOWCHECK_VERSION"
}

# The linters build from their own modules, one after the other (they share
# golang.org/x/tools); staticcheck reports "staticcheck 2026.2.2 (0.8.2)",
# workflowcheck no version of its own, so its module version is read.
install_linters() {
	build_tool staticcheck "$STATICCHECK_VERSION" "\(${STATICCHECK_VERSION#v}\)\$" build_staticcheck 3 -version &&
		build_tool workflowcheck "$WORKFLOWCHECK_VERSION" \
			"mod[[:space:]]+go\.temporal\.io/sdk/contrib/tools/workflowcheck[[:space:]]+$WORKFLOWCHECK_VERSION([[:space:]]|\$)" \
			build_workflowcheck 2 go-module
}

# kwok_stages copies kwok's stage configs (fast node and pod lifecycles) next to
# its binary: the local platform passes them to kwok with --config.
kwok_stages() {
	local dir="$cache/kwok-$KWOK_VERSION/stages" src
	if [ ! -f "$dir/pod-ready.yaml" ]; then
		src=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
		[ -n "$src" ] || fail "could not download the kwok $KWOK_VERSION module for its stage configs"
		mkdir -p "$dir"
		cp "$src"/kustomize/stage/node/fast/node-initialize.yaml "$src"/kustomize/stage/node/heartbeat/node-heartbeat.yaml \
			"$src"/kustomize/stage/pod/fast/pod-*.yaml "$dir"/
		chmod u+w "$dir"/*.yaml
	fi
	ln -sfn "$dir" "$root/.infraflow/kwok-stages"
}

# The control plane builds one after another (they share most of the
# Kubernetes compile), beside the two CLI builds.
build_control_plane() {
	build_tool etcd "$ETCD_VERSION" "^etcd Version: ${ETCD_VERSION#v}\$" build_etcd 2 --version &&
		build_tool kube-apiserver "$KUBERNETES_VERSION" "^Kubernetes $KUBERNETES_VERSION\$" build_kube_apiserver 10 --version &&
		build_tool kube-controller-manager "$KUBERNETES_VERSION" "^Kubernetes $KUBERNETES_VERSION\$" build_kube_controller_manager 2 --version &&
		build_tool kube-scheduler "$KUBERNETES_VERSION" "^Kubernetes $KUBERNETES_VERSION\$" build_kube_scheduler 2 --version &&
		build_tool kwok "$KWOK_VERSION" "$KWOK_VERSION" build_kwok 3 --version &&
		kwok_stages
}

# The provider is this repository's own code: its cache key is a hash of its
# sources, so an edit rebuilds it and an unchanged tree reuses the build.
install_provider() {
	local src="$root/stacks/local/provider" hash dir bin log plugin
	hash=$(cd "$src" && find . -name '*.go' -o -name go.mod -o -name go.sum | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
	dir="$cache/pulumi-resource-infraflow-$hash"
	bin="$dir/pulumi-resource-infraflow"
	log="$dir.build.log"
	if [ ! -x "$bin" ]; then
		say "pulumi-resource-infraflow (the local stack's provider): building; a cold build takes about 3 minutes (log: $log)"
		mkdir -p "$dir"
		(cd "$src" && go build -ldflags "-X main.Version=$PROVIDER_VERSION" -o "$bin.partial" .) >"$log" 2>&1 \
			|| { tail -n 15 "$log" >&2; fail "building pulumi-resource-infraflow failed" "$retry" "$log"; }
		mv "$bin.partial" "$bin"
	fi
	plugin="${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-infraflow-v$PROVIDER_VERSION/pulumi-resource-infraflow"
	if ! cmp -s "$bin" "$plugin"; then
		"$bindir/pulumi" plugin install resource infraflow "$PROVIDER_VERSION" --file "$bin" --reinstall >"$log.install" 2>&1 \
			|| fail "installing pulumi-resource-infraflow into the Pulumi plugin cache failed (see $log.install)"
	fi
	ok "pulumi-resource-infraflow $PROVIDER_VERSION (plugin cache: ${plugin%/*})"
}

started=$SECONDS
if [ "${1:-}" = lint ]; then
	say "infraflow linters (cache: $cache, links: $bindir)"
	install_linters
	exit
fi
say "infraflow tools (cache: $cache, links: $bindir)"
install_apt_packages
# The two builds share little, and side by side on 2 cores they finish in about
# the time of the longer one alone; each reports its own failure.
build_tool temporal "$TEMPORAL_CLI_VERSION" "^temporal version ${TEMPORAL_CLI_VERSION#v} " build_temporal_cli 8 --version &
temporal_build=$!
build_tool pulumi "$PULUMI_VERSION" "^$PULUMI_VERSION\$" build_pulumi_cli 10 version &
pulumi_build=$!
build_control_plane &
control_plane_build=$!
install_linters &
linters_build=$!
install_toxiproxy &
toxiproxy_build=$!
failed=0
wait $temporal_build || failed=1
wait $pulumi_build || failed=1
wait $control_plane_build || failed=1
wait $linters_build || failed=1
wait $toxiproxy_build || failed=1
[ $failed -eq 0 ] || exit 1
# Needs the pulumi CLI to install the plugin.
install_provider
say "tools ready in $((SECONDS - started)) s; add $bindir to PATH to use them directly"
