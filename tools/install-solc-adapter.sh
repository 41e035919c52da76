#!/usr/bin/env bash
# Installs the solc-js adapter as py-solc-x's binary for the pinned compiler version, so
# brownie and py-solc-x compile offline. Usage: tools/install-solc-adapter.sh <binary-folder>
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
folder="${1:?binary folder}"
version="$(node -e "console.log(require('$here/../node_modules/solc/package.json').version)")"
mkdir -p "$folder"
target="$folder/solc-v$version"
cat > "$target" <<SH
#!/usr/bin/env bash
exec node "$here/solc-adapter.js" "\$@"
SH
chmod +x "$target"
"$target" --version | grep -q "Version: $version" || { echo "solc adapter failed" >&2; exit 1; }
echo "$target"
