#!/usr/bin/env bash
# Re-create the vendored front-end assets used by folium maps (see README.md).
#
# Every package is fetched with `npm pack NAME@VERSION` from the npm registry, its
# tarball integrity is checked against the pinned value below, and only the files that
# the pages actually load (plus each licence) are copied next to this script.
#
# Usage: bash geoservice/web/static/vendor/fetch.sh
# Needs: npm, tar, python3 (only to read `npm pack --json`). Not run by the tests.
set -euo pipefail

DEST="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# spec|integrity (sha512 as reported by `npm pack --json`)
PACKAGES=(
  "leaflet@1.9.3|sha512-iB2cR9vAkDOu5l3HAay2obcUHZ7xwUBBjph8+PGtmW/2lYhbLizWtG7nTeYht36WfOslixQF9D/uSIzhZgGMfQ=="
  "jquery@3.7.1|sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizgkpLfg=="
  "bootstrap@5.2.2|sha512-dEtzMTV71n6Fhmbg4fYJzQsw1N29hJKO1js5ackCgIpDcGid2ETMGC6zwSYw09v05Y+oRdQ9loC54zB1La3hHQ=="
  "@fortawesome/fontawesome-free@6.2.0|sha512-CNR7qRIfCwWHNN7FnKUniva94edPdyQzil/zCwk3v6k4R6rR2Fr8i4s3PM7n/lyfPA6Zfko9z5WDzFxG9SW1uQ=="
  "drmonty-leaflet-awesome-markers@2.0.2|sha512-g508pdnnHQr9l4kU6McvJzcSd0w1FvHFlZZCYc4oT+zjwYJi1qtj0fFBFEWMKoNfHK4UcBya1eccyjKfu4chjQ=="
  "leaflet.markercluster@1.1.0|sha512-eI+XkCiLiHwCC3uZ4/n4+Vq3rXcqEHN2lhHRVG1WVziy/3Q0TTipWkzEa1zO0dKZI2AnI5ppFDWrOjnQ7MJLKQ=="
  "leaflet.fullscreen@3.0.0|sha512-81wWSUXz1ZtdneR0v5eJDWXUSx+Zo5J50WXWeydG/UcILfIEAgz/iOjZSi3p00Z9MJ/FC/P5i3CgdYuEAos0yQ=="
  "leaflet.locatecontrol@0.66.2|sha512-33xCfRydyjLfh9nGvf4kSTM0tA1EFFgM0z4uj75QkUwIc9cz0vJqWABsyDirLm1GBKeEr8/krcnc10X1YuK7oA=="
  "leaflet.featuregroup.subgroup@1.0.2|sha512-9nCVg8nUe686+BtPbUT7ALOe/IA+8Mum+rkA8pfPpCkH0WvKevRrH+JMcMTjAoNQKVI0uxrWrLV5w298SS3ESA=="
)

# fetch SPEC INTEGRITY: npm pack into $WORK, verify, unpack into $WORK/<spec>/package
fetch() {
  local spec="$1" want="$2" meta file got
  meta="$(cd "$WORK" && npm pack "$spec" --json --silent)"
  file="$(printf '%s' "$meta" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["filename"])')"
  got="$(printf '%s' "$meta" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["integrity"])')"
  if [[ "$got" != "$want" ]]; then
    echo "integrity mismatch for $spec: got $got, want $want" >&2
    exit 1
  fi
  mkdir -p "$WORK/$spec"
  tar -xzf "$WORK/$file" -C "$WORK/$spec"
}

for entry in "${PACKAGES[@]}"; do
  fetch "${entry%%|*}" "${entry#*|}"
done

src() { printf '%s/%s/package' "$WORK" "$1"; }

# Start from a clean slate, but keep README.md and this script.
for d in leaflet jquery bootstrap fontawesome awesome-markers markercluster fullscreen \
  locatecontrol featuregroup-subgroup folium; do
  rm -rf "${DEST:?}/$d"
done

# leaflet: leaflet.css references images/*.png relative to itself.
S="$(src leaflet@1.9.3)"
mkdir -p "$DEST/leaflet/images"
cp "$S/dist/leaflet.js" "$S/dist/leaflet.css" "$S/LICENSE" "$DEST/leaflet/"
cp "$S"/dist/images/*.png "$DEST/leaflet/images/"

# jquery
S="$(src jquery@3.7.1)"
mkdir -p "$DEST/jquery"
cp "$S/dist/jquery.min.js" "$S/LICENSE.txt" "$DEST/jquery/"

# bootstrap (the CSS references no external files)
S="$(src bootstrap@5.2.2)"
mkdir -p "$DEST/bootstrap"
cp "$S/dist/js/bootstrap.bundle.min.js" "$S/dist/css/bootstrap.min.css" "$S/LICENSE" \
  "$DEST/bootstrap/"

# Font Awesome: css/all.min.css loads ../webfonts/*.{woff2,ttf}
S="$(src @fortawesome/fontawesome-free@6.2.0)"
mkdir -p "$DEST/fontawesome/css" "$DEST/fontawesome/webfonts"
cp "$S/css/all.min.css" "$DEST/fontawesome/css/"
cp "$S"/webfonts/*.woff2 "$S"/webfonts/*.ttf "$DEST/fontawesome/webfonts/"
cp "$S/LICENSE.txt" "$DEST/fontawesome/"

# Leaflet.awesome-markers: the CSS uses images/markers-{soft,shadow}{,@2x}.png
S="$(src drmonty-leaflet-awesome-markers@2.0.2)"
mkdir -p "$DEST/awesome-markers/images"
cp "$S/js/leaflet.awesome-markers.js" "$S/css/leaflet.awesome-markers.css" \
  "$DEST/awesome-markers/"
cp "$S"/css/images/markers-soft*.png "$S"/css/images/markers-shadow*.png \
  "$DEST/awesome-markers/images/"
# The npm package ships no licence file; its package.json declares MIT (upstream
# lvoogdt/Leaflet.awesome-markers) and the JS header names the author.
cat >"$DEST/awesome-markers/LICENSE" <<'EOF'
Leaflet.awesome-markers 2.0.2 (npm: drmonty-leaflet-awesome-markers)
The npm package ships no licence file; its package.json declares the MIT licence of
https://github.com/lvoogdt/Leaflet.awesome-markers and the source header reads
"(c) 2012-2013, Lennard Voogdt". Standard MIT text follows.

The MIT License (MIT)

Copyright (c) 2012-2013 Lennard Voogdt

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of
the Software, and to permit persons to whom the Software is furnished to do so,
subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS
FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
EOF

# Leaflet.markercluster
S="$(src leaflet.markercluster@1.1.0)"
mkdir -p "$DEST/markercluster"
cp "$S/dist/leaflet.markercluster.js" "$S/dist/MarkerCluster.css" \
  "$S/dist/MarkerCluster.Default.css" "$S/MIT-LICENCE.txt" "$DEST/markercluster/"

# leaflet.fullscreen: 3.0.0 ships no .min.js (folium's CDN URL is a jsDelivr
# auto-minified file), so the plain Control.FullScreen.js is used.
S="$(src leaflet.fullscreen@3.0.0)"
mkdir -p "$DEST/fullscreen"
cp "$S/Control.FullScreen.js" "$S/Control.FullScreen.css" "$S/icon-fullscreen.svg" \
  "$S/LICENSE" "$DEST/fullscreen/"

# leaflet.locatecontrol
S="$(src leaflet.locatecontrol@0.66.2)"
mkdir -p "$DEST/locatecontrol"
cp "$S/dist/L.Control.Locate.min.js" "$S/dist/L.Control.Locate.min.css" "$S/LICENSE" \
  "$DEST/locatecontrol/"

# folium's leaflet.awesome.rotate.min.css is not shipped in the folium wheel (folium
# loads it from its GitHub repo via a CDN). It only defines .fa-rotate-1 .. .fa-rotate-360,
# the classes folium.Icon(angle=N) adds as extra_classes; regenerate the same rules.
mkdir -p "$DEST/folium"
{
  printf '/* Equivalent of folium/templates/leaflet.awesome.rotate.min.css (folium, MIT). '
  printf 'Generated by fetch.sh. */\n'
  for i in $(seq 1 360); do
    printf '.fa-rotate-%d{transform:rotate(%ddeg)}' "$i" "$i"
  done
  printf '\n'
} >"$DEST/folium/leaflet.awesome.rotate.min.css"

echo "vendor assets written to $DEST ($(du -sh "$DEST" | cut -f1))"

# leaflet.featuregroup.subgroup (BSD-2-Clause)
S="$(src leaflet.featuregroup.subgroup@1.0.2)"
mkdir -p "$DEST/featuregroup-subgroup"
cp "$S/dist/leaflet.featuregroup.subgroup.js" "$S/LICENSE" "$DEST/featuregroup-subgroup/"
