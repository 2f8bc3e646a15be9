# shellcheck shell=bash
# need_packages PKG...: installs the Debian packages not installed yet when root; otherwise names
# them so an admin can. Sourced by the deploy/local scripts, which define log and die.
# NO_RECOMMENDS=1 need_packages PKG...: without their recommended packages (prometheus would
# otherwise bring a node exporter, SNMP and IPMI tools).
need_packages() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]]; then
    die "missing Debian packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}"
  fi
  log "installing ${missing[*]} from Debian packages"
  apt-get update -qq >/dev/null
  local extra=()
  [[ ${NO_RECOMMENDS:-0} == 1 ]] && extra=(--no-install-recommends)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${extra[@]}" "${missing[@]}" >/dev/null
}
