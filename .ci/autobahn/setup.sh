#!/usr/bin/env bash
# Installs wstest (Autobahn|Testsuite) into $AUTOBAHN_HOME (default ~/.cache/parley/autobahn).
#
# wstest runs on Python 2.7 only, which Debian 12 no longer ships. So: download Debian 11's
# python2.7 packages with apt (a private apt configuration: nothing is installed system-wide),
# unpack them into $AUTOBAHN_HOME/python2.7, make a virtual environment on that interpreter
# (virtualenv 20.21.1, the last release that targets 2.7) and pip-install the pinned packages.
# Needs: apt-get (root), python3 with venv, gcc (for wsaccel, optional). Idempotent.
# Environment: AUTOBAHN_HOME; AUTOBAHN_DEBIAN_MIRROR (default: the Debian mirror of apt's sources).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
home=${AUTOBAHN_HOME:-$HOME/.cache/parley/autobahn}
mkdir -p "$home" && home=$(cd "$home" && pwd)
if "$home/bin/wstest" --autobahnversion >/dev/null 2>&1; then
  echo "autobahn: wstest already installed at $home/bin/wstest"; exit 0
fi
echo "autobahn: installing wstest into $home"

# The first Debian archive URL in apt's sources (deb822 "URIs:" or one-line "deb URL ...").
mirror=${AUTOBAHN_DEBIAN_MIRROR:-$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
  | sed -n -e 's/^URIs:[[:space:]]*//p' -e 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]*\)\{0,1\}//p' \
  | tr ' ' '\n' | grep -m1 -E '^https?://.*/debian/?$' || true)}
mirror=${mirror:-http://deb.debian.org/debian}

apt_dir=$home/apt
rm -rf "$apt_dir" && mkdir -p "$apt_dir/lists/partial" "$apt_dir/debs"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bullseye main" > "$apt_dir/sources.list"
apt_options=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=-"
             -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
             -o "APT::Sandbox::User=root")
apt-get "${apt_options[@]}" -qq update
(cd "$apt_dir/debs" && apt-get "${apt_options[@]}" -qq download \
  python2.7 python2.7-minimal libpython2.7-minimal libpython2.7-stdlib libssl1.1 libffi7 \
  python2.7-dev libpython2.7-dev)
python=$home/python2.7
rm -rf "$python"
for deb in "$apt_dir"/debs/*.deb; do dpkg-deb -x "$deb" "$python"; done
libs=$python/usr/lib/x86_64-linux-gnu
LD_LIBRARY_PATH=$libs "$python/usr/bin/python2.7" -c 'import ssl, ctypes, sqlite3'

# A Python 3 venv only to run virtualenv, which builds the 2.7 environment.
python3 -m venv "$home/virtualenv"
"$home/virtualenv/bin/pip" install -q 'virtualenv==20.21.1'
rm -rf "$home/env"
LD_LIBRARY_PATH=$libs "$home/virtualenv/bin/virtualenv" -q -p "$python/usr/bin/python2.7" "$home/env"

export LD_LIBRARY_PATH=$libs PYTHONWARNINGS=ignore
pip=("$home/env/bin/pip" install -q --disable-pip-version-check --no-warn-script-location)
"${pip[@]}" -r "$here/requirements-py27.txt"
"${pip[@]}" --no-deps 'autobahntestsuite==25.10.1'
# wsaccel does the masking and UTF-8 checks in C: the 9.* cases take seconds instead of minutes.
CFLAGS="-I$python/usr/include/python2.7 -I$python/usr/include" "${pip[@]}" 'wsaccel==0.6.6' \
  || echo "autobahn: wsaccel did not build; wstest works without it, only slower" >&2

mkdir -p "$home/bin"
printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" exec "%s" "$@"\n' "$libs" "$home/env/bin/wstest" > "$home/bin/wstest"
chmod +x "$home/bin/wstest"
"$home/bin/wstest" --autobahnversion
rm -rf "$apt_dir" "$home/virtualenv"
echo "autobahn: wstest installed at $home/bin/wstest"
